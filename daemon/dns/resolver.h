#pragma once

// Asynchronous name resolution on the event loop, with c-ares. Unlike asio::ip::tcp::resolver
// (which runs getaddrinfo on one private thread, one lookup at a time), lookups here run
// concurrently on the caller's thread: a name whose server never answers delays nobody else.
// Honours /etc/hosts and /etc/resolv.conf; an explicit server list replaces resolv.conf's servers.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>

#include "dns/resolv_conf.h"

namespace fetchd::dns {

enum class Family { any, ipv4, ipv6 };

// Failures, as std::error_code in dns_error_category().
enum class DnsError {
  not_found = 1,   // NXDOMAIN or no address of the wanted family
  timeout,         // no server answered in time
  server_failure,  // SERVFAIL, REFUSED, bad reply
  bad_name,        // not a valid host name
  no_servers,      // nothing configured to ask
  other,
};
const std::error_category& dns_error_category();
std::error_code make_error_code(DnsError error);

struct ResolverOptions {
  // "127.0.0.1", "127.0.0.1:5353", "[::1]:53". Empty: the servers of /etc/resolv.conf.
  std::vector<std::string> servers;
  // Per-try timeout and tries per server. Unset: resolv.conf's `options timeout: attempts:` (then
  // RES_OPTIONS), else glibc's defaults, 5 s and 2 (resolv_conf.h). c-ares doubles the timeout
  // at each round over the servers, so one server and 2 tries wait timeout + 2 x timeout.
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<int> tries;
  // Read /etc/hosts first (as the system does). Tests that want only their DNS server turn it off.
  bool use_hosts_file = true;
  // Read for servers, search domains and the retry options; tests point it at a file of their own.
  std::filesystem::path resolv_conf = "/etc/resolv.conf";
};

struct Resolution {
  std::error_code error;
  std::string message;  // for people: "www.example.test: Domain name not found"
  std::vector<asio::ip::address> addresses;  // in the order to try
};

class Resolver {
 public:
  // Throws std::runtime_error if c-ares cannot be initialised (a start-up failure).
  Resolver(asio::any_io_executor executor, const ResolverOptions& options = {});
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // IP literals are returned without a lookup. Honours per-operation cancellation (terminal,
  // partial, total): a cancelled lookup completes at once with asio::error::operation_aborted.
  // Once no caller waits for any query, c-ares' queries are cancelled too (c-ares 1.18 cannot
  // cancel one query of several), so an abandoned lookup keeps no timer or socket busy.
  asio::awaitable<Resolution> resolve(std::string host, Family family);

  // Completes every pending lookup with operation_aborted at once (shutdown).
  void cancel_all();

  // The timeout and tries in effect, and where they came from.
  const RetryOptions& retry() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fetchd::dns

template <>
struct std::is_error_code_enum<fetchd::dns::DnsError> : std::true_type {};
