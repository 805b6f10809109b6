#pragma once

// A loopback UDP DNS responder for resolver tests. It answers A and AAAA questions from a name ->
// addresses table, says NXDOMAIN for names it does not know, and never answers the names it is told
// to keep silent about (so a client's timeout can be tested). It runs on the executor of the code
// under test (one thread), so a test drives both with one io_context.
//
//   DnsServer dns(io.get_executor());
//   dns.add("www.example.test", asio::ip::make_address("192.0.2.1"));
//   ... resolve with ResolverOptions{.servers = {dns.address()}} ...
//   dns.queries("www.example.test") counts the questions received for it.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <asio/any_io_executor.hpp>
#include <asio/ip/address.hpp>

namespace fetchd::test {

class DnsServer {
 public:
  // Binds 127.0.0.1 on an ephemeral port and starts serving.
  explicit DnsServer(asio::any_io_executor executor);
  // Stops serving (also what stop() does): the io_context can then run out of work.
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  std::uint16_t port() const;
  // "127.0.0.1:<port>", as ResolverOptions::servers takes it.
  std::string address() const;

  // Names are matched case-insensitively, with or without a trailing dot. A name that has only
  // addresses of the other family gets an empty NOERROR answer (NODATA).
  void add(std::string_view name, const asio::ip::address& address);
  void add_silent(std::string_view name);
  // Called with each question's name (lower case, no trailing dot) as it arrives, before answering.
  void on_query(std::function<void(const std::string& name)> observer);

  std::size_t queries(std::string_view name) const;
  std::size_t total_queries() const;

  void stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace fetchd::test
