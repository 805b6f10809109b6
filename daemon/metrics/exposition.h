#pragma once

// The Prometheus exposition formats, written by hand: text 0.0.4 and OpenMetrics 1.0.0, chosen by
// the scrape's Accept header. A writer appends to a string; it keeps no per-series state, so a
// scrape of 100,000 targets costs the output and nothing per series between scrapes (a client
// library such as prometheus-cpp keeps an object per series, which would cost more than a target
// does today).

#include <cstdint>
#include <string>
#include <string_view>

namespace fetchd::metrics {

enum class Format { text, openmetrics };

// OpenMetrics when `accept` lists application/openmetrics-text with a non-zero q (Prometheus
// sends it first); text otherwise, also for a missing or unparsable header.
Format negotiate(std::string_view accept);
std::string_view content_type(Format format);

enum class Type { gauge, counter, histogram };

// One metric family's metadata. For a counter, `name` is without "_total" (OpenMetrics names the
// family so; the text format's TYPE line gets the sample name). `unit` is OpenMetrics' UNIT (the
// name must end with it), empty for none.
struct Family {
  std::string_view name;
  Type type;
  std::string_view help;
  std::string_view unit = {};
};

// Label pairs already escaped and joined: `a="x",b="y"` — built once per series' labels.
class Labels {
 public:
  void add(std::string_view name, std::string_view value);
  const std::string& text() const { return text_; }
  bool empty() const { return text_.empty(); }
  void clear() { text_.clear(); }

 private:
  std::string text_;
};

class Writer {
 public:
  Writer(Format format, std::string& out) : format_(format), out_(out) {}

  void begin(const Family& family);
  // A sample of the family begun last: its name plus `suffix` ("_total", "_bucket", ...), the
  // labels (Labels::text(), escaped and joined), then an extra label if `extra_name` is not empty.
  void sample(const Family& family, std::string_view suffix, std::string_view labels, double value,
              std::string_view extra_name = {}, std::string_view extra_value = {});
  void sample(const Family& family, std::string_view suffix, std::string_view labels,
              std::uint64_t value, std::string_view extra_name = {},
              std::string_view extra_value = {});
  // OpenMetrics' "# EOF"; nothing for text.
  void end();

  Format format() const { return format_; }

 private:
  void name_and_labels(const Family& family, std::string_view suffix, std::string_view labels,
                       std::string_view extra_name, std::string_view extra_value);

  Format format_;
  std::string& out_;
};

// Appends a label value or HELP text escaped per the format (backslash, newline, and for label
// values and OpenMetrics help the double quote).
void append_escaped(std::string& out, std::string_view text, bool quote);
// Shortest round-trip form; NaN, +Inf, -Inf as the formats spell them.
void append_number(std::string& out, double value);

}  // namespace fetchd::metrics
