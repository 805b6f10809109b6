#pragma once

// nlohmann's exception text for people: without its "[json.exception.parse_error.101] " prefix,
// e.g. "number overflow parsing '1e400'" or "parse error at line 1, column 5: ...".

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace fetchd {

inline std::string json_error_message(const nlohmann::json::exception& error) {
  std::string_view text = error.what();
  if (const auto end = text.find("] ");
      !text.empty() && text[0] == '[' && end != std::string_view::npos)
    text.remove_prefix(end + 2);
  return std::string(text);
}

}  // namespace fetchd
