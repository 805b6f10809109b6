#pragma once

// The fetch engine: one coroutine per fetch on the caller's executor (one thread, many fetches).
// resolve -> connect -> TLS handshake -> write request -> read response, under one deadline per
// fetch (Target::timeout, across all hops); cancelling the awaiting operation (per-operation
// cancellation) ends the fetch at once and closes its socket.

#include <map>
#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "common/expected.h"
#include "dns/resolver.h"
#include "http/fetch_result.h"
#include "http/target.h"

namespace asio::ssl {
class context;
}

namespace fetchd::http {

class Fetcher {
 public:
  // The resolver must outlive the fetcher; both must outlive every fetch in flight.
  explicit Fetcher(dns::Resolver& resolver);
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  asio::awaitable<FetchResult> fetch(Target target);

 private:
  class Exchange;
  // A CA file that cannot be loaded is a per-fetch `tls` error, not a crash.
  Expected<asio::ssl::context*> tls_context(const TlsOptions& options);

  dns::Resolver& resolver_;
  // One OpenSSL context per (verify, CA file): loading a trust store is far too slow to do per
  // fetch.
  std::map<std::pair<bool, std::string>, std::unique_ptr<asio::ssl::context>> tls_contexts_;
};

}  // namespace fetchd::http
