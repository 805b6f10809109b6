#pragma once

// Text primitives of fetchctl's human output: latencies, ages, the daemon's times, aligned tables.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fetchd::ctl {

inline constexpr std::string_view kColourReset = "\033[0m";

// "0.43ms", "12.3ms", "1.25s".
std::string format_latency(std::int64_t micros);
// An uptime ratio as a percentage, rounded down: "100%" only when it is 1; "99.95%", "0.00%".
std::string format_uptime(double ratio);
// "just now", "12s ago", "5m12s ago", "1h ago", "2d3h ago"; "in 3s" for a time ahead of `now`
// (config::format_for_people in whole seconds).
std::string format_relative(std::chrono::system_clock::time_point then,
                            std::chrono::system_clock::time_point now);
// The daemon's RFC 3339 UTC times: "2026-11-25T14:15:48.123Z" (fraction optional).
std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view text);

struct Cell {
  std::string text{};
  std::string_view colour{};  // an ANSI SGR sequence or empty
};
struct Column {
  std::string_view title{};
  bool right = false;  // right-aligned (numbers)
};
// Columns two spaces apart, widths from the plain text (colour codes do not count), no trailing
// blanks.
std::string format_table(const std::vector<Column>& columns,
                         const std::vector<std::vector<Cell>>& rows);

}  // namespace fetchd::ctl
