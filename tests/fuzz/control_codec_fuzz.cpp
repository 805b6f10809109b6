// Any bytes as a control request line: a request or a bad_request, never an exception; and the
// reply to it is always one line of valid JSON. The request's args read as watch's filter (and its
// label as list's) give a filter or an error message, never an exception.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "control/filters.h"
#include "control/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const auto parsed = fetchd::control::parse_request(line);
  const std::string reply =
      parsed.error ? fetchd::control::format_failure(parsed.request.id, *parsed.error)
                   : fetchd::control::format_result(parsed.request.id, parsed.request.args);
  if (reply.empty() || reply.back() != '\n' || reply.find('\n') != reply.size() - 1)
    __builtin_trap();
  if (!nlohmann::json::accept(reply))
    __builtin_trap();
  if (!parsed.error) {
    const auto filter = fetchd::control::parse_watch_filter(parsed.request.args);
    if (!filter && filter.error().message.empty())
      __builtin_trap();
  }
  return 0;
}
