#include "results/codec.h"

#include <gtest/gtest.h>

#include "results/fake_results.h"

namespace fetchd::results {
namespace {

using namespace std::chrono_literals;
using test::kEpoch;

std::string encoded(const TargetResults& results) {
  std::string bytes;
  BinaryWriter out(bytes);
  encode(results, out);
  return bytes;
}

Attempt tls_redirect_success(test::Time started) {
  Attempt attempt = test::success(started, 2500us);
  http::Hop first = attempt.result.hops.front();
  first.status = 301;
  first.reason = "Moved Permanently";
  first.headers = {{"Location", "https://a.example/"}};
  first.url = http::parse_url("http://a.example/").value();
  auto& last = attempt.result.hops.front();
  last.url = http::parse_url("https://a.example:8443/x?y=1").value();
  last.tls = http::TlsInfo{"TLSv1.3",    "TLS_AES_256_GCM_SHA384", "CN=a.example",
                           "CN=Test CA", kEpoch + 90 * 24h,        kEpoch + 30 * 24h};
  last.trailers = {{"X-Checksum", "abc"}};
  attempt.result.hops.insert(attempt.result.hops.begin(), first);
  return attempt;
}

// Successes, failures (connect, timeout, expectation), cancelled and a redirect over TLS, over
// three days, so that every part holds something: streaks, totals, history, hourly and daily
// buckets, outages, latest and latest failure apart.
TargetResults busy_target() {
  TargetResults results(FlapPolicy{2, 1}, 10, kEpoch);
  auto time = kEpoch;
  for (int i = 0; i < 40; ++i) {
    time += 97min;
    switch (i % 7) {
      case 0:
      case 1:
        results.record(test::failure(time));
        break;
      case 2:
        results.record(test::expectation_failure(time, "status 500 not in 200-399"));
        break;
      case 3:
        results.record(test::cancelled(time));
        break;
      case 4:
        results.record(tls_redirect_success(time));
        break;
      default:
        results.record(test::success(time, std::chrono::microseconds(1000 + i)));
    }
  }
  results.record_skipped(3);
  return results;
}

TEST(ResultsCodec, TargetResultsRoundTripExactly) {
  const TargetResults original = busy_target();
  ASSERT_NE(original.latest(), original.latest_failure());
  const std::string bytes = encoded(original);

  BinaryReader in(bytes);
  auto restored = decode_target_results(in, 10, kDefaultUptimeDays);
  ASSERT_TRUE(restored);
  EXPECT_TRUE(in.at_end());
  EXPECT_EQ(encoded(*restored), bytes);

  EXPECT_EQ(restored->state(), original.state());
  EXPECT_EQ(restored->state_since(), original.state_since());
  EXPECT_EQ(restored->totals(), original.totals());
  EXPECT_EQ(restored->totals().skipped, 3u);
  EXPECT_EQ(restored->policy(), original.policy());
  ASSERT_EQ(restored->history().size(), original.history().size());
  for (std::size_t i = 0; i < original.history().size(); ++i)
    EXPECT_EQ(restored->history()[i], original.history()[i]) << i;
  const auto now = kEpoch + 40 * 97min + 1min;
  for (const auto span : {1h, 24h, 48h, 7 * 24h, 30 * 24h}) {
    const auto a = original.uptime().over(span, now);
    const auto b = restored->uptime().over(span, now);
    EXPECT_EQ(a.attempts, b.attempts) << span.count();
    EXPECT_EQ(a.successes, b.successes) << span.count();
    EXPECT_EQ(a.latency_sum_us, b.latency_sum_us) << span.count();
    EXPECT_EQ(a.latency_max_us, b.latency_max_us) << span.count();
  }
  const auto outages = restored->uptime().outages(7 * 24h, now);
  ASSERT_EQ(outages.size(), original.uptime().outages(7 * 24h, now).size());
  ASSERT_FALSE(outages.empty());
  EXPECT_EQ(outages.front().reason, original.uptime().outages(7 * 24h, now).front().reason);

  ASSERT_TRUE(restored->latest());
  const auto& latest = restored->latest()->result;
  EXPECT_EQ(latest.started, original.latest()->result.started);
  ASSERT_TRUE(restored->latest_failure());
  EXPECT_EQ(restored->latest_failure()->reason(), original.latest_failure()->reason());
  EXPECT_EQ(restored->latest_failure()->outcome, original.latest_failure()->outcome);
}

TEST(ResultsCodec, AnAttemptRoundTripsWithRedirectsTlsAndTrailers) {
  const Attempt attempt = tls_redirect_success(kEpoch);
  std::string bytes;
  BinaryWriter out(bytes);
  encode(attempt, out);
  BinaryReader in(bytes);
  const auto decoded = decode_attempt(in);
  ASSERT_TRUE(decoded);
  ASSERT_EQ(decoded->result.hops.size(), 2u);
  const auto& hop = decoded->result.hops.back();
  EXPECT_EQ(hop.url.to_string(), "https://a.example:8443/x?y=1");
  ASSERT_TRUE(hop.tls);
  EXPECT_EQ(hop.tls->cipher, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(hop.tls->chain_earliest_not_after, kEpoch + 30 * 24h);
  EXPECT_EQ(hop.trailers, attempt.result.hops.back().trailers);
  EXPECT_EQ(hop.headers, attempt.result.hops.back().headers);
  EXPECT_EQ(decoded->result.hops.front().headers.front().value, "https://a.example/");
  EXPECT_EQ(hop.timings.tls_handshake, attempt.result.hops.back().timings.tls_handshake);
  EXPECT_EQ(decoded->result.hops.front().timings.tls_handshake,
            attempt.result.hops.front().timings.tls_handshake);
}

TEST(ResultsCodec, EveryTruncationAndEveryFlippedByteIsRefusedOrReadWithoutHarm) {
  const std::string bytes = encoded(busy_target());
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    BinaryReader in(std::string_view(bytes).substr(0, cut));
    EXPECT_FALSE(decode_target_results(in, 10, kDefaultUptimeDays)) << cut;
  }
  // A flipped bit may still decode (a different count, say); it must not crash or allocate wildly
  // (the ASan build checks both).
  for (std::size_t at = 0; at < bytes.size(); at += 3) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x40);
    BinaryReader in(damaged);
    (void)decode_target_results(in, 10, kDefaultUptimeDays);
  }
}

TEST(ResultsCodec, SettingsInEffectCutHistoryAndDays) {
  const std::string bytes = encoded(busy_target());
  BinaryReader in(bytes);
  const auto restored = decode_target_results(in, 3, 1);
  ASSERT_TRUE(restored);
  const TargetResults original = busy_target();
  ASSERT_EQ(restored->history().size(), 3u);
  EXPECT_EQ(restored->history()[2], *original.history().newest());
  const auto now = kEpoch + 40 * 97min + 1min;
  EXPECT_EQ(restored->uptime().over(24h, now).attempts, original.uptime().over(24h, now).attempts);
}

TEST(ResultsCodec, ANeverFetchedTargetIsSmall) {
  const TargetResults fresh(FlapPolicy{}, 100, kEpoch);
  const std::string bytes = encoded(fresh);
  EXPECT_LT(bytes.size(), 64u);
  BinaryReader in(bytes);
  const auto restored = decode_target_results(in, 100, kDefaultUptimeDays);
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->state(), State::unknown);
  EXPECT_EQ(restored->state_since(), kEpoch);
  EXPECT_FALSE(restored->latest());
}

}  // namespace
}  // namespace fetchd::results
