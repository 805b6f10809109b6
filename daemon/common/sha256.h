#pragma once

// SHA-256 of a text (OpenSSL), and a constant-time comparison of two digests: for secrets that are
// kept and compared as digests (the metrics listener's credentials).

#include <array>
#include <string_view>

namespace fetchd {

using Sha256Digest = std::array<unsigned char, 32>;

Sha256Digest sha256(std::string_view text);

// Equal, in a time that does not depend on where the digests differ.
bool same_digest(const Sha256Digest& a, const Sha256Digest& b);

}  // namespace fetchd
