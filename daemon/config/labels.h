#pragma once

// Label maps (a target's `labels`, `settings.instance_labels`), read and validated the same way
// (internal to the loader): they become Prometheus labels, so their names follow Prometheus' rule
// and may not take the names fetchd's own series use.

#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "config/checker.h"

namespace fetchd::config {

// [a-zA-Z_][a-zA-Z0-9_]*, at most 64 bytes, not starting with "__" (reserved by Prometheus).
bool is_label_name(std::string_view name);
// The label names of fetchd's own series: name, phase, version, outcome, state, le.
bool is_reserved_label(std::string_view name);

// Reads an object of label names to string values (at most 256 characters each) into `labels`,
// each member replacing the one of the same name; errors name the member.
void read_label_map(Checker& check, const nlohmann::json& member, const std::string& at,
                    std::map<std::string, std::string>& labels);

}  // namespace fetchd::config
