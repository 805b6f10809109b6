#pragma once

// The body template of a webhook (alerts.webhooks[].body): text with placeholders such as {name}
// or {labels.team}, filled in for each notification. Parsed when the configuration is loaded, so
// that an unknown placeholder is an error there and not a surprise at 3 a.m.
//
// A placeholder is '{', a field name, '}'. A field name is one of kTemplateFields, or "labels."
// followed by a label name. Any other '{' is text: JSON's own braces need no escaping, and `{{`
// and `}}` stand for a literal brace where a placeholder would otherwise be read. Values are
// escaped for the body's content type: inside a JSON body each is JSON-escaped (placeholders go
// inside JSON strings), inside a form body percent-encoded, otherwise inserted as they are.

#include <array>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"

namespace fetchd::config {

inline constexpr std::array<std::string_view, 11> kTemplateFields = {
    "id",     "kind", "name",   "state",   "previous",   "since",
    "reason", "url",  "status", "summary", "fetchd_host"};
inline constexpr std::string_view kLabelFieldPrefix = "labels.";

enum class BodyEscape { none, json, form };

// The escaping a Content-Type asks for: JSON for application/json and any +json type, form for
// application/x-www-form-urlencoded, none otherwise.
BodyEscape escape_for_content_type(std::string_view content_type);

class BodyTemplate {
 public:
  // The error names the placeholder and its byte offset in `text`.
  static Expected<BodyTemplate> parse(std::string_view text, BodyEscape escape);

  // `value(field)` gives each placeholder's unescaped value ("" for a label the target lacks).
  std::string render(const std::function<std::string(std::string_view field)>& value) const;

  BodyEscape escape() const { return escape_; }
  const std::string& source() const { return source_; }
  bool operator==(const BodyTemplate& other) const {
    return source_ == other.source_ && escape_ == other.escape_;
  }

 private:
  struct Piece {
    std::string text;   // literal, before the field
    std::string field;  // empty: none (the last piece)
  };
  std::vector<Piece> pieces_;
  BodyEscape escape_ = BodyEscape::none;
  std::string source_;
};

}  // namespace fetchd::config
