#pragma once

// Durations as operators write them: "250ms", "30s", "5m", "1h", and combinations from the largest
// unit down ("1m30s", "1h5m", "2s500ms"). Whole numbers only; each unit at most once.

#include <chrono>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace fetchd::config {

// Parses `text`; the error says what is wrong with it ("unknown unit \"x\" (use ms, s, m or h)"),
// without repeating the text. Values up to 10,000 hours; zero ("0s") is accepted here, callers
// that need a positive value check it.
Expected<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest form parse_duration reads back to the same value: "250ms", "1m30s", "0s".
std::string format_duration(std::chrono::milliseconds duration);

// The finest unit format_for_people shows.
enum class Precision { milliseconds, seconds };

// Durations for people, in at most two units from the largest, rounded down: "850ms", "45s",
// "5m2s", "2h13m", "3d4h"; a zero second unit is left off ("5m", "2h"). Below the precision's
// unit, and negative (a clock step), it reads as zero of it: "0ms", "0s". Unlike format_duration,
// not meant to be read back.
std::string format_for_people(std::chrono::microseconds duration,
                              Precision precision = Precision::milliseconds);

}  // namespace fetchd::config
