// Self-tests of the shared fixtures: if these fail, every test built on them is suspect.

#include <filesystem>
#include <memory>
#include <optional>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/read.hpp>
#include <asio/ssl.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/no_throw.h"
#include "support/nginx.h"
#include "support/run_until.h"
#include "support/scripted_server.h"
#include "support/test_pki.h"

namespace fetchd::test {
namespace {

using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
constexpr std::string_view kRequest = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
constexpr std::string_view kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

struct Reply {
  std::error_code error;  // the first failure; a clean EOF after the response is none
  std::string bytes;      // everything read
};

// Writes the request and reads until the server closes. The stream belongs to the caller, which
// awaits this at once.
template <class Stream>
asio::awaitable<Reply> exchange(Stream& stream, std::string request) {
  Reply reply;
  auto [write_error, written] = co_await asio::async_write(stream, asio::buffer(request), kNoThrow);
  if (write_error) {
    reply.error = write_error;
    co_return reply;
  }
  auto [read_error, read] =
      co_await asio::async_read(stream, asio::dynamic_buffer(reply.bytes), kNoThrow);
  if (read_error != asio::error::eof) {
    reply.error = read_error;
  }
  co_return reply;
}

asio::awaitable<Reply> plain_exchange(tcp::endpoint server, std::string request) {
  tcp::socket socket(co_await asio::this_coro::executor);
  auto [error] = co_await socket.async_connect(server, kNoThrow);
  if (error) {
    co_return Reply{error, {}};
  }
  co_return co_await exchange(socket, std::move(request));
}

// A client as strict as fetchd's: peer verification against the test CA, SNI and host name check.
asio::awaitable<Reply> tls_exchange(tcp::endpoint server, std::string host, std::string request) {
  asio::ssl::context context(asio::ssl::context::tls_client);
  context.load_verify_file(test_pki().ca_cert);
  context.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<tcp::socket> stream(co_await asio::this_coro::executor, context);
  stream.set_verify_callback(asio::ssl::host_name_verification(host));
  SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
  auto [connect_error] = co_await stream.next_layer().async_connect(server, kNoThrow);
  if (connect_error) {
    co_return Reply{connect_error, {}};
  }
  auto [handshake_error] =
      co_await stream.async_handshake(asio::ssl::stream_base::client, kNoThrow);
  if (handshake_error) {
    co_return Reply{handshake_error, {}};
  }
  co_return co_await exchange(stream, std::move(request));
}

// Runs `client` on `io` to completion.
std::optional<Reply> run_client(asio::io_context& io, asio::awaitable<Reply> client) {
  std::optional<Reply> reply;
  asio::co_spawn(io, std::move(client), [&](std::exception_ptr failure, Reply result) {
    if (failure) {
      std::rethrow_exception(failure);
    }
    reply = std::move(result);
  });
  EXPECT_TRUE(run_until(io, [&] { return reply.has_value(); }));
  return reply;
}

TEST(ScriptedServer, RecordsTheRequestAndSendsExactBytes) {
  asio::io_context io;
  ScriptedServer server(io.get_executor(), respond_with(std::string(kResponse)));
  EXPECT_EQ(server.url("/x"), "http://127.0.0.1:" + std::to_string(server.port()) + "/x");

  // Bytes after the head stay unread by ReadRequest; Close must still end with FIN, not RST.
  const auto reply =
      run_client(io, plain_exchange(server.endpoint(), std::string(kRequest) + "extra"));
  ASSERT_TRUE(reply);
  EXPECT_FALSE(reply->error) << reply->error.message();
  EXPECT_EQ(reply->bytes, kResponse);
  EXPECT_EQ(server.requests(), std::vector<std::string>{std::string(kRequest)});
  EXPECT_EQ(server.connections(), 1u);
  EXPECT_TRUE(run_until(io, [&] { return server.open_connections() == 0; }));
}

TEST(ScriptedServer, ResetStepResetsTheConnection) {
  asio::io_context io;
  ScriptedServer server(io.get_executor(), Script{step::ReadRequest{}, step::Reset{}});
  const auto reply = run_client(io, plain_exchange(server.endpoint(), std::string(kRequest)));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->error, asio::error::connection_reset) << reply->error.message();
}

TEST(ScriptedServer, SendSlowlyDripsOneByteAtATime) {
  asio::io_context io;
  ScriptedServer server(io.get_executor(),
                        Script{step::ReadRequest{}, step::SendSlowly{"abcd", 20ms}});
  const auto start = std::chrono::steady_clock::now();
  const auto reply = run_client(io, plain_exchange(server.endpoint(), std::string(kRequest)));
  ASSERT_TRUE(reply);
  EXPECT_FALSE(reply->error) << reply->error.message();
  EXPECT_EQ(reply->bytes, "abcd");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 4 * 20ms);
}

TEST(ScriptedServer, ScriptsCanDifferPerConnection) {
  asio::io_context io;
  ScriptedServer server(io.get_executor(), [](std::size_t index) {
    return index == 0 ? Script{step::Reset{}} : respond_with(std::string(kResponse));
  });
  const auto first = run_client(io, plain_exchange(server.endpoint(), std::string(kRequest)));
  const auto second = run_client(io, plain_exchange(server.endpoint(), std::string(kRequest)));
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(first->error);
  EXPECT_EQ(second->bytes, kResponse);
}

TEST(ScriptedServer, ListensOnIpv6Loopback) {
  asio::io_context io;
  ScriptedServer server(io.get_executor(), respond_with(std::string(kResponse)), {.ipv6 = true});
  EXPECT_EQ(server.url("/"), "http://[::1]:" + std::to_string(server.port()) + "/");
  const auto reply = run_client(io, plain_exchange(server.endpoint(), std::string(kRequest)));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->bytes, kResponse);
}

TEST(ScriptedServer, ServesTlsWithTheTestPki) {
  asio::io_context io;
  auto context = make_server_context(test_pki().valid);
  ScriptedServer server(io.get_executor(), respond_with(std::string(kResponse)), {.tls = &context});
  EXPECT_EQ(server.url("/"), "https://127.0.0.1:" + std::to_string(server.port()) + "/");
  const auto reply =
      run_client(io, tls_exchange(server.endpoint(), "localhost", std::string(kRequest)));
  ASSERT_TRUE(reply);
  EXPECT_FALSE(reply->error) << reply->error.message();
  EXPECT_EQ(reply->bytes, kResponse);
  EXPECT_EQ(server.requests(), std::vector<std::string>{std::string(kRequest)});
}

TEST(ScriptedServer, HandlesAThousandConcurrentConnections) {
  constexpr std::size_t kClients = 1000;
  asio::io_context io;
  ScriptedServer server(io.get_executor(), respond_with(std::string(kResponse)));
  std::size_t good = 0;
  std::size_t done = 0;
  for (std::size_t i = 0; i < kClients; ++i) {
    asio::co_spawn(io, plain_exchange(server.endpoint(), std::string(kRequest)),
                   [&](std::exception_ptr failure, Reply reply) {
                     if (failure) {
                       std::rethrow_exception(failure);
                     }
                     ++done;
                     good += !reply.error && reply.bytes == kResponse;
                   });
  }
  ASSERT_TRUE(run_until(
      io, [&] { return done == kClients; }, 30s));
  EXPECT_EQ(good, kClients);
  EXPECT_EQ(server.connections(), kClients);
  EXPECT_EQ(server.requests().size(), kClients);
}

TEST(ScriptedServer, StopEndsHangingConnectionsAndEveryCoroutine) {
  asio::io_context io;
  std::optional<Reply> reply;
  {
    ScriptedServer server(io.get_executor(), Script{step::Hang{}});
    asio::co_spawn(io, plain_exchange(server.endpoint(), std::string(kRequest)),
                   [&](std::exception_ptr failure, Reply result) {
                     if (failure) {
                       std::rethrow_exception(failure);
                     }
                     reply = std::move(result);
                   });
    ASSERT_TRUE(run_until(io, [&] { return server.open_connections() == 1; }));
    // Hang keeps the connection even after the client's request.
    EXPECT_FALSE(run_until(
        io, [&] { return reply.has_value(); }, 50ms));
  }
  // Returns only when nothing is left: the server's coroutines have all ended.
  io.run();
  EXPECT_TRUE(reply.has_value());
}

TEST(ScriptedServer, MayBeDestroyedBeforeItsIoContextRunsAgain) {
  asio::io_context io;
  auto server = std::make_unique<ScriptedServer>(io.get_executor(), Script{step::Hang{}});
  tcp::socket client(io);
  client.connect(server->endpoint());
  ASSERT_TRUE(run_until(io, [&] { return server->open_connections() == 1; }));
  server.reset();
  // The io_context is destroyed with the coroutines still queued; ASan checks nothing leaks.
}

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr load_cert(const std::string& path) {
  std::unique_ptr<BIO, decltype(&BIO_free)> file(BIO_new_file(path.c_str(), "r"), &BIO_free);
  return X509Ptr(file ? PEM_read_bio_X509(file.get(), nullptr, nullptr, nullptr) : nullptr);
}

// What `openssl verify -CAfile ca cert` reports, as an X509_V_* code.
int verify(const std::string& cert_path, const std::string& ca_path) {
  const X509Ptr cert = load_cert(cert_path);
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> context(X509_STORE_CTX_new(),
                                                                          &X509_STORE_CTX_free);
  if (!cert || X509_STORE_load_file(store.get(), ca_path.c_str()) != 1 ||
      X509_STORE_CTX_init(context.get(), store.get(), cert.get(), nullptr) != 1) {
    return -1;
  }
  X509_verify_cert(context.get());
  return X509_STORE_CTX_get_error(context.get());
}

bool matches_host(const std::string& cert_path, const std::string& host) {
  return X509_check_host(load_cert(cert_path).get(), host.c_str(), host.size(), 0, nullptr) == 1;
}

bool matches_ip(const std::string& cert_path, const std::string& ip) {
  return X509_check_ip_asc(load_cert(cert_path).get(), ip.c_str(), 0) == 1;
}

TEST(Pki, CertificatesHaveTheirPromisedProperties) {
  const TestPki& pki = test_pki();
  for (const auto* leaf : {&pki.valid, &pki.wrong_host, &pki.expired, &pki.unknown_ca}) {
    for (const auto& path : {leaf->cert, leaf->key, leaf->chain}) {
      EXPECT_TRUE(std::filesystem::is_regular_file(path)) << path;
    }
    EXPECT_NO_THROW(make_server_context(*leaf)) << leaf->cert;
  }

  EXPECT_EQ(verify(pki.valid.cert, pki.ca_cert), X509_V_OK);
  EXPECT_TRUE(matches_host(pki.valid.cert, "localhost"));
  EXPECT_TRUE(matches_ip(pki.valid.cert, "127.0.0.1"));
  EXPECT_TRUE(matches_ip(pki.valid.cert, "::1"));

  EXPECT_EQ(verify(pki.wrong_host.cert, pki.ca_cert), X509_V_OK);
  EXPECT_FALSE(matches_host(pki.wrong_host.cert, "localhost"));
  EXPECT_FALSE(matches_ip(pki.wrong_host.cert, "127.0.0.1"));
  EXPECT_TRUE(matches_host(pki.wrong_host.cert, "other.test"));

  EXPECT_EQ(verify(pki.expired.cert, pki.ca_cert), X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_LT(X509_cmp_current_time(X509_get0_notAfter(load_cert(pki.expired.cert).get())), 0);
  EXPECT_TRUE(matches_host(pki.expired.cert, "localhost"));

  EXPECT_EQ(verify(pki.unknown_ca.cert, pki.ca_cert), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_EQ(verify(pki.unknown_ca.cert, pki.unknown_ca_cert), X509_V_OK);
  EXPECT_TRUE(matches_host(pki.unknown_ca.cert, "localhost"));
}

std::string get(std::string_view path) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
}

// Status line and body of a Connection: close response.
std::pair<std::string, std::string> split_response(const std::string& response) {
  const auto head_end = response.find("\r\n\r\n");
  return {response.substr(0, response.find("\r\n")),
          head_end == std::string::npos ? "" : response.substr(head_end + 4)};
}

TEST(Nginx, ServesItsFilesOverHttpAndHttps) {
  NginxServer nginx;
  EXPECT_EQ(nginx.url("/a"), "http://127.0.0.1:" + std::to_string(nginx.http_port()) + "/a");
  EXPECT_EQ(nginx.url("/a", true),
            "https://127.0.0.1:" + std::to_string(nginx.https_port()) + "/a");
  const tcp::endpoint http(asio::ip::address_v4::loopback(), nginx.http_port());
  const tcp::endpoint https(asio::ip::address_v4::loopback(), nginx.https_port());
  asio::io_context io;

  for (const auto& reply : {run_client(io, plain_exchange(http, get("/index.html"))),
                            run_client(io, tls_exchange(https, "localhost", get("/"))),
                            run_client(io, tls_exchange(https, "127.0.0.1", get("/")))}) {
    ASSERT_TRUE(reply);
    EXPECT_FALSE(reply->error) << reply->error.message();
    const auto [status, body] = split_response(reply->bytes);
    EXPECT_EQ(status, "HTTP/1.1 200 OK");
    EXPECT_EQ(body.size(), NginxServer::kIndexSize);
    EXPECT_EQ(body, NginxServer::index_html());
  }

  const auto big = run_client(io, plain_exchange(http, get("/big.bin")));
  ASSERT_TRUE(big);
  EXPECT_EQ(split_response(big->bytes).second, NginxServer::big_bin());

  const auto redirect = run_client(io, plain_exchange(http, get("/redirect")));
  ASSERT_TRUE(redirect);
  EXPECT_EQ(split_response(redirect->bytes).first, "HTTP/1.1 302 Moved Temporarily");

  const auto no_content = run_client(io, tls_exchange(https, "localhost", get("/nocontent")));
  ASSERT_TRUE(no_content);
  EXPECT_EQ(split_response(no_content->bytes).first, "HTTP/1.1 204 No Content");
}

}  // namespace
}  // namespace fetchd::test
