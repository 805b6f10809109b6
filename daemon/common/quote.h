#pragma once

// Text from outside (configuration values, response bytes, request bytes) quoted for messages and
// log lines.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace fetchd {

// `text` as a JSON string: control characters escaped and invalid UTF-8 replaced, so that a
// response's bytes cannot forge a log line.
inline std::string quote(std::string_view text) {
  using nlohmann::json;
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

// A peer's bytes for a parser's error detail: quoted, printable ASCII only (others as \xNN,
// DEL included, which JSON leaves alone), cut after 64 bytes with "...", so a detail is always
// small and cannot forge a log line.
inline std::string quote_bytes(std::string_view text) {
  constexpr std::size_t kMaxQuoted = 64;
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : text.substr(0, kMaxQuoted)) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  out += '"';
  if (text.size() > kMaxQuoted)
    out += "...";
  return out;
}

}  // namespace fetchd
