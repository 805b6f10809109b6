#pragma once

// Small files that must survive a crash at any moment: written whole to a temp file beside the
// target, fsynced, renamed over it, and the directory fsynced. A reader sees either the old file or
// the new one, never a mix, a truncation, or nothing (once the file has been written once).
//
// Assumes one writer per target file (the daemon; a second fetchd on the same state directory is
// refused by the control socket). Errors are returned as std::error_code (errno values); nothing
// here logs or throws.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <system_error>

namespace fetchd::state {

// Mode of files written by write_file_atomically: owner read/write only. Runtime targets can carry
// credentials (Authorization headers, tokens in URLs) and only the daemon reads the file; operators
// see targets through the control socket. The process umask can only narrow it.
inline constexpr mode_t kStateFileMode = 0600;

// Mode of directories created by ensure_directory (e.g. the state directory).
inline constexpr mode_t kStateDirectoryMode = 0750;

// Default bound for read_file: a state file larger than this is an error, not an allocation.
inline constexpr std::size_t kMaxStateFileBytes = std::size_t{64} << 20;  // 64 MiB

// Writes `contents` to `path` atomically and durably:
//   1. create "<name>.tmp.<pid>.<n>" in the same directory (O_CREAT|O_EXCL|O_CLOEXEC, mode 0600),
//   2. write all of it (short writes and EINTR handled), fsync it, close it (close errors count),
//   3. rename it over `path`, then fsync the directory so the rename itself is durable.
// On a failure before the rename the temp file is removed and `path` is untouched. A failure of the
// final directory fsync is returned too: the new contents are then in place but may not survive a
// power loss. The directory must exist (see ensure_directory).
std::error_code write_file_atomically(const std::filesystem::path& path, std::string_view contents);

// Reads a whole regular file into `contents` (replacing what it held). Returns
// std::errc::no_such_file_or_directory if it does not exist, std::errc::file_too_large if it is
// larger than `max_bytes` (checked before reading and while reading, so nothing big is allocated),
// std::errc::invalid_argument for something that is not a regular file (a FIFO is never opened for
// a blocking read), or the errno of the failing call. On error `contents` is left empty.
std::error_code read_file(const std::filesystem::path& path, std::string& contents,
                          std::size_t max_bytes = kMaxStateFileBytes);

// Removes temp files that write_file_atomically left for `path` when the process was killed
// mid-write ("<name>.tmp.*" regular files in the same directory). A missing directory is not an
// error. Must not run while another write of the same `path` is in progress (single writer).
// Returns the first error met; it keeps going past errors.
std::error_code remove_stale_temp_files(const std::filesystem::path& path);

// Creates `dir` and any missing parents with `mode` (narrowed by the umask), fsyncing each new
// directory's parent so the creation is durable. An existing directory is left as it is (its mode
// is not changed); an existing non-directory is std::errc::not_a_directory.
std::error_code ensure_directory(const std::filesystem::path& dir,
                                 mode_t mode = kStateDirectoryMode);

}  // namespace fetchd::state
