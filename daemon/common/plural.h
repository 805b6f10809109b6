#pragma once

// Counts in log lines and messages read as English: "1 file", "2 files", "3 successes".

#include <concepts>
#include <string>
#include <string_view>

namespace fetchd {

template <std::integral Count>
std::string plural(Count count, std::string_view singular, std::string_view plural_form) {
  return std::to_string(count) + ' ' + std::string(count == 1 ? singular : plural_form);
}

// For words whose plural adds an 's'.
template <std::integral Count>
std::string plural(Count count, std::string_view singular) {
  std::string text = std::to_string(count) + ' ';
  text += singular;
  if (count != 1)
    text += 's';
  return text;
}

}  // namespace fetchd
