#pragma once

// Reading targets and the defaults they inherit (internal to the loader). Both take the same keys:
// the defaults are a target without a name and a URL.

#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "config/checker.h"
#include "config/config.h"

namespace fetchd::config {

// A target, or the defaults, whose members are being read.
struct TargetBeingRead {
  TargetConfig& target;
  bool is_defaults = false;  // `name` and `url` are refused
  // Sent through the control socket: `body_file` is refused, so that a client cannot make the
  // daemon read a file of its disk and send it to a URL of the client's choosing.
  bool from_control = false;
};

// The keys of a target object and of `defaults`, in the order the unknown-key message lists them.
std::span<const KeyRule<TargetBeingRead>> target_keys();

// One request header `name: value` (a target's, a webhook's), checked as a request header; one of
// the same name read before is replaced. Errors are placed at `at`.
void read_header(Checker& check, const std::string& at, const std::string& name,
                 const nlohmann::json& value, http::Headers& headers);

// The keys of a target's `tls` object.
std::span<const KeyRule<http::TlsOptions>> tls_keys();

// Merges the members of `value` over `defaults` (see the merge rule in loader.h).
void read_defaults(Checker& check, const nlohmann::json& value, const std::string& pointer,
                   Defaults& defaults);

// A target entry (URL string or object) over `defaults`, found at `pointer` of the checker's file
// (or, `from_control`, sent through the control socket); nullopt after errors.
std::optional<TargetConfig> read_target_entry(Checker& check, const nlohmann::json& value,
                                              const Defaults& defaults, const std::string& pointer,
                                              bool from_control = false);

}  // namespace fetchd::config
