#pragma once

// Results as JSON for the control socket (list, show) and scripts. As in http/fetch_json.h: times
// are RFC 3339 UTC strings with milliseconds, durations integer microseconds in fields ending in
// _us, absent values null. Shapes:
//
// CompactEntry: {"time": "...Z", "outcome": "ok", "status": 200 | null,
//                "timings_us": {"dns", "connect", "tls_handshake", "first_byte", "total"}}
//                (each an integer or null, keys as in http::to_json)
// Summary:      {"state": "up", "state_since": "...Z", "consecutive_successes": 3,
//                "consecutive_failures": 0,
//                "totals": {"attempts", "successes", "failures", "cancelled", "skipped"},
//                "last_success": "...Z" | null, "last_failure": "...Z" | null,
//                "last": CompactEntry | null,
//                "latency_us": {"samples", "min", "p50", "p95", "max"} | null,
//                "down_after": 1, "up_after": 1, "history": {"size": 42, "length": 100}}
// FullResult:   {"outcome": "expectation", "ok": false, "reason": "...",
//                "failed_expectation": "..." | null, "fetch": http::to_json(FetchResult)}
// show:         {"summary": Summary, "latest": FullResult | null,
//                "latest_failure": FullResult | null, "recent": [CompactEntry, ...] (oldest first)}

#include <cstddef>

#include <nlohmann/json_fwd.hpp>

#include "results/history.h"
#include "results/target_results.h"

namespace fetchd::results {

nlohmann::json to_json(const CompactEntry& entry);
nlohmann::json to_json(const Latency& latency);
nlohmann::json to_json(const Summary& summary);
nlohmann::json to_json(const FullResult& full);
// `show`: the summary, the latest result and latest failure in full, and the newest `recent`
// history entries.
nlohmann::json to_json(const TargetResults& results, std::size_t recent);

}  // namespace fetchd::results
