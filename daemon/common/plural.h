#pragma once

// Counts in log lines and messages read as English: "1 file", "2 files".

#include <cstddef>
#include <string>
#include <string_view>

namespace fetchd {

inline std::string plural(std::size_t count, std::string_view singular) {
  std::string text = std::to_string(count) + ' ';
  text += singular;
  if (count != 1)
    text += 's';
  return text;
}

}  // namespace fetchd
