#pragma once

// The top-level `alerts` object of the configuration (internal to the loader): where notifications
// of state changes go. For now Prometheus Alertmanager (`alerts.alertmanager`); each file's object
// replaces the one of the files read before it.

#include <string>

#include <nlohmann/json.hpp>

#include "config/checker.h"
#include "config/config.h"

namespace fetchd::config {

void read_alerts(Checker& check, const nlohmann::json& member, const std::string& at,
                 AlertsConfig& alerts);

}  // namespace fetchd::config
