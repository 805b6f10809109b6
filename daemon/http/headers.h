#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fetchd::http {

struct Header {
  std::string name;   // original case
  std::string value;  // OWS trimmed
  bool operator==(const Header&) const = default;
};

// Header fields in the order received, duplicates kept.
using Headers = std::vector<Header>;

// First value of a field, names compared case-insensitively.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);
bool iequals(std::string_view a, std::string_view b);

}  // namespace fetchd::http
