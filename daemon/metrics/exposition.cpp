#include "metrics/exposition.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "http/headers.h"

namespace fetchd::metrics {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

// The q parameter of one media range ("q=0.5"); 1 when absent, 0 when unparsable.
double quality_of(std::string_view parameters) {
  while (!parameters.empty()) {
    const auto semicolon = parameters.find(';');
    const auto parameter = trim(parameters.substr(0, semicolon));
    parameters =
        semicolon == std::string_view::npos ? std::string_view() : parameters.substr(semicolon + 1);
    if (parameter.size() >= 2 && (parameter[0] == 'q' || parameter[0] == 'Q') &&
        parameter[1] == '=') {
      const std::string value(parameter.substr(2));
      char* end = nullptr;
      const double q = std::strtod(value.c_str(), &end);
      return end == value.c_str() + value.size() && q >= 0 && q <= 1 ? q : 0;
    }
  }
  return 1;
}

}  // namespace

Format negotiate(std::string_view accept) {
  while (!accept.empty()) {
    const auto comma = accept.find(',');
    const auto range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    const auto semicolon = range.find(';');
    const auto type = trim(range.substr(0, semicolon));
    if (http::iequals(type, "application/openmetrics-text") &&
        quality_of(semicolon == std::string_view::npos ? std::string_view()
                                                       : range.substr(semicolon + 1)) > 0)
      return Format::openmetrics;
  }
  return Format::text;
}

std::string_view content_type(Format format) {
  return format == Format::openmetrics
             ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
             : "text/plain; version=0.0.4; charset=utf-8";
}

void append_escaped(std::string& out, std::string_view text, bool quote) {
  // Names and values rarely need escaping: one search, then one append.
  if (text.find_first_of(quote ? std::string_view("\\\n\"") : std::string_view("\\\n")) ==
      std::string_view::npos) {
    out += text;
    return;
  }
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_number(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    std::array<char, 32> buffer{};
    // Shortest round-trip digits, fixed unless an exponent is shorter ("0.0005", "1e+21").
    const auto [end, error] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                            std::chars_format::general);
    out.append(buffer.data(), error == std::errc() ? end : buffer.data());
  }
}

void Labels::add(std::string_view name, std::string_view value) {
  if (!text_.empty())
    text_ += ',';
  text_ += name;
  text_ += "=\"";
  append_escaped(text_, value, true);
  text_ += '"';
}

void Writer::begin(const Family& family) {
  const bool open = format_ == Format::openmetrics;
  const std::string_view total = family.type == Type::counter && !open ? "_total" : "";
  out_ += "# HELP ";
  out_ += family.name;
  out_ += total;
  out_ += ' ';
  append_escaped(out_, family.help, open);
  out_ += "\n# TYPE ";
  out_ += family.name;
  out_ += total;
  out_ += family.type == Type::gauge     ? " gauge\n"
          : family.type == Type::counter ? " counter\n"
                                         : " histogram\n";
  if (open && !family.unit.empty()) {
    out_ += "# UNIT ";
    out_ += family.name;
    out_ += ' ';
    out_ += family.unit;
    out_ += '\n';
  }
}

void Writer::name_and_labels(const Family& family, std::string_view suffix, std::string_view labels,
                             std::string_view extra_name, std::string_view extra_value) {
  out_ += family.name;
  out_ += suffix;
  if (labels.empty() && extra_name.empty()) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  out_ += labels;
  if (!extra_name.empty()) {
    if (!labels.empty())
      out_ += ',';
    out_ += extra_name;
    out_ += "=\"";
    append_escaped(out_, extra_value, true);
    out_ += '"';
  }
  out_ += "} ";
}

void Writer::sample(const Family& family, std::string_view suffix, std::string_view labels,
                    double value, std::string_view extra_name, std::string_view extra_value) {
  name_and_labels(family, suffix, labels, extra_name, extra_value);
  append_number(out_, value);
  out_ += '\n';
}

void Writer::sample(const Family& family, std::string_view suffix, std::string_view labels,
                    std::uint64_t value, std::string_view extra_name,
                    std::string_view extra_value) {
  name_and_labels(family, suffix, labels, extra_name, extra_value);
  std::array<char, 24> buffer{};
  const auto [end, error] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out_.append(buffer.data(), end);
  out_ += '\n';
}

void Writer::end() {
  if (format_ == Format::openmetrics)
    out_ += "# EOF\n";
}

}  // namespace fetchd::metrics
