#include "config/shard.h"

#include <array>

#include <openssl/evp.h>

namespace fetchd::config {

std::uint64_t shard_of(std::string_view name, std::uint64_t count) {
  std::array<unsigned char, 16> digest{};
  unsigned int size = 0;
  // MD5 cannot fail on a valid context; a failure would leave the digest zero, shard 0.
  EVP_Digest(name.data(), name.size(), digest.data(), &size, EVP_md5(), nullptr);
  std::uint64_t tail = 0;
  for (std::size_t i = 8; i < digest.size(); ++i)
    tail = (tail << 8) | digest[i];
  return count == 0 ? 0 : tail % count;
}

}  // namespace fetchd::config
