#include "dns/resolv_conf.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <system_error>

#include "common/read_file.h"

namespace fetchd::dns {

namespace {

constexpr int kMaxTimeoutSeconds = 30;  // glibc's RES_MAXRETRANS
constexpr int kMaxAttempts = 5;         // glibc's RES_MAXRETRY

std::string_view next_word(std::string_view& text) {
  const auto is_blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!text.empty() && is_blank(text.front()))
    text.remove_prefix(1);
  std::size_t end = 0;
  while (end < text.size() && !is_blank(text[end]))
    ++end;
  const std::string_view word = text.substr(0, end);
  text.remove_prefix(end);
  return word;
}

// glibc takes the leading digits (atoi); a value it would read as 0 becomes 1 here, since a try
// that may not wait is no try.
bool apply_option(std::string_view option, RetryOptions& options) {
  const auto value_of = [&option](std::string_view name, int high) -> std::optional<int> {
    if (option.substr(0, name.size()) != name)
      return std::nullopt;
    const std::string_view digits = option.substr(name.size());
    int value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error == std::errc::result_out_of_range)
      value = high;
    else if (end == digits.data())
      return std::nullopt;
    return std::clamp(value, 1, high);
  };
  if (const auto timeout = value_of("timeout:", kMaxTimeoutSeconds)) {
    options.timeout = std::chrono::seconds(*timeout);
    return true;
  }
  if (const auto attempts = value_of("attempts:", kMaxAttempts)) {
    options.attempts = *attempts;
    return true;
  }
  return false;
}

void apply_options(std::string_view words, std::string_view source, RetryOptions& options) {
  bool applied = false;
  for (std::string_view word = next_word(words); !word.empty(); word = next_word(words))
    applied = apply_option(word, options) || applied;
  if (applied)
    options.source = source;
}

}  // namespace

void apply_resolv_conf(std::string_view text, std::string_view source, RetryOptions& options) {
  while (!text.empty()) {
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (next_word(line) == "options")
      apply_options(line, source, options);
  }
}

void apply_res_options(std::string_view value, RetryOptions& options) {
  apply_options(value, "RES_OPTIONS", options);
}

RetryOptions system_retry_options(const std::filesystem::path& resolv_conf) {
  RetryOptions options;
  if (const auto text = read_file(resolv_conf))
    apply_resolv_conf(*text, resolv_conf.string(), options);
  if (const char* value = std::getenv("RES_OPTIONS"))
    apply_res_options(value, options);
  return options;
}

}  // namespace fetchd::dns
