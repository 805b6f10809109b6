#pragma once

// Absolute http/https URLs as fetchd accepts them: scheme, host (name, IPv4, or bracketed IPv6
// literal), optional port, and path+query. Anything with control characters, spaces, user-info or a
// fragment is refused, so a URL can never inject bytes into the request line.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace fetchd::http {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets; lower-cased for names
  bool host_is_ipv6_literal = false;
  std::uint16_t port = 0;  // always set: the default for the scheme when the URL has none
  std::string target;      // path and query, at least "/"

  bool operator==(const Url&) const = default;

  bool is_tls() const { return scheme == "https"; }
  bool has_default_port() const { return port == (is_tls() ? 443 : 80); }
  // Value of the Host header: host, bracketed if IPv6, with ":port" unless the default.
  std::string authority() const;
  std::string to_string() const;

  // Resolve a Location header value (absolute, scheme-relative, absolute-path or relative) against
  // this URL.
  Expected<Url> resolve_reference(std::string_view reference) const;
};

Expected<Url> parse_url(std::string_view text);

}  // namespace fetchd::http
