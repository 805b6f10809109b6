#include "common/sha256.h"

#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace fetchd {

Sha256Digest sha256(std::string_view text) {
  Sha256Digest digest{};
  unsigned int size = 0;
  // Only a broken OpenSSL fails here; a zero digest would then match every input that failed too.
  if (EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL cannot compute SHA-256");
  return digest;
}

bool same_digest(const Sha256Digest& a, const Sha256Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace fetchd
