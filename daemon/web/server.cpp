#include "web/server.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "common/version.h"
#include "http/headers.h"
#include "web/auth.h"
#include "web/gzip.h"
#include "web/request_parser.h"

namespace fetchd::web {

namespace {

constexpr std::string_view kIndex =
    "<!DOCTYPE html>\n<html><head><title>fetchd</title></head><body>\n<h1>fetchd</h1>\n"
    "<p><a href=\"/metrics\">Metrics</a></p>\n<p><a href=\"/-/healthy\">Health</a> · "
    "<a href=\"/-/ready\">Readiness</a></p>\n</body></html>\n";

// RFC 9110 5.6.7's IMF-fixdate: an origin server with a clock sends Date.
std::string http_date() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  std::array<char, 40> text{};
  const auto size = std::strftime(text.data(), text.size(), "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return {text.data(), size};
}

struct Head {
  int status = 200;
  std::string_view content_type = "text/plain; charset=utf-8";
  std::string extra{};  // more header lines, each ending in CRLF
  bool close = false;
};

std::string head_bytes(const Head& head, std::optional<std::size_t> content_length) {
  std::string out = "HTTP/1.1 " + std::to_string(head.status) + " ";
  out += reason_of(head.status);
  out += "\r\nDate: " + http_date() + "\r\nServer: fetchd/";
  out += kVersion;
  out += "\r\nContent-Type: ";
  out += head.content_type;
  out += "\r\n";
  if (content_length)
    out += "Content-Length: " + std::to_string(*content_length) + "\r\n";
  out += head.extra;
  if (head.close)
    out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

// A whole small response: status page, error, index.
std::string response(const Head& head, std::string_view body, bool with_body) {
  auto out = head_bytes(head, body.size());
  if (with_body)
    out += body;
  return out;
}

std::string error_response(int status, std::string_view detail, bool close) {
  std::string body = std::to_string(status) + " ";
  body += reason_of(status);
  if (!detail.empty())
    body += ": " + std::string(detail);
  body += "\n";
  return response({.status = status, .close = close}, body, true);
}

bool accepts_gzip(const Request& request) {
  const auto accept = request.field("accept-encoding");
  if (!accept)
    return false;
  std::string_view rest = *accept;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view coding = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t'))
      coding.remove_prefix(1);
    const auto semicolon = coding.find(';');
    std::string_view name = coding.substr(0, semicolon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
      name.remove_suffix(1);
    if (!http::iequals(name, "gzip") && !http::iequals(name, "x-gzip"))
      continue;
    if (semicolon == std::string_view::npos)
      return true;
    // "gzip;q=0" refuses it.
    const auto parameters = std::string(coding.substr(semicolon + 1));
    const auto q = parameters.find("q=");
    return q == std::string::npos || std::strtod(parameters.c_str() + q + 2, nullptr) > 0;
  }
  return false;
}

// The body of a scrape: the exposition's pieces, gzipped if asked, chunked on HTTP/1.1.
struct Body {
  metrics::Scrape scrape;
  std::unique_ptr<Gzip> gzip;
  bool chunked = true;
  // The server's count of scrapes in progress, this one included until it is dropped.
  std::shared_ptr<std::size_t> in_progress;
  bool finished = false;

  Body(metrics::Scrape scrape_, std::unique_ptr<Gzip> gzip_, bool chunked_,
       std::shared_ptr<std::size_t> in_progress_)
      : scrape(std::move(scrape_)),
        gzip(std::move(gzip_)),
        chunked(chunked_),
        in_progress(std::move(in_progress_)) {
    ++*in_progress;
  }
  ~Body() { --*in_progress; }
  Body(const Body&) = delete;
  Body& operator=(const Body&) = delete;

  static std::string chunk(std::string_view data) {
    std::array<char, 20> size{};
    const auto length = std::snprintf(size.data(), size.size(), "%zx\r\n", data.size());
    std::string out(size.data(), static_cast<std::size_t>(length));
    out += data;
    out += "\r\n";
    return out;
  }

  metrics::ScrapeCost* record = nullptr;  // the server's, told when this scrape completes
  double cpu_seconds = 0;
  double longest_piece_seconds = 0;

  std::optional<std::string> next() {
    const double started = metrics::thread_cpu_seconds();
    auto piece = make_piece();
    const double spent = metrics::thread_cpu_seconds() - started;
    cpu_seconds += spent;
    longest_piece_seconds = std::max(longest_piece_seconds, spent);
    if (!piece && record != nullptr) {
      record->cpu_seconds = cpu_seconds;
      record->longest_piece_seconds = longest_piece_seconds;
      ++record->scrapes;
      record = nullptr;
    }
    return piece;
  }

  // Empty while the scrape copies its rows: the listener runs the loop's other work and asks again.
  std::optional<std::string> make_piece() {
    if (finished)
      return std::nullopt;
    auto piece = scrape.next();
    if (!piece) {
      finished = true;
      std::string rest = gzip ? gzip->finish() : std::string();
      if (!chunked)
        return rest;
      return (rest.empty() ? std::string() : chunk(rest)) + "0\r\n\r\n";
    }
    if (piece->empty())
      return piece;
    std::string data = gzip ? gzip->compress(*piece) : std::move(*piece);
    return chunked ? chunk(data) : data;
  }
};

}  // namespace

// One connection: requests parsed from the front of the input, answered in order.
class Server::Conversation final : public net::Conversation {
 public:
  Conversation(Server& server, const asio::any_io_executor& executor, std::string peer)
      : server_(server), head_timer_(executor), peer_(std::move(peer)) {}
  ~Conversation() override { *alive_ = false; }
  Conversation(const Conversation&) = delete;
  Conversation& operator=(const Conversation&) = delete;

  net::Consumed receive(std::string_view input, net::Exchange& exchange) override {
    exchange_ = &exchange;
    if (skip_body_ > 0) {
      const auto skipped = std::min(skip_body_, input.size());
      skip_body_ -= skipped;
      return {skipped, false};
    }
    if (!head_started_) {
      head_started_ = true;
      arm_head_timer();
    }
    auto outcome = parse_request_head(input, kMaxHead);
    if (std::holds_alternative<std::monostate>(outcome))
      return {};
    head_started_ = false;
    head_timer_.cancel();
    if (const auto* error = std::get_if<RequestParseError>(&outcome)) {
      const int status = status_of(error->error);
      spdlog::debug("web: {} from {}: {}", status, peer_, error->detail);
      exchange.reserve()(error_response(status, error->detail, true));
      return {input.size(), true};
    }
    auto& parsed = std::get<ParsedHead>(outcome);
    const Request& request = parsed.request;
    if (request.content_length > kMaxBody) {
      exchange.reserve()(error_response(413, "a request body of at most 64 KiB", true));
      return {input.size(), true};
    }
    skip_body_ = request.content_length;
    answer(request, exchange);
    return {parsed.head_bytes, !request.keep_alive};
  }

 private:
  void arm_head_timer() {
    head_timer_.expires_after(server_.options_.head_timeout);
    head_timer_.async_wait([this, alive = alive_](std::error_code error) {
      if (error || !*alive || exchange_ == nullptr)
        return;
      spdlog::debug("web: 408 to {}: no complete request head within {} ms", peer_,
                    server_.options_.head_timeout.count());
      exchange_->reserve()(error_response(408, "", true));
      exchange_->end_input();
    });
  }

  void answer(const Request& request, net::Exchange& exchange) {
    const bool head_only = request.method == "HEAD";
    const bool close = !request.keep_alive;
    if (request.method != "GET" && !head_only) {
      exchange.reserve()(response({.status = 405, .extra = "Allow: GET, HEAD\r\n", .close = close},
                                  "405 Method Not Allowed\n", true));
      return;
    }
    const auto& path = request.path;
    // Health and readiness say nothing but OK, so probes need no credentials.
    const bool open_path = path == "/-/healthy" || path == "/-/ready";
    const auto& auth = server_.view_.settings().web_auth;
    if (auth.enabled() && !open_path && !authorized(auth, request.field("authorization"))) {
      spdlog::debug("web: 401 to {}: {} {} without accepted credentials", peer_, request.method,
                    path);
      exchange.reserve()(response({.status = 401, .extra = challenges(auth), .close = close},
                                  "401 Unauthorized\n", !head_only));
      return;
    }
    if (path == "/metrics") {
      scrape(request, exchange, head_only, close);
    } else if (path == "/-/healthy") {
      exchange.reserve()(response({.close = close}, "OK\n", !head_only));
    } else if (path == "/-/ready") {
      const bool ready = server_.ready_();
      exchange.reserve()(response({.status = ready ? 200 : 503, .close = close},
                                  ready ? "OK\n" : "not ready: loading the configuration\n",
                                  !head_only));
    } else if (path == "/") {
      exchange.reserve()(response({.content_type = "text/html; charset=utf-8", .close = close},
                                  kIndex, !head_only));
    } else {
      exchange.reserve()(response({.status = 404, .close = close}, "404 Not Found\n", !head_only));
    }
  }

  void scrape(const Request& request, net::Exchange& exchange, bool head_only, bool close) {
    const auto format = metrics::negotiate(request.field("accept").value_or(""));
    const bool gzip = accepts_gzip(request);
    // HTTP/1.0 has no chunked coding: the body ends with the connection.
    const bool chunked = request.version_minor >= 1;
    Head head{.content_type = metrics::content_type(format),
              .extra = std::string(gzip ? "Content-Encoding: gzip\r\n" : "") +
                       "Vary: Accept, Accept-Encoding\r\n" +
                       (chunked ? "Transfer-Encoding: chunked\r\n" : ""),
              .close = close || !chunked};
    if (head_only) {
      exchange.reserve()(head_bytes(head, std::nullopt));
      return;
    }
    if (*server_.scrapes_in_progress_ >= kMaxScrapes) {
      spdlog::debug("web: 503 to {}: {} scrapes in progress", peer_, kMaxScrapes);
      exchange.reserve()(response({.status = 503, .extra = "Retry-After: 1\r\n", .close = close},
                                  "503 Service Unavailable: " + std::to_string(kMaxScrapes) +
                                      " scrapes of /metrics are in progress\n",
                                  true));
      return;
    }
    auto body = std::make_shared<Body>(metrics::Scrape(server_.view_, format),
                                       gzip ? std::make_unique<Gzip>() : nullptr, chunked,
                                       server_.scrapes_in_progress_);
    body->record = &server_.last_scrape_;
    exchange.reserve_streamed()(head_bytes(head, std::nullopt), [body] { return body->next(); });
    if (!chunked)
      exchange.end_input();
  }

  Server& server_;
  asio::steady_timer head_timer_;
  std::string peer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  net::Exchange* exchange_ = nullptr;  // the session's, which owns this conversation
  bool head_started_ = false;
  std::size_t skip_body_ = 0;
};

Server::Server(asio::io_context& loop, metrics::View view, std::function<bool()> ready,
               ServerOptions options)
    : loop_(loop), view_(std::move(view)), ready_(std::move(ready)), options_(std::move(options)) {
  view_.last_scrape = &last_scrape_;
}

Server::~Server() {
  stop();
}

net::Listener& Server::add_listener(const std::string& name) {
  listeners_.push_back(std::make_unique<net::Listener>(
      loop_, static_cast<net::Protocol&>(*this),
      net::ListenerOptions{"web " + name, options_.max_clients, options_.idle_timeout,
                           std::size_t{1024} * 1024, 16, true}));
  return *listeners_.back();
}

std::optional<std::string> Server::open() {
  for (const auto& address : options_.listen) {
    if (address.starts_with("/")) {
      auto created = net::create_socket_file({.path = address, .mode = 0660, .group = ::getegid()});
      if (!created)
        return "web_listen " + address + ": " + created.error().message;
      files_.push_back({address, *created});
      if (const auto error = add_listener(address).adopt(created->fd))
        return "web_listen " + address + ": " + error.message();
      continue;
    }
    const auto colon = address.rfind(':');
    std::string host = address.substr(0, colon);
    if (host.starts_with("["))
      host = host.substr(1, host.size() - 2);
    std::error_code error;
    const auto ip = asio::ip::make_address(host, error);
    if (error)
      return "web_listen " + address + ": " + error.message();
    if (!ip.is_loopback())
      reachable_from_other_machines_.push_back(address);
    const asio::ip::tcp::endpoint endpoint(
        ip, static_cast<unsigned short>(std::stoul(address.substr(colon + 1))));
    asio::ip::tcp::acceptor acceptor(loop_);
    acceptor.open(endpoint.protocol(), error);
    if (!error)
      acceptor.set_option(asio::socket_base::reuse_address(true), error);
    if (!error && ip.is_v6())
      acceptor.set_option(asio::ip::v6_only(true), error);
    if (!error)
      acceptor.bind(endpoint, error);
    if (!error)
      acceptor.listen(asio::socket_base::max_listen_connections, error);
    if (error)
      return "web_listen " + address + ": " + error.message();
    if (const auto adopted = add_listener(address).adopt(acceptor.release()))
      return "web_listen " + address + ": " + adopted.message();
  }
  return std::nullopt;
}

std::optional<std::string> Server::adopt(int fd) {
  if (const auto error = add_listener("fd " + std::to_string(fd)).adopt(fd))
    return "metrics socket fd " + std::to_string(fd) + ": " + error.message();
  return std::nullopt;
}

void Server::start() {
  for (auto& listener : listeners_)
    listener->start();
}

void Server::stop() {
  for (auto& listener : listeners_)
    listener->stop();
  for (const auto& file : files_)
    net::remove_socket_file(file.path, file.socket);
  files_.clear();
}

std::size_t Server::sessions() const {
  std::size_t count = 0;
  for (const auto& listener : listeners_)
    count += listener->sessions();
  return count;
}

net::Accepted Server::accept(net::Socket& socket, std::uint64_t id) {
  std::string peer = "connection " + std::to_string(id);
  return {std::make_unique<Conversation>(*this, socket.get_executor(), peer), std::move(peer)};
}

std::string Server::busy() {
  return error_response(503, "too many connections", true);
}

}  // namespace fetchd::web
