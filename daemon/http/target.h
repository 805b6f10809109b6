#pragma once

// What to fetch and how: a validated request description handed to the fetcher.

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "common/expected.h"
#include "http/headers.h"
#include "http/url.h"

namespace fetchd::http {

enum class Method { get, head, post, put };

// POST and PUT send the target's body (possibly empty) with its Content-Length.
inline bool sends_body(Method method) {
  return method == Method::post || method == Method::put;
}
enum class AddressFamily { any, ipv4, ipv6 };

std::string_view to_string(Method method);
std::string_view to_string(AddressFamily family);

struct TlsOptions {
  bool verify_peer = true;
  std::string ca_file{};      // empty: the system trust store
  std::string server_name{};  // empty: the URL's host (SNI and certificate name check)
};

struct Target {
  Url url;
  Method method = Method::get;
  Headers headers;   // extra request headers, after the ones fetchd always sends
  std::string body;  // sent with POST and PUT (Content-Length framed); none with GET and HEAD
  std::chrono::milliseconds timeout{10'000};
  std::size_t max_header_bytes = std::size_t{64} * 1024;
  std::size_t max_body_bytes = std::size_t{1024} * 1024;
  TlsOptions tls;
  AddressFamily family = AddressFamily::any;
  int max_redirects = 0;   // 0: a 3xx is the result
  bool keep_body = false;  // copy the bytes read (up to max_body_bytes) into the result
};

inline constexpr std::size_t kMaxRequestBody = std::size_t{1} << 20;

// A target for a URL with every other setting at its default.
Expected<Target> make_target(std::string_view url);

// Checks what parse_url cannot: header names are tokens, values carry no control characters, limits
// and timeouts are positive, a body only with POST or PUT and at most kMaxRequestBody. The error
// names the offending field.
Expected<Target> validate(Target target);

// True when the name and value could be written into a request without changing its framing.
bool is_valid_header_name(std::string_view name);
bool is_valid_header_value(std::string_view value);

}  // namespace fetchd::http
