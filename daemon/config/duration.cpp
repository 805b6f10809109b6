#include "config/duration.h"

#include <array>
#include <cstdint>

namespace fetchd::config {

namespace {

struct Unit {
  std::string_view name;
  std::int64_t ms;
};

// Largest first: a combination must go down this list.
constexpr std::array<Unit, 4> kUnits = {{{"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};
constexpr std::int64_t kMaxMs = 10'000LL * 3'600'000;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

}  // namespace

Expected<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty())
    return Error{"empty duration"};
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // index into kUnits of the largest unit still allowed
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (!is_digit(text[pos])) {
      if (text[pos] == '-')
        return Error{"negative durations are not allowed"};
      return Error{"expected a number at \"" + std::string(text.substr(pos)) + "\""};
    }
    std::int64_t number = 0;
    while (pos < text.size() && is_digit(text[pos])) {
      number = number * 10 + (text[pos] - '0');
      if (number > kMaxMs)
        return Error{"too long (at most 10000h)"};
      ++pos;
    }
    if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
      return Error{"fractions are not supported (write \"1500ms\" for 1.5s)"};
    }
    const std::size_t unit_start = pos;
    while (pos < text.size() && is_letter(text[pos]))
      ++pos;
    const std::string_view unit_name = text.substr(unit_start, pos - unit_start);
    if (unit_name.empty()) {
      if (pos == text.size())
        return Error{"missing unit (use ms, s, m or h)"};
      return Error{"unexpected \"" + std::string(text.substr(pos, 1)) + "\""};
    }
    std::size_t index = 0;
    while (index < kUnits.size() && kUnits[index].name != unit_name)
      ++index;
    if (index == kUnits.size()) {
      return Error{"unknown unit \"" + std::string(unit_name) + "\" (use ms, s, m or h)"};
    }
    if (index < next_unit) {
      return Error{"units must go from largest to smallest, each at most once (\"1m30s\")"};
    }
    next_unit = index + 1;
    total += number * kUnits[index].ms;
    if (total > kMaxMs)
      return Error{"too long (at most 10000h)"};
  }
  return std::chrono::milliseconds(total);
}

std::string format_duration(std::chrono::milliseconds duration) {
  std::int64_t rest = duration.count();
  if (rest == 0)
    return "0s";
  std::string out;
  if (rest < 0) {
    out = "-";
    rest = -rest;
  }
  for (const Unit& unit : kUnits) {
    const std::int64_t count = rest / unit.ms;
    if (count == 0)
      continue;
    out += std::to_string(count);
    out += unit.name;
    rest -= count * unit.ms;
  }
  return out;
}

std::string format_for_people(std::chrono::microseconds duration, Precision precision) {
  using std::chrono::duration_cast;
  if (duration < std::chrono::seconds(1)) {
    if (precision == Precision::seconds)
      return "0s";
    if (duration < std::chrono::milliseconds(1))
      return "0ms";
    return std::to_string(duration_cast<std::chrono::milliseconds>(duration).count()) + "ms";
  }
  const auto total_seconds = duration_cast<std::chrono::seconds>(duration).count();
  const auto two_units = [](std::int64_t high, char high_unit, std::int64_t low, char low_unit) {
    std::string text = std::to_string(high) + high_unit;
    if (low != 0)
      text += std::to_string(low) + low_unit;
    return text;
  };
  constexpr std::int64_t kMinute = 60;
  constexpr std::int64_t kHour = 60 * kMinute;
  constexpr std::int64_t kDay = 24 * kHour;
  if (total_seconds < kMinute)
    return std::to_string(total_seconds) + "s";
  if (total_seconds < kHour)
    return two_units(total_seconds / kMinute, 'm', total_seconds % kMinute, 's');
  if (total_seconds < kDay)
    return two_units(total_seconds / kHour, 'h', total_seconds % kHour / kMinute, 'm');
  return two_units(total_seconds / kDay, 'd', total_seconds % kDay / kHour, 'h');
}

}  // namespace fetchd::config
