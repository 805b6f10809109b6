#include "state/atomic_file.h"

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace fetchd::state {
namespace {

std::error_code last_error() {
  return {errno, std::generic_category()};
}

std::filesystem::path directory_of(const std::filesystem::path& path) {
  auto dir = path.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

std::string temp_prefix(const std::filesystem::path& path) {
  return path.filename().string() + ".tmp.";
}

// Owns a descriptor; close() reports the error for the one place where it matters.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  // Linux closes the descriptor even when close() fails with EINTR; the data was already fsynced
  // by then, so EINTR is not a lost write.
  std::error_code close() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 && errno != EINTR) {
      return last_error();
    }
    return {};
  }

 private:
  int fd_ = -1;
};

int open_retrying(const char* path, int flags, mode_t mode = 0) {
  int fd = -1;
  do {
    fd = ::open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

std::error_code write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return last_error();
    }
    if (n == 0) {  // not expected for a regular file; do not spin on it
      return std::make_error_code(std::errc::io_error);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

std::error_code fsync_retrying(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) {
      return last_error();
    }
  }
  return {};
}

std::error_code fsync_directory(const std::filesystem::path& dir) {
  Fd fd(open_retrying(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    return last_error();
  }
  auto ec = fsync_retrying(fd.get());
  // A few file systems cannot fsync a directory (EINVAL); there is nothing better to do on them.
  if (ec == std::errc::invalid_argument) {
    return {};
  }
  return ec;
}

// Creates the temp file with a name no other writer uses: pid plus a per-process counter, and
// O_EXCL to step over leftovers of an earlier process with the same pid (pid 1 in a container).
std::error_code create_temp_file(const std::filesystem::path& path, int& fd,
                                 std::filesystem::path& temp_path) {
  static std::atomic<unsigned long> counter{0};
  const auto prefix = directory_of(path) / temp_prefix(path);
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp_path = prefix;
    temp_path += std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
    fd = open_retrying(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY,
                       kStateFileMode);
    if (fd >= 0) {
      return {};
    }
    if (errno != EEXIST) {
      return last_error();
    }
  }
  return std::make_error_code(std::errc::file_exists);
}

}  // namespace

std::error_code write_file_atomically(const std::filesystem::path& path,
                                      std::string_view contents) {
  if (!path.has_filename()) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  int raw_fd = -1;
  std::filesystem::path temp_path;
  if (auto ec = create_temp_file(path, raw_fd, temp_path)) {
    return ec;
  }
  Fd fd(raw_fd);
  auto fail = [&](std::error_code ec) {
    if (fd.valid()) {
      (void)fd.close();
    }
    ::unlink(temp_path.c_str());  // best effort; a leftover is removed on the next load
    return ec;
  };
  if (auto ec = write_all(fd.get(), contents)) {
    return fail(ec);
  }
  if (auto ec = fsync_retrying(fd.get())) {
    return fail(ec);
  }
  if (auto ec = fd.close()) {
    return fail(ec);
  }
  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    return fail(last_error());
  }
  // The new contents are in place; this makes the rename itself survive a power loss.
  return fsync_directory(directory_of(path));
}

std::error_code read_file(const std::filesystem::path& path, std::string& contents,
                          std::size_t max_bytes) {
  contents.clear();
  // O_NONBLOCK so that opening a FIFO does not wait for a writer; it does nothing for regular
  // files.
  Fd fd(open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.valid()) {
    return last_error();
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return last_error();
  }
  if (S_ISDIR(st.st_mode)) {
    return std::make_error_code(std::errc::is_a_directory);
  }
  if (!S_ISREG(st.st_mode)) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  if (static_cast<std::uintmax_t>(st.st_size) > max_bytes) {
    return std::make_error_code(std::errc::file_too_large);
  }
  std::string data;
  data.reserve(static_cast<std::size_t>(st.st_size));
  std::array<char, std::size_t{64} * 1024> chunk;  // filled by read(2) before use
  for (;;) {
    const ssize_t n = ::read(fd.get(), chunk.data(), chunk.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return last_error();
    }
    if (n == 0) {
      break;
    }
    // The file may have grown since fstat.
    if (static_cast<std::size_t>(n) > max_bytes - data.size()) {
      return std::make_error_code(std::errc::file_too_large);
    }
    data.append(chunk.data(), static_cast<std::size_t>(n));
  }
  contents = std::move(data);
  return {};
}

std::error_code remove_stale_temp_files(const std::filesystem::path& path) {
  if (!path.has_filename()) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  const std::string prefix = temp_prefix(path);
  std::error_code ec;
  std::filesystem::directory_iterator it(directory_of(path), ec);
  if (ec) {
    return ec == std::errc::no_such_file_or_directory ? std::error_code() : ec;
  }
  std::error_code first_error;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) {
      return first_error ? first_error : ec;
    }
    const auto name = it->path().filename().string();
    if (!name.starts_with(prefix) || name.size() == prefix.size()) {
      continue;
    }
    std::error_code status_error;
    const auto status = it->symlink_status(status_error);
    if (status_error || !std::filesystem::is_regular_file(status)) {
      continue;  // only ever regular files are ours
    }
    if (::unlink(it->path().c_str()) != 0 && errno != ENOENT && !first_error) {
      first_error = last_error();
    }
  }
  if (ec && !first_error) {
    first_error = ec;
  }
  return first_error;
}

std::error_code ensure_directory(const std::filesystem::path& dir, mode_t mode) {
  if (dir.empty()) {
    return {};  // the current directory
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    return S_ISDIR(st.st_mode) ? std::error_code()
                               : std::make_error_code(std::errc::not_a_directory);
  }
  if (errno != ENOENT) {
    return last_error();
  }
  if (!dir.has_filename()) {  // "a/b/": create "a/b"
    return ensure_directory(dir.parent_path(), mode);
  }
  const auto parent = dir.parent_path();
  if (!parent.empty() && parent != dir) {
    if (auto ec = ensure_directory(parent, mode)) {
      return ec;
    }
  }
  if (::mkdir(dir.c_str(), mode) != 0) {
    if (errno != EEXIST) {
      return last_error();
    }
    // Created concurrently: fine if it is a directory.
    if (::stat(dir.c_str(), &st) != 0) {
      return last_error();
    }
    return S_ISDIR(st.st_mode) ? std::error_code()
                               : std::make_error_code(std::errc::not_a_directory);
  }
  return fsync_directory(parent.empty() ? std::filesystem::path(".") : parent);
}

}  // namespace fetchd::state
