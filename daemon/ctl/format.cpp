#include "ctl/format.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "config/duration.h"

namespace fetchd::ctl {

using std::chrono::system_clock;

std::string format_latency(std::int64_t micros) {
  std::array<char, 32> text{};
  if (micros < 1'000) {
    std::snprintf(text.data(), text.size(), "%.2fms", static_cast<double>(micros) / 1e3);
  } else if (micros < 1'000'000) {
    std::snprintf(text.data(), text.size(), "%.1fms", static_cast<double>(micros) / 1e3);
  } else {
    std::snprintf(text.data(), text.size(), "%.2fs", static_cast<double>(micros) / 1e6);
  }
  return text.data();
}

std::string format_uptime(double ratio) {
  if (ratio >= 1.0)
    return "100%";
  // Rounded down, so that anything short of every attempt never reads as 100%.
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.2f%%",
                std::floor(std::max(ratio, 0.0) * 10'000.0) / 100.0);
  return text.data();
}

std::string format_relative(system_clock::time_point then, system_clock::time_point now) {
  const auto difference = std::chrono::duration_cast<std::chrono::seconds>(now - then);
  const auto text = [](std::chrono::seconds seconds) {
    return config::format_for_people(seconds, config::Precision::seconds);
  };
  if (difference.count() < 0)
    return "in " + text(-difference);
  if (difference.count() == 0)
    return "just now";
  return text(difference) + " ago";
}

std::optional<system_clock::time_point> parse_time(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction]Z
  if (text.size() < 20 || text.back() != 'Z')
    return std::nullopt;
  auto digits = [&](std::size_t at, std::size_t count) -> std::optional<int> {
    int value = 0;
    for (std::size_t i = at; i < at + count; ++i) {
      if (text[i] < '0' || text[i] > '9')
        return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const auto year = digits(0, 4);
  const auto month = digits(5, 2);
  const auto day = digits(8, 2);
  const auto hour = digits(11, 2);
  const auto minute = digits(14, 2);
  const auto second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  // system_clock counts nanoseconds in 64 bits: from 1678 to 2262. The daemon writes times of
  // this era; a year beyond that range is not a time it sent, and would overflow.
  if (*year < 1970 || *year > 2261)
    return std::nullopt;
  std::tm parts{};
  parts.tm_year = *year - 1900;
  parts.tm_mon = *month - 1;
  parts.tm_mday = *day;
  parts.tm_hour = *hour;
  parts.tm_min = *minute;
  parts.tm_sec = *second;
  const std::time_t seconds = timegm(&parts);
  auto time = system_clock::from_time_t(seconds);
  std::size_t at = 19;
  if (text[at] == '.') {
    ++at;
    std::int64_t micros = 0;
    int scale = 100'000;
    for (; at < text.size() - 1; ++at) {
      if (text[at] < '0' || text[at] > '9')
        return std::nullopt;
      micros += static_cast<std::int64_t>(text[at] - '0') * scale;
      scale /= 10;
    }
    time += std::chrono::microseconds(micros);
  }
  if (at != text.size() - 1)
    return std::nullopt;
  return time;
}

std::string format_table(const std::vector<Column>& columns,
                         const std::vector<std::vector<Cell>>& rows) {
  std::vector<std::size_t> widths;
  widths.reserve(columns.size());
  for (const auto& column : columns)
    widths.push_back(column.title.size());
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], row[i].text.size());
  }
  std::string out;
  auto emit = [&](std::size_t index, std::string_view text, std::string_view colour) {
    const bool last = index + 1 == columns.size();
    const std::size_t pad = widths[index] - std::min(widths[index], text.size());
    if (index > 0)
      out += "  ";
    if (columns[index].right)
      out.append(pad, ' ');
    if (!colour.empty()) {
      out += colour;
      out += text;
      out += kColourReset;
    } else {
      out += text;
    }
    if (!columns[index].right && !last)
      out.append(pad, ' ');
  };
  for (std::size_t i = 0; i < columns.size(); ++i)
    emit(i, columns[i].title, {});
  out += '\n';
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < columns.size(); ++i) {
      if (i < row.size()) {
        emit(i, row[i].text, row[i].colour);
      } else {
        emit(i, "", {});
      }
    }
    // A last left-aligned column with empty cells leaves no trailing blanks behind.
    while (!out.empty() && out.back() == ' ')
      out.pop_back();
    out += '\n';
  }
  return out;
}

}  // namespace fetchd::ctl
