#pragma once

// A private directory (mode 0700) under $TMPDIR or /tmp, removed with everything in it on
// destruction.

#include <filesystem>
#include <string_view>

namespace fetchd::test {

class TempDir {
 public:
  // Throws std::system_error if the directory cannot be created.
  explicit TempDir(std::string_view prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes (or replaces) a file; throws std::runtime_error naming the file on failure.
void write_file(const std::filesystem::path& path, std::string_view contents);

}  // namespace fetchd::test
