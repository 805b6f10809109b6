// The exposition: escaping and negotiation, and scrapes of a real registry — labels, the values of
// the latest results, counters, the histogram, pieces and targets removed mid-scrape.

#include "metrics/scrape.h"

#include <gtest/gtest.h>

#include "results/feed.h"

namespace fetchd::metrics {
namespace {

using namespace std::chrono_literals;

TEST(Exposition, EscapesLabelValuesAndHelpPerFormat) {
  Labels labels;
  labels.add("a", "quote \" backslash \\ newline \n end");
  EXPECT_EQ(labels.text(), R"(a="quote \" backslash \\ newline \n end")");
  std::string text;
  Writer(Format::text, text).begin({"m", Type::gauge, "say \"hi\" \\ \n"});
  EXPECT_EQ(text, "# HELP m say \"hi\" \\\\ \\n\n# TYPE m gauge\n");
  std::string open;
  Writer(Format::openmetrics, open).begin({"m", Type::counter, "say \"hi\"", "seconds"});
  EXPECT_EQ(open, "# HELP m say \\\"hi\\\"\n# TYPE m counter\n# UNIT m seconds\n");
  std::string counter;
  Writer(Format::text, counter).begin({"c", Type::counter, "h"});
  EXPECT_EQ(counter, "# HELP c_total h\n# TYPE c_total counter\n");
}

TEST(Exposition, NumbersRoundTripAndSpellInfinities) {
  std::string out;
  append_number(out, 0.1);
  out += ' ';
  append_number(out, 1e21);
  out += ' ';
  append_number(out, -std::numeric_limits<double>::infinity());
  out += ' ';
  append_number(out, std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(out, "0.1 1e+21 -Inf NaN");
}

TEST(Exposition, OpenMetricsOnlyWhenAcceptAsksForIt) {
  EXPECT_EQ(negotiate("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                      "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
            Format::openmetrics);
  EXPECT_EQ(negotiate("text/plain;version=0.0.4"), Format::text);
  EXPECT_EQ(negotiate(""), Format::text);
  EXPECT_EQ(negotiate("application/openmetrics-text; q=0"), Format::text);
  EXPECT_EQ(negotiate("Application/OpenMetrics-Text"), Format::openmetrics);
}

class ScrapeTest : public ::testing::Test {
 protected:
  void add(const std::string& name, std::map<std::string, std::string> labels = {}) {
    auto target = std::make_shared<config::TargetConfig>();
    target->name = name;
    target->fetch = *http::make_target("http://127.0.0.1:8080/" + name);
    target->labels = std::move(labels);
    registry_.put(std::move(target), nullptr, registry::Keep::nothing,
                  std::chrono::system_clock::now());
  }
  void record_ok(const std::string& name, std::chrono::microseconds total) {
    http::FetchResult result;
    result.started = std::chrono::system_clock::now();
    result.total = total;
    http::Hop hop;
    hop.url = *http::parse_url("http://127.0.0.1:8080/");
    hop.remote_address = "127.0.0.1:8080";
    hop.version_major = 1;
    hop.version_minor = 1;
    hop.status = 200;
    hop.headers.push_back({"Content-Length", "5"});
    hop.timings.dns = 0us;
    hop.timings.connect = 100us;
    hop.timings.first_byte = 300us;
    hop.timings.total = total;
    result.hops.push_back(hop);
    registry_.record(name, result);
  }
  View view() {
    return View{.registry = &registry_,
                .snapshot = [] { return status::Snapshot{}; },
                .settings = [this]() -> const config::Settings& { return settings_; },
                .control_clients = [] { return std::size_t{3}; },
                .loop_lag_seconds = [] { return 0.002; }};
  }
  std::string scrape_all(Format format, std::size_t* pieces = nullptr) {
    Scrape scrape(view(), format);
    std::string out;
    std::size_t count = 0;
    while (auto piece = scrape.next()) {
      out += *piece;
      ++count;
    }
    if (pieces != nullptr)
      *pieces = count;
    return out;
  }
  static bool has_line(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos;
  }

  results::Feed feed_;
  registry::Registry registry_{feed_, 10};
  config::Settings settings_;
};

TEST_F(ScrapeTest, LatestResultsCountersAndHistogramWithEveryLabel) {
  settings_.instance_labels = {{"location", "lab"}, {"team", "overridden"}};
  registry_.set_duration_buckets({0.001, 0.01});
  add("web", {{"team", "core"}});
  add("new");
  record_ok("web", 2000us);
  record_ok("web", 500us);
  const auto text = scrape_all(Format::text);
  EXPECT_TRUE(has_line(text, R"(probe_success{name="web",team="core",location="lab"} 1)")) << text;
  EXPECT_TRUE(
      has_line(text, R"(probe_http_status_code{name="web",team="core",location="lab"} 200)"));
  EXPECT_TRUE(has_line(text, R"(probe_http_version{name="web",team="core",location="lab"} 1.1)"));
  EXPECT_TRUE(
      has_line(text, R"(probe_http_content_length{name="web",team="core",location="lab"} 5)"));
  EXPECT_TRUE(
      has_line(text, R"(probe_duration_seconds{name="web",team="core",location="lab"} 0.0005)"));
  EXPECT_TRUE(has_line(
      text,
      R"(probe_http_duration_seconds{name="web",team="core",location="lab",phase="connect"} 0.0001)"));
  EXPECT_TRUE(has_line(text, R"(probe_ip_protocol{name="web",team="core",location="lab"} 4)"));
  EXPECT_TRUE(has_line(text, R"(fetchd_target_up{name="web",team="core",location="lab"} 1)"));
  EXPECT_TRUE(has_line(
      text,
      R"(fetchd_target_fetches_total{name="web",team="core",location="lab",outcome="ok"} 2)"));
  // Only outcomes that happened (and ok): no zero series for the other eight.
  EXPECT_EQ(text.find(R"(outcome="dns")"), std::string::npos);
  EXPECT_TRUE(has_line(
      text, R"(fetchd_target_state_changes_total{name="web",team="core",location="lab"} 1)"));
  // Cumulative buckets: 500 µs ≤ 1 ms, 2 ms ≤ 10 ms.
  EXPECT_TRUE(has_line(
      text,
      R"(fetchd_target_duration_seconds_bucket{name="web",team="core",location="lab",le="0.001"} 1)"));
  EXPECT_TRUE(has_line(
      text,
      R"(fetchd_target_duration_seconds_bucket{name="web",team="core",location="lab",le="0.01"} 2)"));
  EXPECT_TRUE(has_line(
      text,
      R"(fetchd_target_duration_seconds_bucket{name="web",team="core",location="lab",le="+Inf"} 2)"));
  EXPECT_TRUE(has_line(
      text, R"(fetchd_target_duration_seconds_count{name="web",team="core",location="lab"} 2)"));
  // A target without a result yet has no probe_* series and no fetchd_target_up, but its counters.
  EXPECT_EQ(text.find(R"(probe_success{name="new")"), std::string::npos);
  EXPECT_EQ(text.find(R"(fetchd_target_up{name="new")"), std::string::npos);
  EXPECT_TRUE(has_line(
      text, R"(fetchd_target_skipped_total{name="new",location="lab",team="overridden"} 0)"));
  // Daemon-wide series carry the instance labels.
  EXPECT_TRUE(has_line(text, R"(fetchd_control_clients{location="lab",team="overridden"} 3)"));
  EXPECT_TRUE(has_line(text, R"(fetchd_loop_lag_seconds{location="lab",team="overridden"} 0.002)"));
  EXPECT_EQ(text.find("# EOF"), std::string::npos);
}

TEST_F(ScrapeTest, OpenMetricsNamesCountersWithoutTotalAndEnds) {
  registry_.set_duration_buckets({1});
  add("web");
  record_ok("web", 500us);
  const auto open = scrape_all(Format::openmetrics);
  EXPECT_TRUE(has_line(open, "# TYPE fetchd_target_fetches counter"));
  EXPECT_TRUE(has_line(open, R"(fetchd_target_fetches_total{name="web",outcome="ok"} 1)"));
  EXPECT_TRUE(has_line(open, "# UNIT probe_duration_seconds seconds"));
  EXPECT_TRUE(has_line(open, R"(fetchd_target_duration_seconds_bucket{name="web",le="1.0"} 1)"));
  EXPECT_TRUE(open.ends_with("\n# EOF\n"));
}

TEST_F(ScrapeTest, ALargeScrapeComesInBoundedPiecesWithEachFamilyOnce) {
  for (int i = 0; i < 3000; ++i) {
    add("target-" + std::to_string(i));
    record_ok("target-" + std::to_string(i), 1000us);
  }
  Scrape scrape(view(), Format::text);
  std::vector<std::string> pieces;
  while (auto piece = scrape.next())
    pieces.push_back(std::move(*piece));
  ASSERT_GT(pieces.size(), 10u);
  for (std::size_t i = 0; i + 1 < pieces.size(); ++i) {
    EXPECT_LT(pieces[i].size(), kPieceBytes + 4096) << i;  // a piece ends after the target it is at
  }
  std::string all;
  for (const auto& piece : pieces)
    all += piece;
  std::size_t type_lines = 0;
  for (auto at = all.find("# TYPE probe_success "); at != std::string::npos;
       at = all.find("# TYPE probe_success ", at + 1))
    ++type_lines;
  EXPECT_EQ(type_lines, 1u);
  std::size_t successes = 0;
  for (auto at = all.find("\nprobe_success{"); at != std::string::npos;
       at = all.find("\nprobe_success{", at + 1))
    ++successes;
  EXPECT_EQ(successes, 3000u);
}

// The rows are copied kRowsPerPiece targets a piece, pieces that write nothing (the listener
// yields between them), before the first target series.
TEST_F(ScrapeTest, TheRowsAreCopiedInSlicesOfBoundedSize) {
  for (int i = 0; i < 5 * static_cast<int>(kRowsPerPiece) + 1; ++i)
    add("target-" + std::to_string(i));
  Scrape scrape(view(), Format::text);
  const auto first = scrape.next();
  ASSERT_TRUE(first);
  EXPECT_NE(first->find("# TYPE fetchd_targets gauge"), std::string::npos);
  EXPECT_EQ(first->find("target-"), std::string::npos);
  std::size_t empty = 0;
  std::optional<std::string> piece;
  while ((piece = scrape.next()) && piece->empty())
    ++empty;
  // Five full slices, and the last with a single target.
  EXPECT_EQ(empty, 6u);
  ASSERT_TRUE(piece);
  EXPECT_NE(piece->find("# TYPE probe_success gauge"), std::string::npos);
}

// Regression (bench/scrape.sh, 100,000 targets: one piece took 13 ms): a family that most targets
// have no series in read every row in one piece. Now a piece visits a bounded number.
TEST_F(ScrapeTest, FamiliesWithoutSeriesStillEndPiecesEveryFewThousandRows) {
  for (int i = 0; i < 2 * static_cast<int>(kRowsVisitedPerPiece); ++i)
    add("target-" + std::to_string(i));  // no results: most families write nothing
  Scrape scrape(view(), Format::text);
  // Two families in a row without a series: the rows of the first fill more than one piece, so
  // no piece begins both.
  bool seen = false;
  while (auto piece = scrape.next()) {
    const bool first = piece->find("# TYPE probe_ssl_earliest_cert_expiry ") != std::string::npos;
    const bool second = piece->find("# TYPE probe_tls_version_info ") != std::string::npos;
    EXPECT_FALSE(first && second);
    seen = seen || first;
  }
  EXPECT_TRUE(seen);
}

// The registry changes between pieces (the loop runs in between). A target copied before it was
// removed is in this scrape, as it was when copied; one removed before its turn is missed. The
// rows are copies: nothing of the removed entries is read after their removal (ASan would say).
TEST_F(ScrapeTest, TargetsRemovedMidScrapeAreMissedOrSeenAsCopiedNeverRead) {
  const int count = 2 * static_cast<int>(kRowsPerPiece);
  for (int i = 0; i < count; ++i) {
    add("target-" + std::to_string(10000 + i));
    record_ok("target-" + std::to_string(10000 + i), 1000us);
  }
  Scrape scrape(view(), Format::text);
  ASSERT_TRUE(scrape.next());  // the daemon's families
  ASSERT_TRUE(scrape.next());  // the first slice
  for (int i = 0; i < count; ++i)
    registry_.remove("target-" + std::to_string(10000 + i));
  std::string rest;
  while (auto piece = scrape.next())
    rest += *piece;
  const auto first_slice_last = "target-" + std::to_string(10000 + kRowsPerPiece - 1);
  const auto second_slice_first = "target-" + std::to_string(10000 + kRowsPerPiece);
  EXPECT_NE(rest.find("probe_success{name=\"" + first_slice_last + "\"} 1"), std::string::npos);
  EXPECT_EQ(rest.find("{name=\"" + second_slice_first + "\""), std::string::npos);
  EXPECT_NE(rest.find("# TYPE fetchd_target_duration_seconds histogram"), std::string::npos);
}

}  // namespace
}  // namespace fetchd::metrics
