#pragma once

// The `label` argument of list and watch: an object of label names to values, every one of which
// a target's labels must hold.

#include <map>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "common/expected.h"

namespace fetchd::control {

using LabelFilter = std::map<std::string, std::string>;

// The error is bad_request's message.
Expected<LabelFilter> parse_label_filter(const nlohmann::json& value);
bool matches(const LabelFilter& filter, const std::map<std::string, std::string>& labels);

}  // namespace fetchd::control
