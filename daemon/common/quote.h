#pragma once

// Text from outside (configuration values, response bytes) quoted for messages and log lines.

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

}  // namespace fetchd
