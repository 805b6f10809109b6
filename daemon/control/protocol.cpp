#include "control/protocol.h"

#include <cstdint>

#include "common/json_error.h"

namespace fetchd::control {

namespace {

using nlohmann::json;

Failure bad_request(std::string message) {
  return Failure{std::string(code::bad_request), std::move(message), {}};
}

// Nesting depth of arrays and objects, counted outside strings; stops counting past `limit`.
std::size_t nesting_depth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit)
        return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

std::optional<std::size_t> invalid_utf8_at(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t code_point = 0;
    std::uint32_t minimum = 0;
    if ((lead & 0xE0) == 0xC0) {
      length = 2, code_point = lead & 0x1F, minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, code_point = lead & 0x0F, minimum = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, code_point = lead & 0x07, minimum = 0x10000;
    } else {
      return i;
    }
    if (size - i < length)
      return i;
    for (std::size_t k = 1; k < length; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80)
        return i;
      code_point = (code_point << 6) | (bytes[i + k] & 0x3F);
    }
    if (code_point < minimum || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return i;
    }
    i += length;
  }
  return std::nullopt;
}

Parsed parse_request(std::string_view line) {
  Parsed parsed;
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  if (const auto bad = invalid_utf8_at(line)) {
    parsed.error = bad_request("request is not valid UTF-8 (byte " + std::to_string(*bad) + ")");
    return parsed;
  }
  if (nesting_depth(line, kMaxRequestDepth) > kMaxRequestDepth) {
    parsed.error = bad_request("request nests arrays or objects deeper than " +
                               std::to_string(kMaxRequestDepth) + " levels");
    return parsed;
  }
  json document;
  try {
    document = json::parse(line);
  } catch (const json::exception& error) {
    // parse_error, and out_of_range for a number beyond double's range ("id": 1e400).
    parsed.error = bad_request("request is not JSON: " + json_error_message(error));
    return parsed;
  }
  if (!document.is_object()) {
    parsed.error = bad_request(std::string("expected a JSON object {\"cmd\": ...}, found ") +
                               (document.is_array() ? "an array" : document.type_name()));
    return parsed;
  }
  if (const auto id = document.find("id"); id != document.end())
    parsed.request.id = *id;
  for (const auto& [key, value] : document.items()) {
    if (key != "id" && key != "cmd" && key != "args") {
      parsed.error = bad_request("unknown key " + dump(key) + " (a request has id, cmd and args)");
      return parsed;
    }
  }
  const auto cmd = document.find("cmd");
  if (cmd == document.end() || !cmd->is_string()) {
    parsed.error =
        bad_request(cmd == document.end() ? "missing \"cmd\""
                                          : "\"cmd\" must be a string, found " + dump(*cmd));
    return parsed;
  }
  parsed.request.cmd = cmd->get<std::string>();
  if (const auto args = document.find("args"); args != document.end()) {
    if (!args->is_object()) {
      parsed.error = bad_request("\"args\" must be an object, found " + dump(*args));
      return parsed;
    }
    parsed.request.args = std::move(*args);
  }
  return parsed;
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string format_result(const json& id, const json& result) {
  return R"({"id":)" + dump(id) + R"(,"ok":true,"result":)" + dump(result) + "}\n";
}

std::string format_failure(const json& id, const Failure& failure) {
  json error = {{"code", failure.code}, {"message", failure.message}};
  if (!failure.details.empty())
    error["details"] = failure.details;
  return R"({"id":)" + dump(id) + R"(,"ok":false,"error":)" + dump(error) + "}\n";
}

}  // namespace fetchd::control
