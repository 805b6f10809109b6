// The results store's files as read at start, on any bytes: the first byte picks what they are.
//   0: a target's encoded results (results/codec.h): refused or decoded, never a crash; what
//      decodes encodes to bytes that decode to the same encoding again.
//   1: a log file, 2: a snapshot file, in a state directory of their own: restored or refused
//      with a message (only for another format version), every damage a line, never a crash.
// Inputs are bounded by -max_len (64 KiB), so a length inside them can ask for more than there is.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

#include "common/binary.h"
#include "results/codec.h"
#include "state/results_store.h"

namespace {

std::string encoded(const fetchd::results::TargetResults& results) {
  std::string bytes;
  fetchd::BinaryWriter out(bytes);
  fetchd::results::encode(results, out);
  return bytes;
}

const std::filesystem::path& state_dir() {
  static const std::filesystem::path dir = [] {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "fetchd-store-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      std::abort();
    return std::filesystem::path(pattern);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      fetchd::BinaryReader in(bytes);
      const auto decoded = fetchd::results::decode_target_results(in, 100, 30);
      if (!decoded)
        return 0;
      const std::string once = encoded(*decoded);
      fetchd::BinaryReader again(once);
      const auto twice = fetchd::results::decode_target_results(again, 100, 30);
      if (!twice || encoded(*twice) != once)
        __builtin_trap();
      return 0;
    }
    default: {
      const auto& dir = state_dir();
      std::filesystem::remove_all(dir);
      std::filesystem::create_directory(dir);
      {
        std::ofstream file(dir / (data[0] % 3 == 1 ? "results-1.log" : "results-1.snapshot"),
                           std::ios::binary);
        file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      }
      const auto restored = fetchd::state::ResultsStore::load(dir, 100, 30);
      if (!restored && restored.error().message.empty())
        __builtin_trap();
      return 0;
    }
  }
}
