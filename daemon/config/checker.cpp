#include "config/checker.h"

#include <algorithm>

#include "common/did_you_mean.h"
#include "common/quote.h"
#include "config/duration.h"

namespace fetchd::config {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;

bool has_control_char(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

bool is_hidden_key(std::string_view name) {
  return name.starts_with('_') || name.starts_with('$');
}

}  // namespace

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0)
    out += ":" + std::to_string(line) + ":" + std::to_string(column);
  if (!out.empty())
    out += ": ";
  if (!pointer.empty())
    out += pointer + ": ";
  return out + message;
}

std::string found(const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      return value.empty() ? "an empty object" : "an object";
    case json::value_t::array:
      return value.empty() ? "an empty array" : "an array";
    case json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      if (text.size() <= 60)
        return quote(text);
      std::size_t cut = 57;
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;
      return quote(text.substr(0, cut)) + "...";
    }
    default:
      return value.dump();
  }
}

std::string unknown_key_message(std::string_view key, std::span<const std::string_view> names) {
  std::vector<std::string_view> shown;
  for (std::string_view candidate : names) {
    if (!is_hidden_key(candidate))
      shown.push_back(candidate);
  }
  if (const auto best = closest_name(key, shown))
    return "unknown key " + quote(key) + " (did you mean \"" + std::string(*best) + "\"?)";
  std::string list;
  for (std::string_view candidate : shown) {
    list += list.empty() ? "" : ", ";
    list += candidate;
  }
  return "unknown key " + quote(key) + " (expected one of: " + list + ")";
}

bool Checker::object(const json& value, const std::string& pointer) {
  if (value.is_object())
    return true;
  fail(pointer, "expected an object, found " + found(value));
  return false;
}

void Checker::comment(const json& value, const std::string& pointer) {
  const bool ok = value.is_string() ||
                  (value.is_array() && std::all_of(value.begin(), value.end(),
                                                   [](const json& v) { return v.is_string(); }));
  if (!ok)
    fail(pointer, "expected a string or an array of strings, found " + found(value));
}

std::optional<bool> Checker::boolean(const json& value, const std::string& pointer) {
  if (value.is_boolean())
    return value.get<bool>();
  fail(pointer, "expected true or false, found " + found(value));
  return std::nullopt;
}

const std::string* Checker::string(const json& value, const std::string& pointer,
                                   bool allow_empty) {
  if (!value.is_string()) {
    fail(pointer, "expected a string, found " + found(value));
    return nullptr;
  }
  const auto& text = value.get_ref<const std::string&>();
  if (!allow_empty && text.empty()) {
    fail(pointer, "expected a non-empty string, found \"\"");
    return nullptr;
  }
  if (has_control_char(text)) {
    fail(pointer, "expected a string without control characters, found " + found(value));
    return nullptr;
  }
  return &text;
}

std::optional<std::int64_t> Checker::integer(const json& value, const std::string& pointer,
                                             std::int64_t low, std::int64_t high) {
  std::optional<std::int64_t> number;
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    number = u > static_cast<std::uint64_t>(high) ? high + 1 : static_cast<std::int64_t>(u);
  } else if (value.is_number_integer()) {
    number = value.get<std::int64_t>();
  }
  if (!number || *number < low || *number > high) {
    fail(pointer, "expected an integer from " + std::to_string(low) + " to " +
                      std::to_string(high) + ", found " + found(value));
    return std::nullopt;
  }
  return number;
}

std::optional<milliseconds> Checker::duration(const json& value, const std::string& pointer,
                                              milliseconds low, milliseconds high) {
  if (!value.is_string()) {
    fail(pointer, "expected a duration like \"30s\", found " + found(value));
    return std::nullopt;
  }
  auto parsed = parse_duration(value.get_ref<const std::string&>());
  if (!parsed) {
    fail(pointer,
         "expected a duration like \"30s\", found " + found(value) + ": " + parsed.error().message);
    return std::nullopt;
  }
  if (*parsed < low || *parsed > high) {
    fail(pointer, "expected a duration from " + format_duration(low) + " to " +
                      format_duration(high) + ", found " + found(value));
    return std::nullopt;
  }
  return *parsed;
}

std::optional<std::size_t> Checker::choice(const json& value, const std::string& pointer,
                                           std::initializer_list<std::string_view> choices) {
  if (value.is_string()) {
    const auto* const match = std::find(choices.begin(), choices.end(),
                                        std::string_view(value.get_ref<const std::string&>()));
    if (match != choices.end())
      return static_cast<std::size_t>(match - choices.begin());
  }
  std::string list;
  std::size_t index = 0;
  for (std::string_view option : choices) {
    if (index > 0)
      list += index + 1 == choices.size() ? " or " : ", ";
    list += quote(option);
    ++index;
  }
  fail(pointer, "expected " + list + ", found " + found(value));
  return std::nullopt;
}

}  // namespace fetchd::config
