#pragma once

// Positions in JSON text, for messages: nlohmann::json keeps none, so the loader scans the text
// again when it has something to report. Used by the loader; not a general JSON API.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fetchd::config {

struct TextPosition {
  int line = 0;    // 1-based
  int column = 0;  // 1-based, in characters (UTF-8 code points)
  bool operator==(const TextPosition&) const = default;
};

// The position of the byte at `offset` (clamped to the end of the text).
TextPosition position_at(std::string_view text, std::size_t offset);

// For each JSON pointer ("/targets/2/interval") found in `text`, where it is: the key of an object
// member, the start of an array element, or the start of the document for "". Pointers not in the
// text are left out. `text` must be valid JSON. One pass, however many pointers.
std::map<std::string, TextPosition> locate(std::string_view text,
                                           const std::vector<std::string>& pointers);

struct DuplicateKey {
  std::string pointer;    // of the second occurrence
  TextPosition position;  // of its key
};

// Every object member whose key repeats an earlier one in the same object (nlohmann::json keeps
// only the last, which would hide a mistake). `text` must be valid JSON.
std::vector<DuplicateKey> find_duplicate_keys(std::string_view text);

// "/" + key with "~" and "/" escaped as RFC 6901 says.
std::string pointer_token(std::string_view key);

}  // namespace fetchd::config
