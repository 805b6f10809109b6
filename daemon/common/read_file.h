#pragma once

// A whole file as text, for inputs read once (the configuration and its drop-ins).

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/expected.h"

namespace fetchd {

// Bounded so that a runaway file is an error, not an allocation of its size.
inline constexpr std::size_t kMaxReadFileBytes = std::size_t{64} * 1024 * 1024;

// The error is strerror's text ("No such file or directory") or "larger than 64 MiB".
inline Expected<std::string> read_file(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rbe");
  if (file == nullptr)
    return Error{std::strerror(errno)};
  std::string text;
  std::array<char, 65536> buffer{};
  std::size_t got = 0;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) {
    text.append(buffer.data(), got);
    if (text.size() > kMaxReadFileBytes) {
      std::fclose(file);
      return Error{"larger than 64 MiB"};
    }
  }
  const bool failed = std::ferror(file) != 0;
  const int saved = errno;
  std::fclose(file);
  if (failed)
    return Error{std::strerror(saved)};
  return text;
}

}  // namespace fetchd
