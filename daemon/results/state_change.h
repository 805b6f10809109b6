#pragma once

// Up/down state and its transitions, returned as values for the daemon to log (this module never
// logs), and the operator's one-line log message.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fetchd::results {

enum class State : std::uint8_t { unknown, up, down };

// "unknown", "up", "down" (JSON, filters); the log line uses the upper-case form.
std::string_view to_string(State state);
std::optional<State> parse_state(std::string_view text);

struct StateChange {
  std::string name{};  // the target; filled by the registry, empty from TargetResults::record
  State from = State::unknown;
  State to = State::unknown;
  std::chrono::system_clock::time_point at{};  // start of the attempt that decided it
  // The deciding attempt, starting with its outcome word: "200 OK", "connect to 10.0.0.1:81:
  // Connection refused", "timeout: timed out after 10000 ms during connect", "expectation failed:
  // status 500 not in 200-399".
  std::string reason{};
  std::uint32_t streak = 0;           // the deciding streak's length (>= down_after / up_after)
  std::uint32_t previous_streak = 0;  // opposite outcomes in a row before it; 0 when none
  std::chrono::microseconds previous_state_lasted{0};  // `from` began -> `at`
};

// The operator's log line, one fixed shape so that it can be grepped:
//   <name> is DOWN: <reason>[ (<n> failures in a row)][ after <m> successes]; was <FROM> for <d>
//   <name> is UP[ again]: <reason>[ (<n> successes in a row)][ after <m> failures]; was <FROM> for
//   <d>
// "again" when it comes back from DOWN; "(... in a row)" when the deciding streak is longer than
// one; "after ..." when a streak of the other kind preceded it. E.g.
//   api.example is DOWN: connect to 10.0.0.1:443: Connection refused after 3 successes; was UP for
//   2h13m api.example is UP again: 200 OK after 4 failures; was DOWN for 5m2s
// A change to DOWN is for the warning level, a change to UP for info.
std::string format_log_line(const StateChange& change);

}  // namespace fetchd::results
