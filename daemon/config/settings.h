#pragma once

// Reading the `settings` object (internal to the loader).

#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "config/checker.h"
#include "config/config.h"

namespace fetchd::config {

// The keys of `settings`, in the order the unknown-key message lists them.
std::span<const KeyRule<Settings>> settings_keys();

// Each member of `value` replaces the one in `settings`.
void read_settings(Checker& check, const nlohmann::json& value, const std::string& pointer,
                   Settings& settings);

}  // namespace fetchd::config
