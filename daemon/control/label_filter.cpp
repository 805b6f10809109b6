#include "control/label_filter.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "control/protocol.h"

namespace fetchd::control {

Expected<LabelFilter> parse_label_filter(const nlohmann::json& value) {
  if (!value.is_object())
    return Error{"\"label\" must be an object, found " + dump(value)};
  LabelFilter filter;
  for (const auto& [key, wanted] : value.items()) {
    if (!wanted.is_string())
      return Error{R"("label" values must be strings; )" + dump(nlohmann::json(key)) + " is " +
                   dump(wanted)};
    filter.emplace(key, wanted.get<std::string>());
  }
  return filter;
}

bool matches(const LabelFilter& filter, const std::map<std::string, std::string>& labels) {
  return std::all_of(filter.begin(), filter.end(), [&](const auto& pair) {
    const auto found = labels.find(pair.first);
    return found != labels.end() && found->second == pair.second;
  });
}

}  // namespace fetchd::control
