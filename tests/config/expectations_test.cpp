#include <gtest/gtest.h>

#include "config/config.h"

namespace fetchd::config {
namespace {

using namespace std::chrono_literals;

// A completed fetch: one hop with the given status, headers and body.
http::FetchResult completed(int status, http::Headers headers = {}, std::string body = "") {
  http::FetchResult result;
  result.started =
      std::chrono::system_clock::time_point(std::chrono::sys_days(std::chrono::year_month_day(
          std::chrono::year(2025), std::chrono::month(3), std::chrono::day(1))));
  http::Hop hop;
  hop.status = status;
  hop.reason = "X";
  hop.headers = std::move(headers);
  hop.body_bytes = body.size();
  hop.body = std::move(body);
  result.hops.push_back(std::move(hop));
  result.total = 120ms;
  return result;
}

Expectations with_regex(const std::string& pattern) {
  Expectations expect;
  auto regex = BodyRegex::compile(pattern);
  EXPECT_TRUE(regex) << regex.error().message;
  expect.body_regex = *regex;
  return expect;
}

TEST(Expect, DefaultStatusRangeIs200To399) {
  const Expectations expect;
  EXPECT_EQ(check_expectations(expect, completed(200)), std::nullopt);
  EXPECT_EQ(check_expectations(expect, completed(301)), std::nullopt);
  EXPECT_EQ(check_expectations(expect, completed(399)), std::nullopt);
  EXPECT_EQ(check_expectations(expect, completed(404)), "status 404 not in 200-399");
  EXPECT_EQ(check_expectations(expect, completed(199)), "status 199 not in 200-399");
}

TEST(Expect, StatusListsAndRanges) {
  Expectations expect;
  expect.status = {{200, 200}, {301, 302}, {500, 599}};
  EXPECT_EQ(check_expectations(expect, completed(302)), std::nullopt);
  EXPECT_EQ(check_expectations(expect, completed(503)), std::nullopt);
  EXPECT_EQ(check_expectations(expect, completed(204)), "status 204 not in 200, 301-302, 500-599");
}

TEST(Expect, AFetchThatDidNotCompleteHasNothingToCheck) {
  auto result = completed(0);
  result.hops.back().error = {http::ErrorClass::connect, http::Phase::connect, "refused"};
  Expectations expect;
  expect.body_contains = "x";
  EXPECT_EQ(check_expectations(expect, result), std::nullopt);
}

TEST(Expect, TheLastHopIsJudged) {
  auto result = completed(301);
  http::Hop final_hop;
  final_hop.status = 500;
  result.hops.push_back(final_hop);
  EXPECT_EQ(check_expectations(Expectations{}, result), "status 500 not in 200-399");
}

TEST(Expect, BodyContains) {
  Expectations expect;
  expect.body_contains = "Welcome";
  EXPECT_EQ(check_expectations(expect, completed(200, {}, "<h1>Welcome!</h1>")), std::nullopt);
  EXPECT_EQ(check_expectations(expect, completed(200, {}, "<h1>Hello</h1>")),
            "body does not contain \"Welcome\"");
  auto truncated = completed(200, {}, "0123456789");
  truncated.hops.back().body_truncated = true;
  EXPECT_EQ(check_expectations(expect, truncated),
            "body does not contain \"Welcome\" (in the first 10 bytes)");
}

TEST(Expect, BodyRegex) {
  const auto expect = with_regex("<title>[^<]*News</title>");
  EXPECT_EQ(check_expectations(expect, completed(200, {}, "<html><title>Daily News</title>")),
            std::nullopt);
  EXPECT_EQ(check_expectations(expect, completed(200, {}, "<title>Sports</title>")),
            "body does not match \"<title>[^<]*News</title>\"");
}

TEST(Expect, BodyRegexAnchorsKeepTheirMeaning) {
  EXPECT_EQ(check_expectations(with_regex("^abc"), completed(200, {}, "abcdef")), std::nullopt);
  EXPECT_TRUE(check_expectations(with_regex("^def"), completed(200, {}, "abcdef")));
  EXPECT_EQ(check_expectations(with_regex("def$"), completed(200, {}, "abcdef")), std::nullopt);
  EXPECT_TRUE(check_expectations(with_regex("abc$"), completed(200, {}, "abcdef")));
  EXPECT_EQ(check_expectations(with_regex("b|zzz"), completed(200, {}, "abc")), std::nullopt);
  EXPECT_EQ(check_expectations(with_regex("\\d{3}"), completed(200, {}, "a 123 b")), std::nullopt);
  EXPECT_EQ(check_expectations(with_regex("x"), completed(200, {}, std::string("a\0x", 3))),
            std::nullopt);
}

TEST(Expect, BodyRegexOnALargeBodyDoesNotOverflowTheStack) {
  // libstdc++'s default executor recurses per byte and crashes from about 100 KB; the loader's
  // does not (and is linear: "(x+x+)+y" is the classic backtracking killer).
  std::string body(256 * 1024, 'x');
  EXPECT_TRUE(check_expectations(with_regex("x.*END"), completed(200, {}, body)));
  EXPECT_TRUE(check_expectations(with_regex("(x+x+)+y"), completed(200, {}, body)));
  body += "END";
  EXPECT_EQ(check_expectations(with_regex("x.*END"), completed(200, {}, body)), std::nullopt);
}

TEST(Expect, BodyRegexRejectsWhatItCannotRunSafely) {
  EXPECT_FALSE(BodyRegex::compile("(a)\\1"));  // back-references need the recursive executor
  EXPECT_FALSE(BodyRegex::compile("a)|(b"));   // cannot escape the wrapping group
  EXPECT_FALSE(BodyRegex::compile("[z-a]"));
  EXPECT_TRUE(BodyRegex::compile("(?:a|b)+"));
  EXPECT_EQ(*BodyRegex::compile("a+"), *BodyRegex::compile("a+"));
  EXPECT_FALSE(*BodyRegex::compile("a+") == *BodyRegex::compile("a*"));
}

TEST(Expect, HeadersPresentAndEqual) {
  Expectations expect;
  expect.headers = {{"x-cache", std::nullopt}, {"Content-Type", "text/html"}};
  const http::Headers good = {
      {"Content-Type", "text/plain"}, {"Content-Type", "text/html"}, {"X-Cache", "HIT"}};
  EXPECT_EQ(check_expectations(expect, completed(200, good)), std::nullopt);
  EXPECT_EQ(check_expectations(expect, completed(200, {{"Content-Type", "text/html"}})),
            "header \"x-cache\" missing");
  EXPECT_EQ(check_expectations(expect, completed(200, {{"X-Cache", "MISS"}})),
            "header \"Content-Type\" missing (expected \"text/html\")");
  EXPECT_EQ(
      check_expectations(expect, completed(200, {{"X-Cache", "1"}, {"content-type", "Text/HTML"}})),
      "header \"Content-Type\" is \"Text/HTML\", expected \"text/html\"");
  // A response's bytes are quoted, so they cannot forge a log line.
  EXPECT_EQ(
      check_expectations(expect, completed(200, {{"X-Cache", "1"}, {"Content-Type", "a\nb\xff"}})),
      "header \"Content-Type\" is \"a\\nb\xEF\xBF\xBD\", expected \"text/html\"");
}

TEST(Expect, MaxLatency) {
  Expectations expect;
  expect.max_latency = 500ms;
  auto result = completed(200);
  result.total = 499'999us;
  EXPECT_EQ(check_expectations(expect, result), std::nullopt);
  result.total = 1'234'567us;
  EXPECT_EQ(check_expectations(expect, result), "total time 1234.6ms over 500ms");
}

TEST(Expect, CertificateDays) {
  Expectations expect;
  expect.min_cert_days = 14;
  auto result = completed(200);
  EXPECT_EQ(check_expectations(expect, result), std::nullopt);  // plain HTTP: no certificate

  http::TlsInfo tls;
  tls.not_after = result.started + std::chrono::days(90);
  tls.chain_earliest_not_after = result.started + std::chrono::days(30);
  result.hops.back().tls = tls;
  EXPECT_EQ(check_expectations(expect, result), std::nullopt);

  result.hops.back().tls->chain_earliest_not_after = result.started + std::chrono::days(14);
  EXPECT_EQ(check_expectations(expect, result), std::nullopt);
  result.hops.back().tls->chain_earliest_not_after =
      result.started + std::chrono::days(14) - std::chrono::seconds(1);
  EXPECT_EQ(check_expectations(expect, result),
            "certificate expires in 13 days (2025-03-14T23:59:59.000Z), expected at least 14");
  result.hops.back().tls->chain_earliest_not_after = result.started + std::chrono::hours(30);
  EXPECT_EQ(check_expectations(expect, result),
            "certificate expires in 1 day (2025-03-02T06:00:00.000Z), expected at least 14");
  result.hops.back().tls->chain_earliest_not_after = result.started - std::chrono::days(2);
  EXPECT_EQ(check_expectations(expect, result),
            "certificate expired (2025-02-27T00:00:00.000Z), expected at least 14");
}

TEST(Expect, TheFirstFailureInOrderIsNamed) {
  Expectations expect;
  expect.status = {{200, 200}};
  expect.headers = {{"X-A", std::nullopt}};
  expect.body_contains = "ok";
  expect.max_latency = 1ms;
  EXPECT_EQ(check_expectations(expect, completed(500)), "status 500 not in 200");
  EXPECT_EQ(check_expectations(expect, completed(200)), "header \"X-A\" missing");
  EXPECT_EQ(check_expectations(expect, completed(200, {{"X-A", ""}})),
            "body does not contain \"ok\"");
  EXPECT_EQ(check_expectations(expect, completed(200, {{"X-A", ""}}, "ok")),
            "total time 120.0ms over 1ms");
}

}  // namespace
}  // namespace fetchd::config
