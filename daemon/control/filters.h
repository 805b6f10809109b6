#pragma once

// The arguments that select targets and events: `label` of list and watch (an object of label
// names to values, every one of which a target's labels must hold), and the whole of watch's
// args. Values in, a filter or bad_request's message out; no sockets, no targets.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/expected.h"

namespace fetchd::control {

using LabelFilter = std::map<std::string, std::string>;

Expected<LabelFilter> parse_label_filter(const nlohmann::json& value);
bool matches(const LabelFilter& filter, const std::map<std::string, std::string>& labels);

enum class WatchKind : std::uint8_t { result, state, added, removed, reload };
inline constexpr std::size_t kWatchKinds = 5;
// "result", "state", "added", "removed", "reload": the names in args and in the events.
std::string_view to_string(WatchKind kind);

struct WatchFilter {
  std::vector<std::string> targets{};  // empty: every target
  LabelFilter labels{};                // every key/value must match
  std::array<bool, kWatchKinds> kinds{true, true, true, true, true};
  bool wants(WatchKind kind) const { return kinds[static_cast<std::size_t>(kind)]; }
};

// The args of `watch`: {"targets": [NAME...], "label": {KEY: VALUE}, "events": [KIND...]}, each
// optional (the command table refuses other keys).
Expected<WatchFilter> parse_watch_filter(const nlohmann::json& args);

}  // namespace fetchd::control
