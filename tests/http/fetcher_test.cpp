#include "http/fetcher.h"

#include <optional>
#include <thread>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include "common/version.h"
#include "support/run_until.h"
#include "support/scripted_server.h"
#include "support/test_pki.h"

namespace fetchd::http {
namespace {

using namespace std::chrono_literals;
using test::respond_with;
using test::Script;
using test::ScriptedServer;
namespace step = test::step;

class FetcherTest : public ::testing::Test {
 protected:
  Target target_for(const std::string& url) {
    auto target = make_target(url);
    EXPECT_TRUE(target) << target.error().message;
    return *target;
  }

  // Runs one fetch to completion on the test's loop (which also runs the scripted server).
  FetchResult fetch(Target target) {
    std::optional<FetchResult> result;
    asio::co_spawn(io_, fetcher_.fetch(std::move(target)),
                   [&](std::exception_ptr error, FetchResult value) {
                     if (error)
                       std::rethrow_exception(error);
                     result = std::move(value);
                   });
    EXPECT_TRUE(test::run_until(
        io_, [&] { return result.has_value(); }, 20s));
    return result.value_or(FetchResult{});
  }

  FetchResult fetch_from(const Script& script, std::string_view path = "/") {
    ScriptedServer server(io_.get_executor(), script);
    return fetch(target_for(server.url(path)));
  }

  asio::io_context io_;
  dns::Resolver resolver_{io_.get_executor()};
  Fetcher fetcher_{resolver_};
};

TEST_F(FetcherTest, SendsTheDocumentedRequest) {
  ScriptedServer server(io_.get_executor(), respond_with("HTTP/1.1 204 No Content\r\n\r\n"));
  auto target = target_for(server.url("/path?q=1"));
  target.headers.push_back({"X-Probe", "one"});
  target.headers.push_back({"X-Probe", "two"});
  const auto result = fetch(target);
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0],
            "GET /path?q=1 HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.port()) +
                "\r\nUser-Agent: fetchd/" + kVersion +
                "\r\nAccept: */*\r\nConnection: close\r\n"
                "X-Probe: one\r\nX-Probe: two\r\n\r\n");
}

TEST_F(FetcherTest, TargetHeadersReplaceDefaults) {
  ScriptedServer server(io_.get_executor(), respond_with("HTTP/1.1 204 No Content\r\n\r\n"));
  auto target = target_for(server.url("/"));
  target.method = Method::head;
  target.headers.push_back({"Host", "virtual.test"});
  target.headers.push_back({"User-Agent", "probe"});
  ASSERT_TRUE(fetch(target).ok());
  EXPECT_EQ(server.requests().at(0),
            "HEAD / HTTP/1.1\r\nAccept: */*\r\nConnection: close\r\nHost: virtual.test\r\n"
            "User-Agent: probe\r\n\r\n");
}

TEST_F(FetcherTest, PostAndPutSendTheBodyWithItsLength) {
  const std::string body = "{\"text\": \"fetchd\nprobe\"}";
  ScriptedServer server(io_.get_executor(),
                        Script{step::ReadRequest{}, step::ReadBody{body.size()},
                               step::Send{"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"}});
  auto target = target_for(server.url("/hook"));
  target.method = Method::post;
  target.body = body;
  target.headers.push_back({"Content-Type", "application/json"});
  const auto result = fetch(target);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.last().status, 201);
  EXPECT_EQ(server.requests().at(0),
            "POST /hook HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.port()) +
                "\r\nUser-Agent: fetchd/" + kVersion +
                "\r\nAccept: */*\r\nConnection: close\r\nContent-Type: application/json\r\n"
                "Content-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body);

  // An empty PUT still says its length: a server must not wait for a body.
  ScriptedServer put_server(io_.get_executor(), respond_with("HTTP/1.1 204 No Content\r\n\r\n"));
  auto put = target_for(put_server.url("/"));
  put.method = Method::put;
  ASSERT_TRUE(fetch(put).ok());
  EXPECT_NE(put_server.requests().at(0).find("PUT / HTTP/1.1\r\n"), std::string::npos);
  EXPECT_NE(put_server.requests().at(0).find("\r\nContent-Length: 0\r\n\r\n"), std::string::npos);
}

TEST_F(FetcherTest, RedirectsAfterAPostFollowRfc9110) {
  const std::string body = "a=1";
  // 303, and 302 after a POST: GET without the body; 307 and 308: the POST again, body and all.
  for (const int status : {303, 302, 307, 308}) {
    const bool repeats = status == 307 || status == 308;
    ScriptedServer server(io_.get_executor(), [&](std::size_t index) {
      if (index == 0) {
        return Script{step::ReadRequest{}, step::ReadBody{body.size()},
                      step::Send{"HTTP/1.1 " + std::to_string(status) +
                                 " Moved\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n"}};
      }
      const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
      if (repeats)
        return Script{step::ReadRequest{}, step::ReadBody{body.size()}, step::Send{ok}};
      return Script{step::ReadRequest{}, step::Send{ok}};
    });
    auto target = target_for(server.url("/form"));
    target.method = Method::post;
    target.body = body;
    target.max_redirects = 1;
    const auto result = fetch(target);
    ASSERT_TRUE(result.ok()) << status << ": " << result.error().message;
    ASSERT_EQ(server.requests().size(), 2u) << status;
    const std::string second = server.requests()[1];
    EXPECT_EQ(second.starts_with(repeats ? "POST /next " : "GET /next "), true) << second;
    EXPECT_EQ(second.ends_with("\r\n\r\n" + (repeats ? body : std::string())), true) << second;
    EXPECT_EQ(second.find("Content-Length") != std::string::npos, repeats) << second;
  }
}

TEST_F(FetcherTest, ReadsAContentLengthResponse) {
  ScriptedServer server(
      io_.get_executor(),
      respond_with("HTTP/1.1 200 OK\r\nServer: scripted\r\nContent-Length: 5\r\n\r\nhello"));
  const auto result = fetch(target_for(server.url("/")));
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_EQ(result.hops.size(), 1u);
  const Hop& hop = result.last();
  EXPECT_EQ(hop.status, 200);
  EXPECT_EQ(hop.reason, "OK");
  EXPECT_EQ(hop.version_major, 1);
  EXPECT_EQ(hop.version_minor, 1);
  EXPECT_EQ(hop.headers, (Headers{{"Server", "scripted"}, {"Content-Length", "5"}}));
  EXPECT_EQ(hop.body_bytes, 5u);
  EXPECT_FALSE(hop.body_truncated);
  EXPECT_EQ(hop.remote_address, "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_FALSE(hop.timings.dns);  // an IP literal needs no lookup
  ASSERT_TRUE(hop.timings.connect);
  ASSERT_TRUE(hop.timings.first_byte);
  EXPECT_FALSE(hop.timings.tls_handshake);
  EXPECT_GE(hop.timings.total, *hop.timings.connect + *hop.timings.first_byte);
  EXPECT_GE(result.total, hop.timings.total);
  EXPECT_GT(result.started.time_since_epoch().count(), 0);
}

TEST_F(FetcherTest, OneByteAtATimeGivesTheSameResult) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
      "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n";
  const auto whole = fetch_from(respond_with(response));
  const auto dripped =
      fetch_from(Script{step::ReadRequest{}, step::SendSlowly{response, 0ms}, step::Close{}});
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  ASSERT_TRUE(dripped.ok()) << dripped.error().message;
  for (const auto* result : {&whole, &dripped}) {
    EXPECT_EQ(result->last().status, 200);
    EXPECT_EQ(result->last().body_bytes, 5u);
    EXPECT_EQ(result->last().trailers, (Headers{{"X-Trailer", "t"}}));
  }
  EXPECT_EQ(whole.last().headers, dripped.last().headers);
}

TEST_F(FetcherTest, ReadsUntilCloseWithoutFraming) {
  const auto result = fetch_from(respond_with("HTTP/1.1 200 OK\r\n\r\nuntil close"));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.last().body_bytes, 11u);
}

TEST_F(FetcherTest, ResponsesWithoutBodyCompleteWithoutWaitingForClose) {
  // The server never closes: the fetch must end on framing alone, long before its deadline.
  for (const std::string head : {"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
                                 "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"}) {
    auto target = target_for("http://127.0.0.1/");
    ScriptedServer server(io_.get_executor(),
                          Script{step::ReadRequest{}, step::Send{head}, step::Hang{}});
    target = target_for(server.url("/"));
    target.timeout = 5s;
    const auto result = fetch(target);
    ASSERT_TRUE(result.ok()) << head << result.error().message;
    EXPECT_EQ(result.last().body_bytes, 0u);
    EXPECT_LT(result.total, 2s);
  }
}

TEST_F(FetcherTest, HeadIgnoresContentLength) {
  ScriptedServer server(
      io_.get_executor(),
      Script{step::ReadRequest{}, step::Send{"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"},
             step::Hang{}});
  auto target = target_for(server.url("/"));
  target.method = Method::head;
  const auto result = fetch(target);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.last().status, 200);
  EXPECT_EQ(result.last().body_bytes, 0u);
  EXPECT_LT(result.total, 2s);
}

TEST_F(FetcherTest, SkipsInterimResponses) {
  const auto result = fetch_from(
      respond_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.last().status, 200);
  EXPECT_EQ(result.last().headers, (Headers{{"Content-Length", "2"}}));
  EXPECT_EQ(result.last().body_bytes, 2u);
}

TEST_F(FetcherTest, SlowDripPastTheDeadlineTimesOutNamingThePhase) {
  ScriptedServer server(
      io_.get_executor(),
      Script{step::ReadRequest{},
             step::SendSlowly{
                 "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'), 20ms}});
  auto target = target_for(server.url("/"));
  target.timeout = 300ms;
  const auto result = fetch(target);
  EXPECT_EQ(result.error().error_class, ErrorClass::timeout);
  EXPECT_EQ(result.error().phase, Phase::read_headers);
  EXPECT_NE(result.error().message.find("read_headers"), std::string::npos);
  EXPECT_GE(result.total, 300ms);
  EXPECT_LT(result.total, 2s);
}

TEST_F(FetcherTest, TimeoutWhileReadingTheBodyNamesThatPhase) {
  auto target = target_for("http://127.0.0.1/");
  ScriptedServer server(
      io_.get_executor(),
      Script{step::ReadRequest{}, step::Send{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
             step::Hang{}});
  target = target_for(server.url("/"));
  target.timeout = 200ms;
  const auto result = fetch(target);
  EXPECT_EQ(result.error().error_class, ErrorClass::timeout);
  EXPECT_EQ(result.error().phase, Phase::read_body);
  EXPECT_EQ(result.last().status, 200);  // what arrived before the deadline is kept
  EXPECT_EQ(result.last().body_bytes, 3u);
}

TEST_F(FetcherTest, EndlessHeadersAreTooLarge) {
  std::string flood = "HTTP/1.1 200 OK\r\n";
  while (flood.size() < 4 * 1024 * 1024)
    flood += "X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  auto target = target_for("http://127.0.0.1/");
  ScriptedServer server(io_.get_executor(), respond_with(flood));
  target = target_for(server.url("/"));
  target.max_header_bytes = 16 * 1024;
  const auto result = fetch(target);
  EXPECT_EQ(result.error().error_class, ErrorClass::too_large) << result.error().message;
  EXPECT_EQ(result.error().phase, Phase::read_headers);
}

TEST_F(FetcherTest, ResetMidHeadersIsAnIoError) {
  const auto result = fetch_from(
      Script{step::ReadRequest{}, step::Send{"HTTP/1.1 200 OK\r\nServer: x"}, step::Reset{}});
  EXPECT_EQ(result.error().error_class, ErrorClass::io) << result.error().message;
  EXPECT_EQ(result.error().phase, Phase::read_headers);
}

TEST_F(FetcherTest, CloseMidBodyIsAnIoError) {
  const auto result = fetch_from(respond_with("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
  EXPECT_EQ(result.error().error_class, ErrorClass::io) << result.error().message;
  EXPECT_EQ(result.error().phase, Phase::read_body);
}

TEST_F(FetcherTest, MalformedResponsesAreProtocolErrors) {
  for (const std::string response :
       {"SSH-2.0-OpenSSH_9.2\r\n\r\n", "HTTP/1.1 2OO OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    const auto result = fetch_from(respond_with(response));
    EXPECT_EQ(result.error().error_class, ErrorClass::protocol) << response;
    EXPECT_FALSE(result.error().message.empty());
  }
}

TEST_F(FetcherTest, BodyBeyondTheLimitIsTruncatedNotAnError) {
  auto target = target_for("http://127.0.0.1/");
  ScriptedServer server(io_.get_executor(),
                        Script{step::ReadRequest{},
                               step::Send{"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" +
                                          std::string(5000, 'b')},
                               step::Hang{}});
  target = target_for(server.url("/"));
  target.max_body_bytes = 1000;
  target.keep_body = true;
  const auto result = fetch(target);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_TRUE(result.last().body_truncated);
  EXPECT_EQ(result.last().body_bytes, 1000u);
  EXPECT_EQ(result.last().body, std::string(1000, 'b'));
}

TEST_F(FetcherTest, RefusedConnectionIsAConnectError) {
  std::uint16_t closed_port = 0;
  {
    asio::ip::tcp::acceptor probe(io_, {asio::ip::make_address("127.0.0.1"), 0});
    closed_port = probe.local_endpoint().port();
  }
  const auto result = fetch(target_for("http://127.0.0.1:" + std::to_string(closed_port) + "/"));
  EXPECT_EQ(result.error().error_class, ErrorClass::connect);
  EXPECT_EQ(result.error().phase, Phase::connect);
  EXPECT_NE(result.error().message.find("refused"), std::string::npos) << result.error().message;
}

TEST_F(FetcherTest, FetchesOverIpv6Loopback) {
  ScriptedServer server(io_.get_executor(), respond_with("HTTP/1.1 204 No Content\r\n\r\n"),
                        {.ipv6 = true});
  const auto result = fetch(target_for(server.url("/")));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.last().remote_address, "[::1]:" + std::to_string(server.port()));
  EXPECT_EQ(server.requests().at(0).find("Host: [::1]:" + std::to_string(server.port())),
            std::string("GET / HTTP/1.1\r\n").size());
}

TEST_F(FetcherTest, AddressFamilyPreferenceIsEnforced) {
  auto target = target_for("http://127.0.0.1:9/");
  target.family = AddressFamily::ipv6;
  const auto result = fetch(target);
  EXPECT_EQ(result.error().error_class, ErrorClass::dns) << result.error().message;
}

TEST_F(FetcherTest, RedirectIsAResultByDefault) {
  const auto result = fetch_from(
      respond_with("HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.hops.size(), 1u);
  EXPECT_EQ(result.last().status, 302);
  EXPECT_FALSE(result.redirect_limit_reached);
}

TEST_F(FetcherTest, FollowsRedirectsKeepingEachHop) {
  ScriptedServer server(io_.get_executor(), [](std::size_t index) {
    if (index == 0) {
      return respond_with("HTTP/1.1 301 Moved\r\nLocation: /second\r\nContent-Length: 0\r\n\r\n");
    }
    if (index == 1) {
      return respond_with("HTTP/1.1 302 Found\r\nLocation: third?x=1\r\nContent-Length: 0\r\n\r\n");
    }
    return respond_with("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
  });
  auto target = target_for(server.url("/first"));
  target.max_redirects = 5;
  const auto result = fetch(target);
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_EQ(result.hops.size(), 3u);
  EXPECT_EQ(result.hops[0].status, 301);
  EXPECT_EQ(result.hops[1].status, 302);
  EXPECT_EQ(result.hops[1].url.target, "/second");
  EXPECT_EQ(result.hops[2].url.target, "/third?x=1");
  EXPECT_EQ(result.last().status, 200);
  for (const auto& hop : result.hops)
    EXPECT_TRUE(hop.timings.connect);
  EXPECT_FALSE(result.redirect_limit_reached);
}

TEST_F(FetcherTest, StopsAtTheRedirectLimit) {
  ScriptedServer server(io_.get_executor(),
                        respond_with("HTTP/1.1 302 Found\r\nLocation: /again\r\n"
                                     "Content-Length: 0\r\n\r\n"));
  auto target = target_for(server.url("/"));
  target.max_redirects = 2;
  const auto result = fetch(target);
  EXPECT_EQ(result.hops.size(), 3u);
  EXPECT_TRUE(result.redirect_limit_reached);
  EXPECT_EQ(result.last().status, 302);
}

TEST_F(FetcherTest, CancellationEndsTheFetchAndFreesTheSocketAtOnce) {
  ScriptedServer server(io_.get_executor(), Script{step::ReadRequest{}, step::Hang{}});
  asio::cancellation_signal cancel;
  std::optional<FetchResult> result;
  asio::co_spawn(
      io_, fetcher_.fetch(target_for(server.url("/"))),
      asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr error, FetchResult value) {
        if (error)
          std::rethrow_exception(error);
        result = std::move(value);
      }));
  ASSERT_TRUE(test::run_until(io_, [&] { return server.requests().size() == 1; }));
  const auto cancelled_at = std::chrono::steady_clock::now();
  cancel.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(test::run_until(io_, [&] { return result && server.open_connections() == 0; }));
  EXPECT_LT(std::chrono::steady_clock::now() - cancelled_at, 1s);
  EXPECT_EQ(result->error().error_class, ErrorClass::cancelled);
}

// Regression: a cancellation that lands while the connect's completion is queued used to make Asio
// throw out of the exchange, which then kept its socket open until the deadline.
TEST_F(FetcherTest, CancellationBetweenStepsStillFreesTheSocketAtOnce) {
  ScriptedServer server(io_.get_executor(), Script{step::ReadRequest{}, step::Hang{}});
  asio::cancellation_signal cancel;
  std::optional<FetchResult> result;
  auto target = target_for(server.url("/"));
  target.timeout = 30s;
  asio::co_spawn(
      io_, fetcher_.fetch(target),
      asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr error, FetchResult value) {
        if (error)
          std::rethrow_exception(error);
        result = std::move(value);
      }));
  ASSERT_TRUE(test::run_until(io_, [&] { return server.connections() == 1; }));
  cancel.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(test::run_until(
      io_, [&] { return result && server.open_connections() == 0; }, 2s));
  EXPECT_EQ(result->error().error_class, ErrorClass::cancelled);
}

TEST_F(FetcherTest, ThousandConcurrentFetchesOnOneThread) {
  constexpr int kFetches = 1000;
  ScriptedServer server(io_.get_executor(),
                        respond_with("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"));
  std::vector<std::optional<FetchResult>> results(kFetches);
  int done = 0;
  const auto thread = std::this_thread::get_id();
  for (int i = 0; i < kFetches; ++i) {
    asio::co_spawn(io_, fetcher_.fetch(target_for(server.url("/" + std::to_string(i)))),
                   [&, i](std::exception_ptr error, FetchResult value) {
                     if (error)
                       std::rethrow_exception(error);
                     EXPECT_EQ(std::this_thread::get_id(), thread);
                     results[i] = std::move(value);
                     ++done;
                   });
  }
  ASSERT_TRUE(test::run_until(
      io_, [&] { return done == kFetches; }, 60s));
  for (int i = 0; i < kFetches; ++i) {
    ASSERT_TRUE(results[i]->ok()) << i << ": " << results[i]->error().message;
    EXPECT_EQ(results[i]->last().body_bytes, 3u);
    EXPECT_EQ(results[i]->last().url.target, "/" + std::to_string(i));
  }
  EXPECT_EQ(server.connections(), static_cast<std::size_t>(kFetches));
}

// TLS against a scripted server presenting certificates from a PKI made at test time.
class FetcherTlsTest : public FetcherTest {
 protected:
  FetchResult fetch_tls(const test::TestPki::Leaf& leaf, TlsOptions options) {
    auto context = test::make_server_context(leaf);
    ScriptedServer server(io_.get_executor(),
                          respond_with("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
                          {.tls = &context});
    auto target = target_for(server.url("/"));
    target.tls = std::move(options);
    return fetch(target);
  }
  const test::TestPki& pki_ = test::test_pki();
};

TEST_F(FetcherTlsTest, ValidCertificateFillsTheTlsDetails) {
  const auto result = fetch_tls(pki_.valid, {.ca_file = pki_.ca_cert});
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Hop& hop = result.last();
  EXPECT_EQ(hop.status, 200);
  ASSERT_TRUE(hop.tls);
  EXPECT_TRUE(hop.tls->protocol == "TLSv1.3" || hop.tls->protocol == "TLSv1.2")
      << hop.tls->protocol;
  EXPECT_FALSE(hop.tls->cipher.empty());
  EXPECT_NE(hop.tls->subject.find("CN="), std::string::npos) << hop.tls->subject;
  EXPECT_NE(hop.tls->issuer, hop.tls->subject);
  const auto now = std::chrono::system_clock::now();
  EXPECT_GT(hop.tls->not_after, now);
  EXPECT_LE(hop.tls->chain_earliest_not_after, hop.tls->not_after);
  EXPECT_GT(hop.tls->chain_earliest_not_after, now);
  ASSERT_TRUE(hop.timings.tls_handshake);
}

TEST_F(FetcherTlsTest, WrongHostNameFailsVerification) {
  const auto result = fetch_tls(pki_.wrong_host, {.ca_file = pki_.ca_cert});
  EXPECT_EQ(result.error().error_class, ErrorClass::tls);
  EXPECT_EQ(result.error().phase, Phase::tls_handshake);
  EXPECT_NE(result.error().message.find("mismatch"), std::string::npos) << result.error().message;
}

TEST_F(FetcherTlsTest, ServerNameOverrideChecksThatName) {
  const auto result =
      fetch_tls(pki_.wrong_host, {.ca_file = pki_.ca_cert, .server_name = "other.test"});
  ASSERT_TRUE(result.ok()) << result.error().message;
}

TEST_F(FetcherTlsTest, ExpiredCertificateFailsVerification) {
  const auto result = fetch_tls(pki_.expired, {.ca_file = pki_.ca_cert});
  EXPECT_EQ(result.error().error_class, ErrorClass::tls);
  EXPECT_NE(result.error().message.find("expired"), std::string::npos) << result.error().message;
}

TEST_F(FetcherTlsTest, UnknownCaFailsVerification) {
  const auto result = fetch_tls(pki_.unknown_ca, {.ca_file = pki_.ca_cert});
  EXPECT_EQ(result.error().error_class, ErrorClass::tls);
  // The server presents its CA too, so OpenSSL reports the untrusted root rather than a missing
  // issuer.
  const auto& message = result.error().message;
  EXPECT_TRUE(message.find("self-signed certificate in certificate chain") != std::string::npos ||
              message.find("unable to get local issuer") != std::string::npos)
      << message;
}

TEST_F(FetcherTlsTest, VerifyOffAcceptsAnyCertificateButStillReportsIt) {
  const auto result = fetch_tls(pki_.unknown_ca, {.verify_peer = false});
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_TRUE(result.last().tls);
  EXPECT_FALSE(result.last().tls->subject.empty());
}

TEST_F(FetcherTlsTest, MissingCaFileIsATlsError) {
  const auto result = fetch_tls(pki_.valid, {.ca_file = "/nonexistent/ca.pem"});
  EXPECT_EQ(result.error().error_class, ErrorClass::tls);
  EXPECT_NE(result.error().message.find("/nonexistent/ca.pem"), std::string::npos);
}

}  // namespace
}  // namespace fetchd::http
