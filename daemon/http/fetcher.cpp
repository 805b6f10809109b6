#include "http/fetcher.h"

#include <array>
#include <ctime>
#include <optional>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/no_throw.h"
#include "common/version.h"
#include "http/response_parser.h"

namespace fetchd::http {

namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::microseconds;

// Expected failures come back as error codes, not exceptions.
constexpr std::size_t kReadBufferBytes = std::size_t{16} * 1024;

microseconds since(Clock::time_point start) {
  return duration_cast<microseconds>(Clock::now() - start);
}

std::string format_endpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  std::string text = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return text + ":" + std::to_string(endpoint.port());
}

dns::Family to_dns_family(AddressFamily family) {
  switch (family) {
    case AddressFamily::ipv4:
      return dns::Family::ipv4;
    case AddressFamily::ipv6:
      return dns::Family::ipv6;
    case AddressFamily::any:
      break;
  }
  return dns::Family::any;
}

bool family_allows(AddressFamily family, const asio::ip::address& address) {
  return family == AddressFamily::any || (family == AddressFamily::ipv4 && address.is_v4()) ||
         (family == AddressFamily::ipv6 && address.is_v6());
}

// RFC 9110 15.4: a 303 is fetched with GET (HEAD stays HEAD); so is a 301 or 302 after a POST,
// as browsers and curl do; 307 and 308 repeat the method and its body.
Method method_after_redirect(Method method, int status) {
  if (method == Method::head)
    return method;
  if (status == 303 || (method == Method::post && (status == 301 || status == 302)))
    return Method::get;
  return method;
}

std::string build_request(const Target& target, const Url& url, Method method) {
  std::string request;
  request.reserve(160 + url.target.size() + (sends_body(method) ? target.body.size() : 0));
  request.append(to_string(method)).append(" ").append(url.target).append(" HTTP/1.1\r\n");
  // The target's own Host, User-Agent or Accept replace ours rather than being sent twice.
  if (!find_header(target.headers, "Host"))
    request.append("Host: ").append(url.authority()).append("\r\n");
  if (!find_header(target.headers, "User-Agent")) {
    request.append("User-Agent: fetchd/").append(kVersion).append("\r\n");
  }
  if (!find_header(target.headers, "Accept"))
    request.append("Accept: */*\r\n");
  request.append("Connection: close\r\n");
  for (const auto& header : target.headers) {
    request.append(header.name).append(": ").append(header.value).append("\r\n");
  }
  if (sends_body(method))
    request.append("Content-Length: ").append(std::to_string(target.body.size())).append("\r\n");
  request.append("\r\n");
  if (sends_body(method))
    request.append(target.body);
  return request;
}

std::string x509_name_text(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr)
    return {};
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string text(data, length > 0 ? static_cast<std::size_t>(length) : 0);
  BIO_free(bio);
  return text;
}

std::chrono::system_clock::time_point asn1_time_point(const ASN1_TIME* time) {
  std::tm parts{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1)
    return {};
  return std::chrono::system_clock::from_time_t(timegm(&parts));
}

TlsInfo describe_session(SSL* ssl) {
  TlsInfo info;
  info.protocol = SSL_get_version(ssl);
  info.cipher = SSL_get_cipher_name(ssl);
  if (const X509* leaf = SSL_get0_peer_certificate(ssl)) {
    info.subject = x509_name_text(X509_get_subject_name(leaf));
    info.issuer = x509_name_text(X509_get_issuer_name(leaf));
    info.not_after = asn1_time_point(X509_get0_notAfter(leaf));
    info.chain_earliest_not_after = info.not_after;
  }
  // On the client side the presented chain includes the leaf.
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      const auto not_after = asn1_time_point(X509_get0_notAfter(sk_X509_value(chain, i)));
      if (not_after < info.chain_earliest_not_after)
        info.chain_earliest_not_after = not_after;
    }
  }
  return info;
}

}  // namespace

// One request/response exchange (one hop). Shared with its deadline handler, which closes the
// socket when the fetch runs out of time, so every pending operation ends at once.
class Fetcher::Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(Fetcher& fetcher, const asio::any_io_executor& executor, const Target& target, Url url,
           Method method)
      : fetcher_(fetcher),
        target_(target),
        method_(method),
        socket_(executor),
        deadline_(executor) {
    hop_.url = std::move(url);
  }

  asio::awaitable<Hop> run(Clock::time_point deadline) {
    const auto start = Clock::now();
    deadline_.expires_at(deadline);
    deadline_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (ec)
        return;
      self->expired_ = true;
      self->close();
    });
    // A cancelled caller makes Asio throw at the next co_await of a sub-coroutine; the socket must
    // be freed then too, not when the deadline handler finally lets go of this exchange.
    struct Release {
      Exchange& exchange;
      ~Release() {
        exchange.close();
        exchange.deadline_.cancel();
      }
    } release{*this};
    if (co_await connect()) {
      if (!hop_.url.is_tls()) {
        co_await converse(socket_);
      } else if (co_await handshake()) {
        // handshake() returns true only once it has emplaced tls_; the check cannot see into it.
        co_await converse(*tls_);  // NOLINT(bugprone-unchecked-optional-access)
      }
    }
    hop_.timings.total = since(start);
    co_return std::move(hop_);
  }

 private:
  void close() {
    std::error_code ignored;
    lowest().close(ignored);
  }
  tcp::socket& lowest() { return tls_ ? tls_->next_layer() : socket_; }

  // A cancellation that arrives while no operation is pending (its completion already queued) is
  // not delivered to the next operation, so each step looks before it starts.
  static bool cancelled(const asio::cancellation_state& state) {
    return state.cancelled() != asio::cancellation_type::none;
  }

  void fail(ErrorClass error_class, std::string message) {
    hop_.error = FetchError{error_class, phase_, std::move(message)};
  }

  // An operation failed: it ran out of time, was cancelled from outside, or the failure is real.
  void fail(const std::error_code& ec, ErrorClass error_class, std::string_view doing) {
    if (expired_) {
      fail(ErrorClass::timeout, "timed out after " + std::to_string(target_.timeout.count()) +
                                    " ms during " + std::string(to_string(phase_)));
    } else if (ec == asio::error::operation_aborted) {
      fail(ErrorClass::cancelled, "cancelled during " + std::string(to_string(phase_)));
    } else {
      fail(error_class, std::string(doing) + ": " + ec.message());
    }
  }

  asio::awaitable<std::optional<std::vector<asio::ip::address>>> resolve() {
    phase_ = Phase::resolve;
    const Url& url = hop_.url;
    std::error_code ec;
    const auto literal = asio::ip::make_address(url.host, ec);
    if (!ec && family_allows(target_.family, literal)) {
      co_return std::vector<asio::ip::address>{literal};
    }
    const auto start = Clock::now();
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timeout(socket_.get_executor(), deadline_.expiry());
    auto outcome = co_await (fetcher_.resolver_.resolve(url.host, to_dns_family(target_.family)) ||
                             timeout.async_wait(asio::use_awaitable));
    hop_.timings.dns = since(start);
    if (outcome.index() == 1) {
      expired_ = true;
      fail(std::error_code(asio::error::timed_out), ErrorClass::dns, "");
      co_return std::nullopt;
    }
    auto& resolution = std::get<0>(outcome);
    if (resolution.error == asio::error::operation_aborted) {
      fail(resolution.error, ErrorClass::dns, "");
      co_return std::nullopt;
    }
    if (resolution.error || resolution.addresses.empty()) {
      fail(ErrorClass::dns,
           resolution.message.empty() ? url.host + ": no address" : resolution.message);
      co_return std::nullopt;
    }
    co_return std::move(resolution.addresses);
  }

  asio::awaitable<bool> connect() {
    auto addresses = co_await resolve();
    if (!addresses)
      co_return false;
    phase_ = Phase::connect;
    const auto start = Clock::now();
    std::error_code last_error;
    std::string last_endpoint;
    for (const auto& address : *addresses) {
      const tcp::endpoint endpoint(address, hop_.url.port);
      last_endpoint = format_endpoint(endpoint);
      close();
      std::error_code ec;
      socket_.open(endpoint.protocol(), ec);
      if (ec) {
        // Out of descriptors (EMFILE) or similar: a result, never a crash.
        fail(ErrorClass::connect, "cannot open a socket: " + ec.message());
        co_return false;
      }
      if (cancelled(co_await asio::this_coro::cancellation_state)) {
        last_error = asio::error::operation_aborted;
        break;
      }
      auto [connect_error] = co_await socket_.async_connect(endpoint, kNoThrow);
      if (!connect_error) {
        hop_.remote_address = last_endpoint;
        hop_.timings.connect = since(start);
        co_return true;
      }
      last_error = connect_error;
      if (expired_ || connect_error == asio::error::operation_aborted)
        break;
    }
    fail(last_error, ErrorClass::connect, "connect to " + last_endpoint);
    co_return false;
  }

  asio::awaitable<bool> handshake() {
    phase_ = Phase::tls_handshake;
    auto context = fetcher_.tls_context(target_.tls);
    if (!context) {
      fail(ErrorClass::tls, context.error().message);
      co_return false;
    }
    tls_.emplace(std::move(socket_), **context);
    SSL* ssl = tls_->native_handle();
    const std::string& name =
        target_.tls.server_name.empty() ? hop_.url.host : target_.tls.server_name;
    std::error_code not_an_address;
    asio::ip::make_address(name, not_an_address);
    const bool name_is_address = !not_an_address;
    // SNI carries host names only, never IP addresses (RFC 6066).
    if (!name_is_address)
      SSL_set_tlsext_host_name(ssl, name.c_str());
    if (target_.tls.verify_peer) {
      tls_->set_verify_mode(asio::ssl::verify_peer);
      if (name_is_address) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
      } else {
        SSL_set1_host(ssl, name.c_str());
      }
    } else {
      tls_->set_verify_mode(asio::ssl::verify_none);
    }
    const auto start = Clock::now();
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, kNoThrow);
    if (ec) {
      const long verify_result = SSL_get_verify_result(ssl);
      if (!expired_ && ec != asio::error::operation_aborted && verify_result != X509_V_OK) {
        fail(ErrorClass::tls, "certificate verification failed: " +
                                  std::string(X509_verify_cert_error_string(verify_result)));
      } else {
        fail(ec, ErrorClass::tls, "TLS handshake");
      }
      co_return false;
    }
    hop_.timings.tls_handshake = since(start);
    hop_.tls = describe_session(ssl);
    co_return true;
  }

  template <class Stream>
  asio::awaitable<void> converse(Stream& stream) {
    phase_ = Phase::write_request;
    const std::string request = build_request(target_, hop_.url, method_);
    auto [write_error, written] =
        co_await asio::async_write(stream, asio::buffer(request), kNoThrow);
    if (write_error) {
      fail(write_error, ErrorClass::io, "writing request");
      co_return;
    }
    const auto request_written = Clock::now();

    phase_ = Phase::read_headers;
    ResponseParser parser(
        ParserLimits{target_.max_header_bytes, target_.max_body_bytes, target_.keep_body},
        method_ == Method::head);
    auto status = ResponseParser::Status::need_more;
    while (status == ResponseParser::Status::need_more) {
      if (cancelled(co_await asio::this_coro::cancellation_state)) {
        fail(asio::error::operation_aborted, ErrorClass::io, "");
        break;
      }
      auto [read_error, count] = co_await stream.async_read_some(asio::buffer(buffer_), kNoThrow);
      if (count > 0) {
        if (!hop_.timings.first_byte)
          hop_.timings.first_byte = since(request_written);
        status = parser.feed(std::string_view(buffer_.data(), count));
        if (parser.headers_complete())
          phase_ = Phase::read_body;
      }
      if (status != ResponseParser::Status::need_more || !read_error)
        continue;
      // Servers commonly close a TLS connection without close_notify; the HTTP framing still tells
      // whether the response is complete, so treat it as the end of the stream.
      if (read_error == asio::error::eof || read_error == asio::ssl::error::stream_truncated) {
        status = parser.finish();
      } else {
        fail(read_error, ErrorClass::io, "reading response");
        break;
      }
    }
    if (status == ResponseParser::Status::error) {
      const auto parse_error = parser.error();
      if (parse_error == ParseError::headers_too_large) {
        fail(ErrorClass::too_large, parser.error_detail());
      } else if (parse_error == ParseError::unexpected_eof) {
        fail(ErrorClass::io, parser.error_detail());
      } else {
        fail(ErrorClass::protocol, parser.error_detail());
      }
    }
    auto response = parser.take_response();
    hop_.version_major = response.version_major;
    hop_.version_minor = response.version_minor;
    hop_.status = response.status;
    hop_.reason = std::move(response.reason);
    hop_.headers = std::move(response.headers);
    hop_.trailers = std::move(response.trailers);
    hop_.body_bytes = response.body_bytes;
    hop_.body_truncated = response.body_truncated;
    hop_.body = std::move(response.body);
  }

  Fetcher& fetcher_;
  const Target& target_;
  Method method_;
  Hop hop_;
  tcp::socket socket_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
  asio::steady_timer deadline_;
  Phase phase_ = Phase::resolve;
  bool expired_ = false;
  std::array<char, kReadBufferBytes> buffer_;
};

Fetcher::Fetcher(dns::Resolver& resolver) : resolver_(resolver) {}
Fetcher::~Fetcher() = default;

Expected<asio::ssl::context*> Fetcher::tls_context(const TlsOptions& options) {
  auto key = std::make_pair(options.verify_peer, options.ca_file);
  auto found = tls_contexts_.find(key);
  if (found != tls_contexts_.end())
    return found->second.get();
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  context->set_options(asio::ssl::context::default_workarounds |
                       asio::ssl::context::no_compression);
  std::error_code ec;
  if (options.verify_peer) {
    if (options.ca_file.empty()) {
      context->set_default_verify_paths(ec);
    } else {
      context->load_verify_file(options.ca_file, ec);
    }
  }
  if (ec) {
    return Error{"cannot load CA " +
                 (options.ca_file.empty() ? std::string("store") : "file " + options.ca_file) +
                 ": " + ec.message()};
  }
  auto* raw = context.get();
  tls_contexts_.emplace(std::move(key), std::move(context));
  return raw;
}

asio::awaitable<FetchResult> Fetcher::fetch(Target target) {
  FetchResult result;
  result.started = std::chrono::system_clock::now();
  const auto start = Clock::now();
  const auto deadline = start + target.timeout;
  const auto executor = co_await asio::this_coro::executor;
  Url url = target.url;
  Method method = target.method;
  for (;;) {
    auto exchange = std::make_shared<Exchange>(*this, executor, target, url, method);
    try {
      result.hops.push_back(co_await exchange->run(deadline));
    } catch (const std::system_error& error) {
      // Asio refuses to start an awaitable once the caller has been cancelled.
      if (error.code() != asio::error::operation_aborted)
        throw;
      Hop cancelled;
      cancelled.url = url;
      cancelled.error = FetchError{ErrorClass::cancelled, Phase::resolve, "cancelled"};
      result.hops.push_back(std::move(cancelled));
      break;
    }
    const Hop& hop = result.hops.back();
    const bool is_redirect = hop.status >= 300 && hop.status <= 399 && hop.status != 304;
    if (hop.error || !is_redirect)
      break;
    const auto location = find_header(hop.headers, "Location");
    if (!location)
      break;
    if (static_cast<int>(result.hops.size()) > target.max_redirects) {
      result.redirect_limit_reached = target.max_redirects > 0;
      break;
    }
    auto next = url.resolve_reference(*location);
    if (!next) {
      result.hops.back().error = FetchError{ErrorClass::protocol, Phase::read_headers,
                                            "bad Location: " + next.error().message};
      break;
    }
    url = std::move(next).value();
    method = method_after_redirect(method, hop.status);
  }
  result.total = since(start);
  co_return result;
}

}  // namespace fetchd::http
