#pragma once

// The outcome of one fetch: what happened on each hop, classified errors, timings, TLS details.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/headers.h"
#include "http/url.h"

namespace fetchd::http {

// `cancelled`: the fetch was stopped from outside (shutdown, target removed), not a property of the
// server.
enum class ErrorClass { none, dns, connect, timeout, tls, protocol, too_large, io, cancelled };
enum class Phase { resolve, connect, tls_handshake, write_request, read_headers, read_body };

std::string_view to_string(ErrorClass error_class);
std::string_view to_string(Phase phase);

struct FetchError {
  ErrorClass error_class = ErrorClass::none;
  Phase phase = Phase::resolve;  // where it happened (for a timeout: the phase it hit)
  std::string message;           // for people, e.g. "connect to 127.0.0.1:81: Connection refused"
  explicit operator bool() const { return error_class != ErrorClass::none; }
};

// Microseconds on a monotonic clock; a phase that did not run is empty.
struct Timings {
  std::optional<std::chrono::microseconds> dns;
  std::optional<std::chrono::microseconds> connect;
  std::optional<std::chrono::microseconds> tls_handshake;
  std::optional<std::chrono::microseconds> first_byte;  // request written -> first response byte
  std::chrono::microseconds total{0};
};

struct TlsInfo {
  std::string protocol;  // "TLSv1.3"
  std::string cipher;
  std::string subject;  // leaf certificate, one-line RFC 2253 form
  std::string issuer;
  std::chrono::system_clock::time_point not_after;
  std::chrono::system_clock::time_point
      chain_earliest_not_after;  // over every presented certificate
};

// One request/response exchange. A fetch that follows redirects has one hop per request.
struct Hop {
  Url url;
  std::string remote_address;  // "127.0.0.1:8080", "[::1]:443"; empty if never connected
  FetchError error;
  int version_major = 0;
  int version_minor = 0;
  int status = 0;  // 0 when no response head arrived
  std::string reason;
  Headers headers;
  Headers trailers;
  std::size_t body_bytes = 0;
  bool body_truncated = false;
  std::string body;  // only when the target asked to keep it
  Timings timings;
  std::optional<TlsInfo> tls;
};

struct FetchResult {
  std::chrono::system_clock::time_point started;
  std::vector<Hop> hops;  // never empty once fetch() returns; the last is the outcome
  std::chrono::microseconds total{0};
  bool redirect_limit_reached = false;  // the last hop is a 3xx that was not followed

  const Hop& last() const { return hops.back(); }
  const FetchError& error() const { return hops.back().error; }
  bool ok() const { return !hops.empty() && !hops.back().error; }
};

}  // namespace fetchd::http
