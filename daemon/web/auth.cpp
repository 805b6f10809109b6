#include "web/auth.h"

#include <cstdint>

#include "common/http_text.h"
#include "common/sha256.h"
#include "http/headers.h"

namespace fetchd::web {

namespace {

constexpr std::size_t kMaxCredentials = 4096;  // the request head is 8 KiB at most anyway

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

// Strict base64 (RFC 4648 4): whole quanta of four, '=' only as the final padding. Nullopt for
// anything else.
std::optional<std::string> decode_base64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > kMaxCredentials)
    return std::nullopt;
  std::size_t padding = 0;
  while (padding < 2 && text[text.size() - 1 - padding] == '=')
    ++padding;
  std::string out;
  std::uint32_t bits = 0;
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    const int value = base64_value(text[i]);
    if (value < 0)
      return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    if (i % 4 == 3) {
      out += static_cast<char>((bits >> 16) & 0xff);
      out += static_cast<char>((bits >> 8) & 0xff);
      out += static_cast<char>(bits & 0xff);
      bits = 0;
    }
  }
  // The bits a padded quantum does not use must be zero (RFC 4648 §3.5): one encoding per value.
  if (padding == 1) {
    if ((bits & 0x3) != 0)
      return std::nullopt;
    out += static_cast<char>((bits >> 10) & 0xff);
    out += static_cast<char>((bits >> 2) & 0xff);
  } else if (padding == 2) {
    if ((bits & 0xf) != 0)
      return std::nullopt;
    out += static_cast<char>((bits >> 4) & 0xff);
  }
  return out;
}

// Every digest is compared, so the time does not tell which (or whether one) matched.
bool any_matches(const std::vector<Sha256Digest>& accepted, const Sha256Digest& given) {
  bool matched = false;
  for (const auto& digest : accepted)
    matched = same_digest(digest, given) || matched;
  return matched;
}

}  // namespace

bool authorized(const config::WebAuth& auth, std::optional<std::string_view> authorization) {
  if (!authorization)
    return false;
  const std::string_view value = *authorization;
  const auto space = value.find(' ');
  if (space == std::string_view::npos)
    return false;
  const std::string_view scheme = value.substr(0, space);
  const std::string_view credentials = trim_ows(value.substr(space + 1));
  if (credentials.empty() || credentials.size() > kMaxCredentials)
    return false;
  if (http::iequals(scheme, "Basic")) {
    const auto decoded = decode_base64(credentials);
    return decoded && decoded->find(':') != std::string::npos &&
           any_matches(auth.basic, sha256(*decoded));
  }
  if (http::iequals(scheme, "Bearer"))
    return any_matches(auth.bearer, sha256(credentials));
  return false;
}

std::string challenges(const config::WebAuth& auth) {
  std::string out;
  if (!auth.basic.empty())
    out += "WWW-Authenticate: Basic realm=\"fetchd\", charset=\"UTF-8\"\r\n";
  if (!auth.bearer.empty())
    out += "WWW-Authenticate: Bearer realm=\"fetchd\"\r\n";
  return out;
}

}  // namespace fetchd::web
