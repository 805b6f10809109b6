// Any bytes as the configuration file: a clear error or a valid configuration, never a crash or an
// exception. (A hang or unbounded memory is what libFuzzer's -timeout and -rss_limit_mb catch.)

#include <cstddef>
#include <cstdint>
#include <string>

#include "config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto loaded = fetchd::config::load_documents({{"fetchd.json", text}});
  if (loaded.errors.empty() != loaded.value.has_value())
    __builtin_trap();  // exactly one of a configuration and its errors
  for (const auto& error : loaded.errors) {
    if (error.message.empty())
      __builtin_trap();
    (void)error.to_string();
  }
  return 0;
}
