#include "state/results_store.h"

#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "common/binary.h"
#include "results/codec.h"
#include "results/fake_results.h"
#include "support/temp_dir.h"

namespace fetchd::state {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using results::FlapPolicy;
using results::TargetResults;
using results::test::kEpoch;

std::string encoded(const TargetResults& results) {
  std::string bytes;
  BinaryWriter out(bytes);
  results::encode(results, out);
  return bytes;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::vector<std::string> store_files(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The daemon's side, in miniature: targets as the registry holds them, every change also told to
// the store the way service/persistence.cpp tells it.
class Daemon {
 public:
  explicit Daemon(const fs::path& dir, std::size_t history = 20) : dir_(dir), history_(history) {
    auto restored = ResultsStore::load(dir_, history_, results::kDefaultUptimeDays);
    EXPECT_TRUE(restored) << restored.error().message;
    problems = restored->problems;
    for (auto& [name, stored] : restored->targets)
      targets.insert_or_assign(name, Target{stored.url, std::move(stored.results)});
    store = std::make_unique<ResultsStore>(dir_, 10ms, *restored);
  }

  void put(const std::string& name, const std::string& url, FlapPolicy policy, bool fresh,
           results::test::Time at) {
    auto found = targets.find(name);
    if (fresh || found == targets.end()) {
      targets.insert_or_assign(name, Target{url, TargetResults(policy, history_, at)});
    } else {
      found->second.results.set_policy(policy);
    }
    store->put(name, url, policy, targets.at(name).results.state_since(), fresh);
  }
  void record(const std::string& name, results::Attempt attempt) {
    auto& results = targets.at(name).results;
    results.record(std::move(attempt));
    store->result(name, results.latest());
  }
  void skip(const std::string& name, std::uint64_t slots) {
    targets.at(name).results.record_skipped(slots);
    store->skipped(name, slots);
  }
  void remove(const std::string& name) {
    targets.erase(name);
    store->removed(name);
  }
  // Visits the targets in name order up to and including `last` ("": all).
  void snapshot_until(const std::string& after, const std::string& last) {
    for (auto it = after.empty() ? targets.begin() : targets.upper_bound(after);
         it != targets.end(); ++it) {
      store->snapshot_target(it->first, it->second.url, it->second.results);
      if (it->first == last)
        return;
    }
  }

  struct Target {
    std::string url;
    TargetResults results;
  };
  std::map<std::string, Target> targets;
  std::vector<std::string> problems;
  std::unique_ptr<ResultsStore> store;

 private:
  fs::path dir_;
  std::size_t history_;
};

void expect_same(const Daemon& restored, const Daemon& recorded) {
  ASSERT_EQ(restored.targets.size(), recorded.targets.size());
  for (const auto& [name, target] : recorded.targets) {
    const auto found = restored.targets.find(name);
    ASSERT_NE(found, restored.targets.end()) << name;
    EXPECT_EQ(found->second.url, target.url) << name;
    EXPECT_EQ(encoded(found->second.results), encoded(target.results)) << name;
  }
}

results::Attempt attempt_number(int i) {
  const auto at = kEpoch + i * 10s;
  switch (i % 5) {
    case 0:
      return results::test::failure(at);
    case 1:
      return results::test::expectation_failure(at, "status 500 not in 200-399");
    default:
      return results::test::success(at, std::chrono::microseconds(900 + i));
  }
}

TEST(ResultsStore, AnEmptyOrMissingDirectoryRestoresNothing) {
  test::TempDir dir("fetchd-store");
  auto missing = ResultsStore::load(dir.path() / "none", 100, 30);
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->targets.empty());
  auto empty = ResultsStore::load(dir.path(), 100, 30);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->targets.empty());
  EXPECT_EQ(empty->generation, 0u);
}

TEST(ResultsStore, RestoresEveryTargetExactlyFromLogsAndASnapshotTakenWhileRecording) {
  test::TempDir dir("fetchd-store");
  Daemon before(dir.path());
  int n = 0;
  for (const char* name : {"a", "b", "c", "d", "e"})
    before.put(name, std::string("http://") + name + ".example/", FlapPolicy{2, 1}, true, kEpoch);
  for (; n < 60; ++n)
    before.record(std::string(1, static_cast<char>('a' + n % 5)), attempt_number(n));

  // A snapshot in two slices, with results arriving between them: for targets already visited
  // (their records must not be applied twice) and for targets not yet visited.
  before.store->begin_snapshot();
  before.snapshot_until("", "b");
  for (; n < 80; ++n)
    before.record(std::string(1, static_cast<char>('a' + n % 5)), attempt_number(n));
  before.skip("a", 2);
  before.remove("c");
  before.snapshot_until("b", "");
  before.store->end_snapshot();

  // After it: a URL change starts over, a policy change keeps the rest, a target is added.
  before.put("d", "http://d2.example/", FlapPolicy{}, true, kEpoch + 1000s);
  before.put("e", "http://e.example/", FlapPolicy{3, 3}, false, kEpoch);
  before.put("f", "http://f.example/", FlapPolicy{}, true, kEpoch + 1000s);
  for (; n < 110; ++n) {
    const std::string name(1, static_cast<char>("abdef"[n % 5]));
    before.record(name, attempt_number(n));
  }
  before.store->close();
  const auto stats = before.store->stats();
  EXPECT_EQ(stats.snapshots, 1u);
  EXPECT_EQ(stats.dropped, 0u);
  EXPECT_FALSE(stats.error);
  // The snapshot holds what the first log held: only its generation's files are left.
  EXPECT_EQ(store_files(dir.path()),
            (std::vector<std::string>{"results-2.log", "results-2.snapshot"}));

  Daemon after(dir.path());
  EXPECT_TRUE(after.problems.empty());
  expect_same(after, before);
  EXPECT_EQ(after.targets.at("a").results.totals().skipped, 2u);
  EXPECT_EQ(after.targets.at("e").results.policy(), (FlapPolicy{3, 3}));

  // A second life continues the sequence: its records apply on top of the first's.
  for (; n < 130; ++n)
    after.record("a", attempt_number(n));
  after.remove("b");
  after.store->close();
  Daemon third(dir.path());
  expect_same(third, after);
}

TEST(ResultsStore, ATornEndAndAFlippedBitAreReportedAndTheRestRestored) {
  test::TempDir dir("fetchd-store");
  {
    Daemon daemon(dir.path());
    daemon.put("a", "http://a.example/", FlapPolicy{}, true, kEpoch);
    daemon.put("b", "http://b.example/", FlapPolicy{}, true, kEpoch);
    for (int n = 0; n < 20; ++n)
      daemon.record(n % 2 == 0 ? "a" : "b", attempt_number(n));
    daemon.store->close();
  }
  const fs::path log = dir.path() / "results-1.log";
  const std::string whole = read_bytes(log);

  // Cut inside the last record (b's tenth result): everything before it comes back.
  write_bytes(log, whole.substr(0, whole.size() - 7));
  {
    Daemon daemon(dir.path());
    ASSERT_EQ(daemon.problems.size(), 1u);
    EXPECT_NE(daemon.problems[0].find(log.string()), std::string::npos) << daemon.problems[0];
    EXPECT_NE(daemon.problems[0].find("torn end"), std::string::npos) << daemon.problems[0];
    EXPECT_EQ(daemon.targets.at("a").results.totals().attempts, 10u);
    EXPECT_EQ(daemon.targets.at("b").results.totals().attempts, 9u);
    daemon.store->close();
  }
  fs::remove(dir.path() / "results-2.log");

  // A flipped bit in the middle (inside a's fourth result): that record alone is lost.
  std::string flipped = whole;
  flipped[whole.size() / 2] = static_cast<char>(flipped[whole.size() / 2] ^ 0x10);
  write_bytes(log, flipped);
  Daemon daemon(dir.path());
  ASSERT_EQ(daemon.problems.size(), 1u);
  EXPECT_NE(daemon.problems[0].find("1 damaged stretch"), std::string::npos) << daemon.problems[0];
  EXPECT_NE(daemon.problems[0].find("the rest restored"), std::string::npos);
  EXPECT_EQ(daemon.targets.at("a").results.totals().attempts +
                daemon.targets.at("b").results.totals().attempts,
            19u);
}

TEST(ResultsStore, ADamagedSnapshotTargetIsSkippedAndReported) {
  test::TempDir dir("fetchd-store");
  {
    Daemon daemon(dir.path());
    for (const char* name : {"a", "b", "c"}) {
      daemon.put(name, "http://x.example/", FlapPolicy{}, true, kEpoch);
      daemon.record(name, attempt_number(2));
    }
    daemon.store->begin_snapshot();
    daemon.snapshot_until("", "");
    daemon.store->end_snapshot();
    daemon.store->close();
  }
  const fs::path snapshot = dir.path() / "results-2.snapshot";
  std::string bytes = read_bytes(snapshot);
  // The middle of three target records: b's.
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
  write_bytes(snapshot, bytes);
  Daemon daemon(dir.path());
  ASSERT_EQ(daemon.problems.size(), 1u);
  EXPECT_NE(daemon.problems[0].find(snapshot.string()), std::string::npos) << daemon.problems[0];
  EXPECT_EQ(daemon.targets.size(), 2u);
}

TEST(ResultsStore, AFileOfAnotherFormatVersionIsRefusedNotMisread) {
  test::TempDir dir("fetchd-store");
  std::string header;
  BinaryWriter out(header);
  out.u8(1);  // header record
  out.u64(kResultsFormatVersion + 1);
  out.u8(0);  // a log
  out.u64(1);
  out.u64(0);
  std::string file = "FETCHDRS";
  append_framed(file, header);
  write_bytes(dir.path() / "results-1.log", file);
  const auto loaded = ResultsStore::load(dir.path(), 100, 30);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("results-1.log: results format version 2"),
            std::string::npos)
      << loaded.error().message;
  EXPECT_NE(loaded.error().message.find("a newer fetchd wrote it"), std::string::npos);
}

TEST(ResultsStore, AStateDirectoryThatCannotBeReadIsAnError) {
  test::TempDir dir("fetchd-store");
  test::write_file(dir.path() / "file", "x");
  const auto loaded = ResultsStore::load(dir.path() / "file", 100, 30);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("cannot read the state directory"), std::string::npos)
      << loaded.error().message;
}

TEST(ResultsStore, WriteErrorsAreKeptAndTheNextSnapshotMakesTheStoreWhole) {
  test::TempDir dir("fetchd-store");
  // The state directory's place is taken by a file: nothing can be written.
  const fs::path state = dir.path() / "state";
  test::write_file(state, "in the way");
  RestoredResults nothing;
  ResultsStore store(state, 10ms, nothing);
  TargetResults results(FlapPolicy{}, 10, kEpoch);
  store.put("a", "http://a.example/", FlapPolicy{}, kEpoch, true);
  results.record(attempt_number(2));
  store.result("a", results.latest());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!store.stats().error && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  const auto failing = store.stats();
  ASSERT_TRUE(failing.error);
  EXPECT_NE(failing.error->find(state.string()), std::string::npos) << *failing.error;
  EXPECT_TRUE(store.wants_snapshot());

  fs::remove(state);
  store.begin_snapshot();
  store.snapshot_target("a", "http://a.example/", results);
  store.end_snapshot();
  store.close();
  EXPECT_FALSE(store.stats().error) << *store.stats().error;
  EXPECT_EQ(store.stats().snapshots, 1u);
  const auto loaded = ResultsStore::load(state, 10, 30);
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->targets.size(), 1u);
  EXPECT_EQ(encoded(loaded->targets.at("a").results), encoded(results));
}

TEST(ResultsStore, FramingFindsRecordsAfterGarbage) {
  std::string bytes;
  append_framed(bytes, "one");
  bytes += "garbage\xd1\xc7\xf3\xa5 more";
  append_framed(bytes, "two");
  const auto framed = read_framed(bytes);
  ASSERT_EQ(framed.payloads.size(), 2u);
  EXPECT_EQ(framed.payloads[1], "two");
  EXPECT_EQ(framed.damaged, 1u);
  EXPECT_FALSE(framed.torn_tail);
}

}  // namespace
}  // namespace fetchd::state
