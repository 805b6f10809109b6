#pragma once

// Error reporting for the loader (internal): the Checker, which collects ConfigErrors for one
// document and checks JSON values against the configuration's types, and the tables of keys that
// each object of the configuration accepts.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/json_text.h"
#include "config/loader.h"

namespace fetchd::config {

// What a value is, for "found ...": scalars as JSON (long strings shortened), containers by kind.
std::string found(const nlohmann::json& value);

// "unknown key \"methd\" (did you mean \"method\"?)", or with the list of `names` when none is
// close. Names starting with '_' or '$' are accepted but never suggested.
std::string unknown_key_message(std::string_view key, std::span<const std::string_view> names);

class Checker;

// One key an object accepts: how its value is read into `Value`, and what it means. An object's
// table is the only list of its keys, so that the accepted keys cannot drift from their parsers.
template <class Value>
struct KeyRule {
  std::string_view name;
  void (*read)(Checker& check, const nlohmann::json& member, const std::string& pointer,
               Value& into);
  std::string_view doc;
};

// Collects errors for one document (or one runtime target); pointers are absolute within it.
class Checker {
 public:
  Checker(std::vector<ConfigError>& errors, std::string file)
      : errors_(errors), file_(std::move(file)) {}

  void fail(const std::string& pointer, std::string message) {
    errors_.push_back({file_, pointer, 0, 0, std::move(message)});
  }

  const std::string& file() const { return file_; }
  std::size_t error_count() const { return errors_.size(); }

  // Reads each member of the object `value` by its rule in `rules`; `_comment` is accepted in
  // every object; any other key without a rule is an error. False (after an error) when `value`
  // is not an object.
  template <class Value>
  bool members(const nlohmann::json& value, const std::string& pointer,
               std::span<const KeyRule<Value>> rules, Value& into) {
    if (!object(value, pointer))
      return false;
    for (const auto& [key, member] : value.items()) {
      const std::string member_pointer = pointer + pointer_token(key);
      if (key == "_comment") {
        comment(member, member_pointer);
        continue;
      }
      const KeyRule<Value>* rule = find_rule(rules, key);
      if (rule == nullptr) {
        std::vector<std::string_view> names;
        for (const auto& each : rules)
          names.push_back(each.name);
        fail(member_pointer, unknown_key_message(key, names));
      } else {
        rule->read(*this, member, member_pointer, into);
      }
    }
    return true;
  }

  // For objects whose keys are data (headers, labels): only the type is checked here.
  bool object(const nlohmann::json& value, const std::string& pointer);
  void comment(const nlohmann::json& value, const std::string& pointer);
  std::optional<bool> boolean(const nlohmann::json& value, const std::string& pointer);
  // Null after an error: not a string, empty when `allow_empty` is false, or control characters.
  const std::string* string(const nlohmann::json& value, const std::string& pointer,
                            bool allow_empty);
  std::optional<std::int64_t> integer(const nlohmann::json& value, const std::string& pointer,
                                      std::int64_t low, std::int64_t high);
  std::optional<std::chrono::milliseconds> duration(const nlohmann::json& value,
                                                    const std::string& pointer,
                                                    std::chrono::milliseconds low,
                                                    std::chrono::milliseconds high);
  // One of `choices` (exact, case-sensitive); returns its index.
  std::optional<std::size_t> choice(const nlohmann::json& value, const std::string& pointer,
                                    std::initializer_list<std::string_view> choices);

 private:
  template <class Value>
  static const KeyRule<Value>* find_rule(std::span<const KeyRule<Value>> rules,
                                         std::string_view key) {
    for (const auto& rule : rules) {
      if (rule.name == key)
        return &rule;
    }
    return nullptr;
  }

  std::vector<ConfigError>& errors_;
  std::string file_;
};

}  // namespace fetchd::config
