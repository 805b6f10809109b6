// URL parsing and reference resolution on any text: never a crash, and what is accepted is clean
// (no byte that could break a request line) and reads back to itself.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/url.h"

namespace {

bool clean(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f)
      return false;
  }
  return true;
}

void check(const fetchd::http::Url& url) {
  if (!clean(url.host) || !clean(url.target) || url.target.empty() || url.target[0] != '/')
    __builtin_trap();
  const auto again = fetchd::http::parse_url(url.to_string());
  if (!again || again->to_string() != url.to_string())
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The first line is a URL, the rest a Location value resolved against it.
  const auto newline = text.find('\n');
  const auto url = fetchd::http::parse_url(text.substr(0, newline));
  if (!url)
    return 0;
  check(*url);
  if (newline != std::string_view::npos) {
    if (const auto resolved = url->resolve_reference(text.substr(newline + 1)))
      check(*resolved);
  }
  return 0;
}
