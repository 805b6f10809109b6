#pragma once

// The metrics listener: a small HTTP/1.1 server on the daemon's loop, over the protocol-independent
// listener (net/listener.h) like the control socket. GET and HEAD of /metrics (the exposition,
// streamed in pieces, gzip when asked), /-/healthy (200 while the loop runs), /-/ready (200 once
// the configuration is loaded) and / (an index); 404 for other paths, 405 for other methods, 400
// for a malformed request, 431 for a head over 8 KiB, 408 when a head takes over 10 s, 413 for a
// request body over 64 KiB. Keep-alive and pipelining (answered in order); at most `max_clients`
// connections per address (the next gets a 503), at most kMaxScrapes scrapes of /metrics in
// progress (the next gets a 503 with Retry-After: each holds a copy of what every target's series
// say, metrics/scrape.h; pipelined ones count from their request on). With credentials in
// settings.web_auth_file, every path but /-/healthy and /-/ready answers 401 to a request without
// accepted ones (web/auth.h).

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "metrics/scrape.h"
#include "net/listener.h"
#include "net/socket_file.h"

namespace fetchd::web {

struct ServerOptions {
  std::vector<std::string> listen{};  // "127.0.0.1:9516", "[::1]:9516", "/run/fetchd/web.sock"
  std::size_t max_clients = 64;
  std::chrono::milliseconds head_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
};

class Server final : private net::Protocol {
 public:
  static constexpr std::size_t kMaxHead = std::size_t{8} * 1024;
  static constexpr std::size_t kMaxBody = std::size_t{64} * 1024;
  static constexpr std::size_t kMaxScrapes = 4;

  Server(asio::io_context& loop, metrics::View view, std::function<bool()> ready,
         ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on every address of options.listen; an error names the address. Connections
  // wait in the backlog until start().
  std::optional<std::string> open();
  // The addresses open() bound that are not loopback ones (nor Unix sockets): other machines may
  // reach them.
  const std::vector<std::string>& reachable_from_other_machines() const {
    return reachable_from_other_machines_;
  }
  // Serves on `fd` too, a listening stream socket someone else created (systemd socket
  // activation); owned from now on.
  std::optional<std::string> adopt(int fd);
  void start();
  // Closes every listening socket and connection, and removes the socket files it created.
  void stop();

  std::size_t sessions() const;
  // What the last complete scrape cost: metrics::View::last_scrape points here.
  const metrics::ScrapeCost& last_scrape() const { return last_scrape_; }

 private:
  class Conversation;
  net::Accepted accept(net::Socket& socket, std::uint64_t id) override;
  std::string busy() override;
  net::Listener& add_listener(const std::string& name);

  asio::io_context& loop_;
  metrics::View view_;
  std::function<bool()> ready_;
  ServerOptions options_;
  std::vector<std::unique_ptr<net::Listener>> listeners_;
  struct CreatedFile {
    std::string path;
    net::ListeningSocket socket;
  };
  std::vector<CreatedFile> files_;
  std::vector<std::string> reachable_from_other_machines_;
  metrics::ScrapeCost last_scrape_;
  // Shared with each scrape's body, which may outlive the server in a closing session.
  std::shared_ptr<std::size_t> scrapes_in_progress_ = std::make_shared<std::size_t>(0);
};

}  // namespace fetchd::web
