#pragma once

// Reading a target's `expect` object (internal to the loader).

#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "config/checker.h"
#include "config/config.h"

namespace fetchd::config {

// The keys of `expect`, in the order the unknown-key message lists them.
std::span<const KeyRule<Expectations>> expectation_keys();

// Merges the members of `value` over `expect`: `headers` key by key, the others replace.
void read_expectations(Checker& check, const nlohmann::json& value, const std::string& pointer,
                       Expectations& expect);

}  // namespace fetchd::config
