#include "config/body_template.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "common/quote.h"
#include "config/labels.h"

namespace fetchd::config {

namespace {

bool is_field_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

bool is_known_field(std::string_view field) {
  if (field.starts_with(kLabelFieldPrefix))
    return is_label_name(field.substr(kLabelFieldPrefix.size()));
  return std::find(kTemplateFields.begin(), kTemplateFields.end(), field) != kTemplateFields.end();
}

std::string escaped(const std::string& value, BodyEscape escape) {
  switch (escape) {
    case BodyEscape::none:
      return value;
    case BodyEscape::json: {
      // nlohmann's string encoding, without the quotes: invalid UTF-8 becomes U+FFFD.
      std::string quoted =
          nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return quoted.substr(1, quoted.size() - 2);
    }
    case BodyEscape::form: {
      static constexpr std::string_view kHex = "0123456789ABCDEF";
      std::string out;
      for (const char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
          out += c;
        } else if (c == ' ') {
          out += '+';
        } else {
          out += '%';
          out += kHex[byte >> 4U];
          out += kHex[byte & 0xFU];
        }
      }
      return out;
    }
  }
  return value;
}

}  // namespace

BodyEscape escape_for_content_type(std::string_view content_type) {
  const std::string_view media = content_type.substr(0, content_type.find(';'));
  std::string lower;
  for (const char c : media) {
    if (c != ' ' && c != '\t')
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (lower == "application/json" || lower.ends_with("+json"))
    return BodyEscape::json;
  if (lower == "application/x-www-form-urlencoded")
    return BodyEscape::form;
  return BodyEscape::none;
}

Expected<BodyTemplate> BodyTemplate::parse(std::string_view text, BodyEscape escape) {
  BodyTemplate parsed;
  parsed.escape_ = escape;
  parsed.source_ = std::string(text);
  Piece piece;
  std::size_t at = 0;
  while (at < text.size()) {
    const char c = text[at];
    if ((c == '{' || c == '}') && at + 1 < text.size() && text[at + 1] == c) {
      piece.text += c;
      at += 2;
      continue;
    }
    if (c != '{') {
      piece.text += c;
      ++at;
      continue;
    }
    std::size_t end = at + 1;
    while (end < text.size() && is_field_character(text[end]))
      ++end;
    // A '{' not followed by a name and '}' is text (a JSON object, say).
    if (end == at + 1 || end >= text.size() || text[end] != '}') {
      piece.text += c;
      ++at;
      continue;
    }
    const std::string_view field = text.substr(at + 1, end - at - 1);
    if (!is_known_field(field)) {
      std::string known;
      for (const auto name : kTemplateFields)
        known += std::string(known.empty() ? "" : ", ") + "{" + std::string(name) + "}";
      return Error{"unknown placeholder " + quote("{" + std::string(field) + "}") + " at byte " +
                   std::to_string(at) + " of the body; known: " + known +
                   ", {labels.NAME} (write {{ for a literal brace)"};
    }
    piece.field = std::string(field);
    parsed.pieces_.push_back(std::move(piece));
    piece = Piece{};
    at = end + 1;
  }
  parsed.pieces_.push_back(std::move(piece));
  return parsed;
}

std::string BodyTemplate::render(
    const std::function<std::string(std::string_view field)>& value) const {
  std::string out;
  for (const auto& piece : pieces_) {
    out += piece.text;
    if (!piece.field.empty())
      out += escaped(value(piece.field), escape_);
  }
  return out;
}

}  // namespace fetchd::config
