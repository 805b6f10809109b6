#include "results/history.h"

#include <gtest/gtest.h>

#include "results/fake_results.h"

namespace fetchd::results {
namespace {

using namespace std::chrono_literals;
using test::kEpoch;

static_assert(sizeof(CompactEntry) <= 40);

CompactEntry entry_at(std::int64_t time_ms) {
  CompactEntry entry;
  entry.time_ms = time_ms;
  entry.total_us = static_cast<std::int32_t>(time_ms);
  return entry;
}

std::vector<std::int64_t> times(const History& history) {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < history.size(); ++i)
    out.push_back(history[i].time_ms);
  return out;
}

std::vector<std::int64_t> times(const std::vector<CompactEntry>& entries) {
  std::vector<std::int64_t> out;
  for (const auto& entry : entries)
    out.push_back(entry.time_ms);
  return out;
}

TEST(ResultsHistory, EntryIsCompact) {
  EXPECT_EQ(sizeof(CompactEntry), 32u);
  EXPECT_EQ(alignof(CompactEntry), 8u);
}

TEST(ResultsHistory, CompactEntryOfASuccess) {
  const auto entry = make_compact_entry(test::ok_result(kEpoch + 250ms, 204, "No Content"), false);
  EXPECT_EQ(entry.time_ms, 1'714'564'800'250);
  EXPECT_EQ(entry.time(), kEpoch + 250ms);
  EXPECT_EQ(entry.outcome, Outcome::ok);
  EXPECT_EQ(entry.status, 204);
  EXPECT_EQ(entry.dns_us, 100);
  EXPECT_EQ(entry.connect_us, 200);
  EXPECT_EQ(entry.tls_us, 700);
  EXPECT_EQ(entry.first_byte_us, 400);
  EXPECT_EQ(entry.total_us, 1500);
}

TEST(ResultsHistory, CompactEntryMarksAbsentPhases) {
  const auto entry = make_compact_entry(test::error_result(kEpoch), false);
  EXPECT_EQ(entry.outcome, Outcome::connect);
  EXPECT_EQ(entry.status, 0);
  EXPECT_EQ(entry.dns_us, 100);
  EXPECT_EQ(entry.connect_us, CompactEntry::kAbsent);
  EXPECT_EQ(entry.tls_us, CompactEntry::kAbsent);
  EXPECT_EQ(entry.first_byte_us, CompactEntry::kAbsent);
  EXPECT_EQ(entry.total_us, 300);
}

TEST(ResultsHistory, CompactEntryPhasesAreTheLastHopsTotalIsTheWholeFetch) {
  auto result = test::ok_result(kEpoch, 200, "OK", 5000us);
  auto first = result.hops.front();
  first.status = 301;
  first.timings.dns = 999us;
  result.hops.insert(result.hops.begin(), first);
  const auto entry = make_compact_entry(result, false);
  EXPECT_EQ(entry.status, 200);
  EXPECT_EQ(entry.dns_us, 100);
  EXPECT_EQ(entry.total_us, 5000);
}

TEST(ResultsHistory, CompactEntryOutcomes) {
  EXPECT_EQ(make_compact_entry(test::ok_result(kEpoch, 500), true).outcome, Outcome::expectation);
  // A fetch error wins over an expectation.
  EXPECT_EQ(make_compact_entry(test::error_result(kEpoch, http::ErrorClass::timeout), true).outcome,
            Outcome::timeout);
  EXPECT_EQ(make_compact_entry(http::FetchResult{}, false).outcome, Outcome::io);
  EXPECT_EQ(to_string(Outcome::expectation), "expectation");
  EXPECT_EQ(to_string(Outcome::too_large), "too_large");
}

TEST(ResultsHistory, CompactEntrySaturatesHugeTimings) {
  const auto entry =
      make_compact_entry(test::ok_result(kEpoch, 200, "OK", std::chrono::hours(1)), false);
  EXPECT_EQ(entry.total_us, INT32_MAX);
}

TEST(ResultsHistory, KeepsTheNewestOldestFirst) {
  History history(3);
  EXPECT_TRUE(history.empty());
  EXPECT_EQ(history.newest(), nullptr);
  for (std::int64_t t = 1; t <= 2; ++t)
    history.push(entry_at(t));
  EXPECT_EQ(times(history), (std::vector<std::int64_t>{1, 2}));
  for (std::int64_t t = 3; t <= 7; ++t)
    history.push(entry_at(t));
  EXPECT_EQ(history.size(), 3u);
  EXPECT_EQ(times(history), (std::vector<std::int64_t>{5, 6, 7}));
  ASSERT_NE(history.newest(), nullptr);
  EXPECT_EQ(history.newest()->time_ms, 7);
  EXPECT_EQ(times(history.newest(2)), (std::vector<std::int64_t>{6, 7}));
  EXPECT_EQ(times(history.newest(10)), (std::vector<std::int64_t>{5, 6, 7}));
  EXPECT_TRUE(history.newest(0).empty());
}

TEST(ResultsHistory, WrapsAroundManyTimes) {
  History history(100);
  for (std::int64_t t = 0; t < 1234; ++t)
    history.push(entry_at(t));
  ASSERT_EQ(history.size(), 100u);
  for (std::size_t i = 0; i < 100; ++i)
    EXPECT_EQ(history[i].time_ms, static_cast<std::int64_t>(1134 + i));
}

TEST(ResultsHistory, ShrinkingKeepsTheNewest) {
  History history(5);
  for (std::int64_t t = 1; t <= 7; ++t)  // wrapped: 3 4 5 6 7
    history.push(entry_at(t));
  history.set_capacity(2);
  EXPECT_EQ(history.capacity(), 2u);
  EXPECT_EQ(times(history), (std::vector<std::int64_t>{6, 7}));
  history.push(entry_at(8));
  EXPECT_EQ(times(history), (std::vector<std::int64_t>{7, 8}));
}

TEST(ResultsHistory, GrowingKeepsEverythingAndFillsBeforeWrapping) {
  History history(3);
  for (std::int64_t t = 1; t <= 5; ++t)  // wrapped: 3 4 5
    history.push(entry_at(t));
  history.set_capacity(5);
  EXPECT_EQ(times(history), (std::vector<std::int64_t>{3, 4, 5}));
  history.push(entry_at(6));
  history.push(entry_at(7));
  EXPECT_EQ(times(history), (std::vector<std::int64_t>{3, 4, 5, 6, 7}));
  history.push(entry_at(8));
  EXPECT_EQ(times(history), (std::vector<std::int64_t>{4, 5, 6, 7, 8}));
}

TEST(ResultsHistory, ZeroCapacityKeepsNothing) {
  History history(0);
  history.push(entry_at(1));
  EXPECT_TRUE(history.empty());
  history.set_capacity(2);
  history.push(entry_at(2));
  EXPECT_EQ(times(history), (std::vector<std::int64_t>{2}));
  history.set_capacity(0);
  EXPECT_TRUE(history.empty());
  EXPECT_EQ(history.heap_bytes(), 0u);
}

TEST(ResultsHistory, StorageGrowsWithEntriesUpToTheCapacityExactly) {
  History history(100);
  EXPECT_EQ(history.heap_bytes(), 0u);
  history.push(entry_at(1));
  EXPECT_LE(history.heap_bytes(), 4 * sizeof(CompactEntry));
  for (std::int64_t t = 2; t <= 500; ++t)
    history.push(entry_at(t));
  EXPECT_EQ(history.heap_bytes(), 100 * sizeof(CompactEntry));
}

}  // namespace
}  // namespace fetchd::results
