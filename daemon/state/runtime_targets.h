#pragma once

// The persisted runtime targets: targets added through the control socket, kept in the state
// directory (default /var/lib/fetchd/targets.json) and loaded at start.
//
// Each target is stored as the raw JSON object the control socket's `add` accepted, after it was
// validated; this module does not know the target schema. The daemon validates what load() returns
// with the same config code as the config files (the schema may have grown since the file was
// written), and decides what to do with a target that fails or whose name a config file now uses.
//
// The document, one target per line so that it greps and diffs well:
//   {
//     "version": 1,
//     "targets": [
//       {"name":"a","url":"https://a.example/"},
//       {"name":"b","url":"https://b.example/"}
//     ]
//   }
// Any other version, a missing key, an unknown top-level key or a non-object target is an error.

#include <filesystem>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/expected.h"

namespace fetchd::state {

class RuntimeTargetsFile {
 public:
  static constexpr int kFormatVersion = 1;

  explicit RuntimeTargetsFile(std::filesystem::path path);

  // Reads the targets, in the order they were saved. First removes temp files a killed writer left
  // behind (ignoring failures to: they only take space). A missing file (or state directory) is an
  // empty list. Anything else that keeps the file from being read or understood is an Error whose
  // message starts with the file's path; for a JSON syntax error it gives the line and column, for
  // a document error the JSON pointer.
  Expected<std::vector<nlohmann::json>> load() const;

  // Replaces the file atomically (write_file_atomically): after a crash at any moment the file is
  // either the previous document or this one. Creates the state directory (mode 0750) if missing.
  // Returns std::errc::invalid_argument if a target is not an object or holds a string that is not
  // valid UTF-8 (nothing is written then), std::errc::file_too_large if the document would exceed
  // what load() accepts, or the error of the failing system call.
  //
  // Blocking: this runs on the event loop thread and waits for two fsyncs (file and directory),
  // typically a few milliseconds on a local disk, more on a busy or networked one. That is
  // acceptable because it happens only when the runtime target set changes (add/remove through
  // the control socket, or a reload dropping a runtime target), never per fetch, and the file is
  // small (only runtime targets; about 100 bytes per target).
  std::error_code save(const std::vector<nlohmann::json>& targets) const;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace fetchd::state
