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

#include <array>
#include <chrono>
#include <cstddef>
#include <string_view>
#include <utility>

#include <nlohmann/json_fwd.hpp>

#include "results/history.h"
#include "results/target_results.h"
#include "results/uptime.h"

namespace fetchd::results {

nlohmann::json to_json(const CompactEntry& entry);
nlohmann::json to_json(const Latency& latency);
nlohmann::json to_json(const Summary& summary);
nlohmann::json to_json(const FullResult& full);
// `show`: the summary, the latest result and latest failure in full, and the newest `recent`
// history entries.
nlohmann::json to_json(const TargetResults& results, std::size_t recent);

// The windows `show` reports, by name, and how far back it lists outages.
inline constexpr std::array<std::pair<std::string_view, std::chrono::hours>, 4> kUptimeSpans{{
    {"1h", std::chrono::hours(1)},
    {"24h", std::chrono::hours(24)},
    {"7d", std::chrono::hours(7 * 24)},
    {"30d", std::chrono::hours(30 * 24)},
}};
inline constexpr std::chrono::hours kOutageSpan{7 * 24};

// UptimeWindow: {"ratio": 0.9995 | null, "attempts", "successes" (rounded: a window covers part
//               of its oldest bucket), "latency_mean_us" | null, "latency_max_us" | null}
nlohmann::json to_json(const UptimeWindow& window);
// `show`: {"uptime": {"1h": UptimeWindow, "24h", "7d", "30d"},
//          "outages": [{"from", "to" | null (still down), "duration_us", "reason"}, ...]}, the
//          outages of the last 7 days, oldest first.
nlohmann::json uptime_json(const Uptime& uptime, std::chrono::system_clock::time_point now);

}  // namespace fetchd::results
