#include "results/state_change.h"

#include "common/plural.h"
#include "config/duration.h"

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
  if (kind == State::up)
    return plural(count, "success", "successes");
  return plural(count, "failure");
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
  line += config::format_for_people(change.previous_state_lasted);
  return line;
}

}  // namespace fetchd::results
