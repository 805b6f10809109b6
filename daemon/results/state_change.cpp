#include "results/state_change.h"

namespace fetchd::results {

namespace {

std::string_view upper(State state) {
  switch (state) {
    case State::unknown:
      return "UNKNOWN";
    case State::up:
      return "UP";
    case State::down:
      return "DOWN";
  }
  return "UNKNOWN";
}

std::string count_of(std::uint32_t count, State kind) {
  const bool successes = kind == State::up;
  std::string text = std::to_string(count);
  if (count == 1)
    return text + (successes ? " success" : " failure");
  return text + (successes ? " successes" : " failures");
}

}  // namespace

std::string_view to_string(State state) {
  switch (state) {
    case State::unknown:
      return "unknown";
    case State::up:
      return "up";
    case State::down:
      return "down";
  }
  return "unknown";
}

std::optional<State> parse_state(std::string_view text) {
  for (State state : {State::unknown, State::up, State::down}) {
    if (text == to_string(state))
      return state;
  }
  return std::nullopt;
}

std::string format_duration(std::chrono::microseconds duration) {
  using namespace std::chrono;
  if (duration < milliseconds(1))
    return "0ms";
  if (duration < seconds(1))
    return std::to_string(duration_cast<milliseconds>(duration).count()) + "ms";
  const auto total_seconds = duration_cast<seconds>(duration).count();
  const auto pair = [](long long high, char high_unit, long long low, char low_unit) {
    std::string text = std::to_string(high) + high_unit;
    if (low != 0)
      text += std::to_string(low) + low_unit;
    return text;
  };
  constexpr long long kMinute = 60, kHour = 60 * kMinute, kDay = 24 * kHour;
  if (total_seconds < kMinute)
    return std::to_string(total_seconds) + "s";
  if (total_seconds < kHour)
    return pair(total_seconds / kMinute, 'm', total_seconds % kMinute, 's');
  if (total_seconds < kDay)
    return pair(total_seconds / kHour, 'h', total_seconds % kHour / kMinute, 'm');
  return pair(total_seconds / kDay, 'd', total_seconds % kDay / kHour, 'h');
}

std::string format_log_line(const StateChange& change) {
  std::string line = change.name;
  line += " is ";
  line += upper(change.to);
  if (change.to == State::up && change.from == State::down)
    line += " again";
  line += ": ";
  line += change.reason;
  if (change.streak > 1) {
    line += " (";
    line += count_of(change.streak, change.to);
    line += " in a row)";
  }
  if (change.previous_streak > 0) {
    line += " after ";
    line += count_of(change.previous_streak, change.to == State::up ? State::down : State::up);
  }
  line += "; was ";
  line += upper(change.from);
  line += " for ";
  line += format_duration(change.previous_state_lasted);
  return line;
}

}  // namespace fetchd::results
