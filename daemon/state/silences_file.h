#pragma once

// The persisted silences (alerts/silences.h): <state_dir>/silences.json, written whole and
// atomically on every change (a `silence`, an `unsilence`, an expiry) and read at start. The
// document is Silences::to_json's, one silence per line so that it greps and diffs well.

#include <filesystem>
#include <system_error>

#include "alerts/silences.h"
#include "common/expected.h"

namespace fetchd::state {

class SilencesFile {
 public:
  explicit SilencesFile(std::filesystem::path path);

  // The silences kept, expired ones included (the caller expires them). First removes temp files a
  // killed writer left behind. A missing file (or state directory) is no silences. Anything else
  // that keeps the file from being read or understood is an Error whose message starts with the
  // file's path and says what is wrong: the JSON syntax error with its line and column, or the
  // JSON pointer of a document error.
  Expected<alerts::Silences> load() const;

  // Replaces the file atomically (write_file_atomically), creating the state directory (mode
  // 0750) if missing. Returns std::errc::file_too_large if the document would exceed what load()
  // accepts, or the error of the failing system call. Blocking (two fsyncs), like the runtime
  // targets' file: it runs on the loop only when the silences change.
  std::error_code save(const alerts::Silences& silences) const;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace fetchd::state
