#pragma once

// FetchResult as JSON, for `fetchd once --json`, the control socket and scripts. Times are RFC 3339
// UTC strings; durations are integer microseconds (fields ending in _us); absent phases are null.

#include <nlohmann/json_fwd.hpp>

#include "http/fetch_result.h"

namespace fetchd::http {

nlohmann::json to_json(const FetchResult& result);
nlohmann::json to_json(const Hop& hop);
std::string format_utc(std::chrono::system_clock::time_point time);

}  // namespace fetchd::http
