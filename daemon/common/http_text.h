#pragma once

// The small lexical pieces of HTTP/1.1 (RFC 9110 5.6) that both parsers need: the response
// parser of the fetch engine and the request parser of the metrics listener.

#include <string_view>

namespace fetchd {

inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

inline std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && is_ows(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_ows(text.back()))
    text.remove_suffix(1);
  return text;
}

// Calls fn(element) for each element of a comma-separated list, OWS trimmed, empty ones included;
// stops at the first that fn refuses (and returns false).
template <class Fn>
bool for_each_element(std::string_view list, Fn&& fn) {
  while (true) {
    const auto comma = list.find(',');
    if (!fn(trim_ows(list.substr(0, comma))))
      return false;
    if (comma == std::string_view::npos)
      return true;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace fetchd
