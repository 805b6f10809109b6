#include "control/filters.h"

#include <algorithm>
#include <array>

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

namespace {

constexpr std::array<std::string_view, kWatchKinds> kKindNames{"result", "state", "added",
                                                               "removed", "reload"};

}  // namespace

std::string_view to_string(WatchKind kind) {
  return kKindNames[static_cast<std::size_t>(kind)];
}

Expected<WatchFilter> parse_watch_filter(const nlohmann::json& args) {
  WatchFilter filter;
  if (const auto targets = args.find("targets"); targets != args.end()) {
    if (!targets->is_array())
      return Error{"\"targets\" must be an array of names, found " + dump(*targets)};
    for (const auto& name : *targets) {
      if (!name.is_string())
        return Error{"\"targets\" must hold names (strings), found " + dump(name)};
      filter.targets.push_back(name.get<std::string>());
    }
  }
  if (const auto labels = args.find("label"); labels != args.end()) {
    auto parsed = parse_label_filter(*labels);
    if (!parsed)
      return parsed.error();
    filter.labels = std::move(*parsed);
  }
  if (const auto events = args.find("events"); events != args.end()) {
    std::string known;
    for (const auto name : kKindNames)
      known += (known.empty() ? "" : ", ") + std::string(name);
    if (!events->is_array() || events->empty())
      return Error{"\"events\" must be a non-empty array of " + known + ", found " + dump(*events)};
    filter.kinds.fill(false);
    for (const auto& event : *events) {
      const auto* const found = event.is_string() ? std::find(kKindNames.begin(), kKindNames.end(),
                                                              event.get<std::string>())
                                                  : kKindNames.end();
      if (found == kKindNames.end())
        return Error{"unknown event kind " + dump(event) + " in \"events\" (expected " + known +
                     ")"};
      filter.kinds[static_cast<std::size_t>(found - kKindNames.begin())] = true;
    }
  }
  return filter;
}

}  // namespace fetchd::control
