#include "config/labels.h"

#include <algorithm>
#include <array>

#include "common/quote.h"

namespace fetchd::config {

namespace {

constexpr std::size_t kMaxLabelName = 64;
constexpr std::size_t kMaxLabelValue = 256;
constexpr std::array<std::string_view, 6> kReserved = {"name",    "phase", "version",
                                                       "outcome", "state", "le"};

std::size_t code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace

bool is_label_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxLabelName || name.starts_with("__"))
    return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && (i == 0 || c < '0' || c > '9'))
      return false;
  }
  return true;
}

bool is_reserved_label(std::string_view name) {
  return std::find(kReserved.begin(), kReserved.end(), name) != kReserved.end();
}

void read_label_map(Checker& check, const nlohmann::json& member, const std::string& at,
                    std::map<std::string, std::string>& labels) {
  if (!check.object(member, at))
    return;
  for (const auto& [label, label_value] : member.items()) {
    const std::string label_at = at + pointer_token(label);
    if (!is_label_name(label)) {
      check.fail(label_at,
                 "expected a label name of letters, digits and '_' (at most 64, not starting "
                 "with a digit or \"__\"), found " +
                     quote(label));
      continue;
    }
    if (is_reserved_label(label)) {
      check.fail(label_at, "label " + quote(label) +
                               " is one of fetchd's own (name, phase, version, outcome, state, "
                               "le): choose another name");
      continue;
    }
    const std::string* text = check.string(label_value, label_at, true);
    if (text == nullptr)
      continue;
    if (code_points(*text) > kMaxLabelValue) {
      check.fail(label_at,
                 "expected at most 256 characters, found " + std::to_string(code_points(*text)));
      continue;
    }
    labels[label] = *text;
  }
}

}  // namespace fetchd::config
