// libFuzzer target for the webhook body template parser (config/body_template.h): any bytes
// either parse or give an error, and a parsed JSON template filled with any values stays what
// the escaping promises.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/body_template.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto escape : {fetchd::config::BodyEscape::none, fetchd::config::BodyEscape::json,
                            fetchd::config::BodyEscape::form}) {
    const auto parsed = fetchd::config::BodyTemplate::parse(text, escape);
    if (!parsed)
      continue;
    const std::string rendered =
        parsed->render([&](std::string_view field) { return std::string(field) + "\"\\\n"; });
    if (rendered.size() > size * 64 + 64)
      __builtin_trap();
  }
  return 0;
}
