// store_bench: the results store at scale (issue 12). T targets with a full history are recorded
// into the real registry; the real persistence subscriber and results store then follow R results
// a second (a 1 ms tick on the loop, as fetches would arrive) for S seconds, taking the snapshots
// they take. Printed: bytes written per second and per result (log, snapshots, and the raw
// encoded attempt beside them), the writer thread's CPU, the loop's CPU and its largest stall (the
// tick's lateness), the disk size beside the results' memory, and the time to restore it all.
//
// Beside it, in the same run when built with SQLite (libsqlite3-dev), the alternative the issue
// asks to measure: SQLite in WAL mode, synchronous=NORMAL, writes batched on a helper thread one
// transaction per flush, each result an upsert of its history slot (target, slot) -> 32-byte
// entry in a WITHOUT ROWID table and of the target's latest result in full; bytes written are
// the process's write_bytes (/proc/self/io) over the run.
//
//   build/release/bench/store_bench [--targets 100000] [--rate 5000] [--seconds 30]
//                                   [--history 100] [--dir DIR] [--keep] [--no-sqlite]
//   build/release/bench/store_bench --restore STATE_DIR   (times the restore of a state directory)

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <malloc.h>
#include <mutex>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#ifdef FETCHD_BENCH_SQLITE
#include <sqlite3.h>
#endif

#include "common/binary.h"
#include "registry/registry.h"
#include "results/codec.h"
#include "service/persistence.h"
#include "state/results_store.h"

namespace {

using namespace fetchd;
using Steady = std::chrono::steady_clock;
using Wall = std::chrono::system_clock;

struct Options {
  int targets = 100'000;
  int rate = 5'000;
  int seconds = 30;
  int history = 100;
  std::string dir;
  std::string restore;  // only time the restore of this state directory
  bool keep = false;    // keep the store's files
  bool sqlite = true;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "store_bench: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--targets") {
      options.targets = std::atoi(next());
    } else if (arg == "--rate") {
      options.rate = std::atoi(next());
    } else if (arg == "--seconds") {
      options.seconds = std::atoi(next());
    } else if (arg == "--history") {
      options.history = std::atoi(next());
    } else if (arg == "--dir") {
      options.dir = next();
    } else if (arg == "--restore") {
      options.restore = next();
    } else if (arg == "--keep") {
      options.keep = true;
    } else if (arg == "--no-sqlite") {
      options.sqlite = false;
    } else if (arg == "--sqlite") {
      options.sqlite = true;
    } else {
      std::fprintf(stderr,
                   "usage: store_bench [--targets N] [--rate R] [--seconds S] [--history H] "
                   "[--dir DIR] [--keep] [--no-sqlite] | --restore STATE_DIR\n");
      std::exit(2);
    }
  }
  if (options.targets < 1 || options.rate < 1000 || options.seconds < 1 || options.history < 1) {
    std::fprintf(stderr, "store_bench: targets, seconds, history >= 1, rate >= 1000\n");
    std::exit(2);
  }
  return options;
}

double thread_cpu_seconds() {
  timespec cpu{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
  return static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) / 1e9;
}

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

// The process's bytes written to storage so far (/proc/self/io write_bytes).
std::uint64_t written_bytes() {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "write_bytes:")
      return value;
  }
  return 0;
}

std::uint64_t directory_bytes(const std::filesystem::path& dir) {
  std::uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file())
      bytes += entry.file_size();
  }
  return bytes;
}

std::size_t heap_in_use() {
  const auto info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// What nginx answers on loopback, with a TLS hop's details for one target in four.
http::FetchResult sample_result(Wall::time_point started, bool tls, int jitter) {
  http::FetchResult result;
  result.started = started;
  result.total = std::chrono::microseconds(400 + jitter);
  http::Hop hop;
  hop.url = http::parse_url(tls ? "https://127.0.0.1:8443/" : "http://127.0.0.1:8080/").value();
  hop.remote_address = tls ? "127.0.0.1:8443" : "127.0.0.1:8080";
  hop.version_major = 1;
  hop.version_minor = 1;
  hop.status = 200;
  hop.reason = "OK";
  hop.headers = {{"Server", "nginx/1.22.1"},
                 {"Date", "Mon, 07 Dec 2026 07:00:00 GMT"},
                 {"Content-Type", "text/html"},
                 {"Content-Length", "1024"},
                 {"Last-Modified", "Mon, 07 Dec 2026 06:00:00 GMT"},
                 {"Connection", "close"},
                 {"ETag", "\"6571c0a0-400\""},
                 {"Accept-Ranges", "bytes"}};
  hop.body_bytes = 1024;
  hop.timings.connect = std::chrono::microseconds(60 + jitter % 7);
  hop.timings.first_byte = std::chrono::microseconds(120 + jitter % 13);
  hop.timings.total = result.total;
  if (tls) {
    hop.timings.tls_handshake = std::chrono::microseconds(2100 + jitter % 31);
    hop.tls = http::TlsInfo{"TLSv1.3",
                            "TLS_AES_256_GCM_SHA384",
                            "CN=localhost",
                            "CN=fetchd test CA",
                            started + std::chrono::hours(24 * 90),
                            started + std::chrono::hours(24 * 90)};
  }
  result.hops.push_back(std::move(hop));
  return result;
}

std::string target_name(int i) {
  char name[32];
  std::snprintf(name, sizeof(name), "target-%06d", i);
  return name;
}

struct Run {
  double seconds = 0;
  std::uint64_t results = 0;
  double loop_cpu = 0;
  double max_stall_ms = 0;
  double p99_stall_ms = 0;
};

// The loop publishes `rate` results a second in 1 ms ticks for `seconds`, round-robin over the
// targets; lateness of each tick is the loop's stall.
Run drive(asio::io_context& loop, registry::Registry& registry,
          const std::vector<std::string>& names, int rate, int seconds, Wall::time_point first_time,
          std::size_t& cursor) {
  Run run;
  asio::steady_timer tick(loop);
  std::vector<double> lateness;
  const auto start = Steady::now();
  const auto end = start + std::chrono::seconds(seconds);
  auto next = start;
  double carry = 0;
  const double cpu_before = thread_cpu_seconds();
  std::function<void()> publish = [&] {
    const auto now = Steady::now();
    lateness.push_back(std::chrono::duration<double, std::milli>(now - next).count());
    carry += rate / 1000.0;
    const auto wall = first_time + (now - start);
    for (; carry >= 1; carry -= 1) {
      const std::size_t i = cursor++ % names.size();
      registry.record(names[i], sample_result(wall, i % 4 == 0, static_cast<int>(cursor % 97)));
      ++run.results;
    }
    next += std::chrono::milliseconds(1);
    if (next >= end)
      return;
    tick.expires_at(next);
    tick.async_wait([&](const std::error_code&) { publish(); });
  };
  tick.expires_at(next);
  tick.async_wait([&](const std::error_code&) { publish(); });
  loop.restart();
  loop.run_until(end + std::chrono::milliseconds(50));
  run.seconds = seconds_since(start);
  run.loop_cpu = thread_cpu_seconds() - cpu_before;
  std::sort(lateness.begin(), lateness.end());
  if (!lateness.empty()) {
    run.max_stall_ms = lateness.back();
    run.p99_stall_ms = lateness[static_cast<std::size_t>(0.99 * (lateness.size() - 1))];
  }
  return run;
}

// As at start: every file read and replayed into targets.
int restore(const std::filesystem::path& dir, std::size_t history) {
  malloc_trim(0);
  const auto start = Steady::now();
  const auto restored = state::ResultsStore::load(dir, history, results::kDefaultUptimeDays);
  const double took = seconds_since(start);
  if (!restored) {
    std::printf("fetchd: restore failed: %s\n", restored.error().message.c_str());
    return 1;
  }
  std::size_t full = 0;
  for (const auto& [name, target] : restored->targets)
    full += target.results.history().size() == history ? 1 : 0;
  std::printf(
      "fetchd: restore %.2f s: %zu targets (%zu with a full history), %.0f MB read, "
      "%zu problems\n",
      took, restored->targets.size(), full,
      static_cast<double>(restored->snapshot_bytes + restored->log_bytes) / 1e6,
      restored->problems.size());
  for (const auto& problem : restored->problems)
    std::printf("  %s\n", problem.c_str());
  return 0;
}

int bench_fetchd(const Options& options, const std::filesystem::path& dir) {
  std::filesystem::remove_all(dir);
  asio::io_context loop;
  results::Feed feed;
  registry::Registry registry(feed, static_cast<std::size_t>(options.history));
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(options.targets));
  const auto begin = Wall::now() - std::chrono::hours(2);
  const auto heap_before = heap_in_use();
  for (int i = 0; i < options.targets; ++i) {
    names.push_back(target_name(i));
    auto config = std::make_shared<config::TargetConfig>();
    config->name = names.back();
    config->fetch.url = http::parse_url("http://127.0.0.1:8080/" + names.back()).value();
    registry.put(std::move(config), nullptr, registry::Keep::nothing, begin);
  }
  // A full history for every target, recorded before the store follows the feed.
  const auto fill_start = Steady::now();
  for (int round = 0; round < options.history; ++round) {
    const auto at = begin + std::chrono::seconds(60) * round / options.history;
    for (std::size_t i = 0; i < names.size(); ++i)
      registry.record(names[i], sample_result(at, i % 4 == 0, round));
  }
  const auto memory = heap_in_use() - heap_before;
  std::printf(
      "fetchd: %d targets with %d results each recorded in %.1f s; results memory %.0f MB "
      "(%.0f B per target)\n",
      options.targets, options.history, seconds_since(fill_start),
      static_cast<double>(memory) / 1e6, static_cast<double>(memory) / options.targets);

  std::string raw;
  {
    BinaryWriter out(raw);
    results::encode(*registry.find(names[1])->results.latest(), out);
  }
  const double raw_bytes = static_cast<double>(raw.size());

  // The same loop and rate with nothing persisted: the baseline of the stall and CPU figures.
  std::size_t cursor = 0;
  const Run baseline =
      drive(loop, registry, names, options.rate, 3, begin + std::chrono::seconds(61), cursor);
  std::printf("baseline (no store): loop CPU %.3f s/s; loop stall p99 %.2f ms, max %.2f ms\n",
              baseline.loop_cpu / baseline.seconds, baseline.p99_stall_ms, baseline.max_stall_ms);

  state::RestoredResults nothing;
  service::Persistence persistence(
      loop, feed, registry,
      std::make_unique<state::ResultsStore>(dir, std::chrono::milliseconds(1000), nothing),
      std::chrono::milliseconds(1000));
  // The first snapshot (every target's full history) is taken as the store starts following.
  const auto write_before = written_bytes();
  const Run run = drive(loop, registry, names, options.rate, options.seconds,
                        begin + std::chrono::seconds(64), cursor);
  const auto during = persistence.stats();
  persistence.stop();
  const auto stats = persistence.stats();
  const auto disk = directory_bytes(dir);
  const double per_s = static_cast<double>(run.results) / run.seconds;
  const double log_per_result = static_cast<double>(stats.log_bytes) / run.results;

  std::printf("fetchd: %.0f results/s for %.1f s; %llu snapshots written (%.0f MB in all)\n", per_s,
              run.seconds, static_cast<unsigned long long>(stats.snapshots),
              static_cast<double>(stats.snapshot_bytes) / 1e6);
  std::printf(
      "fetchd: log %.2f MB/s (%.0f B per result; the raw encoded attempt is %.0f B); snapshots "
      "%.2f MB/s over this run; process write_bytes %.2f MB/s\n",
      static_cast<double>(stats.log_bytes) / 1e6 / run.seconds, log_per_result, raw_bytes,
      static_cast<double>(stats.snapshot_bytes) / 1e6 / run.seconds,
      static_cast<double>(written_bytes() - write_before) / 1e6 / run.seconds);
  std::printf(
      "fetchd: steady state (a snapshot once the logs are twice as large as it): %.0f B "
      "written per result = %.2fx the raw attempt\n",
      1.5 * log_per_result, 1.5 * log_per_result / raw_bytes);
  std::printf(
      "fetchd: writer thread CPU %.3f s/s; loop CPU %.3f s/s (recording and publishing "
      "included); loop stall p99 %.2f ms, max %.2f ms\n",
      stats.writer_cpu_seconds / run.seconds, run.loop_cpu / run.seconds, run.p99_stall_ms,
      run.max_stall_ms);
  std::printf(
      "fetchd: disk %.0f MB (%.2fx the results' memory); dropped %llu; error %s; during "
      "the run %.0f MB\n",
      static_cast<double>(disk) / 1e6, static_cast<double>(disk) / static_cast<double>(memory),
      static_cast<unsigned long long>(stats.dropped), stats.error ? stats.error->c_str() : "none",
      static_cast<double>(during.disk_bytes) / 1e6);

  return restore(dir, static_cast<std::size_t>(options.history));
}

#ifdef FETCHD_BENCH_SQLITE
// SQLite: the writer thread takes what the loop queued and commits it once a second.
int bench_sqlite(const Options& options, const std::filesystem::path& dir) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto path = (dir / "results.db").string();
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    std::printf("sqlite: cannot open %s\n", path.c_str());
    return 1;
  }
  const auto exec = [db](const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      std::printf("sqlite: %s: %s\n", sql, error);
      sqlite3_free(error);
      std::exit(1);
    }
  };
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec(
      "CREATE TABLE history (target INTEGER, slot INTEGER, entry BLOB, "
      "PRIMARY KEY (target, slot)) WITHOUT ROWID");
  exec("CREATE TABLE latest (target INTEGER PRIMARY KEY, result BLOB)");
  sqlite3_stmt* put_entry = nullptr;
  sqlite3_stmt* put_latest = nullptr;
  sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO history VALUES (?, ?, ?)", -1, &put_entry,
                     nullptr);
  sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO latest VALUES (?, ?)", -1, &put_latest, nullptr);

  struct Row {
    int target;
    int slot;
    results::CompactEntry entry;
    std::string latest;
  };
  const auto write_rows = [&](const std::vector<Row>& rows) {
    exec("BEGIN");
    for (const auto& row : rows) {
      sqlite3_bind_int(put_entry, 1, row.target);
      sqlite3_bind_int(put_entry, 2, row.slot);
      sqlite3_bind_blob(put_entry, 3, &row.entry, sizeof(row.entry), SQLITE_STATIC);
      sqlite3_step(put_entry);
      sqlite3_reset(put_entry);
      if (!row.latest.empty()) {
        sqlite3_bind_int(put_latest, 1, row.target);
        sqlite3_bind_blob(put_latest, 2, row.latest.data(), static_cast<int>(row.latest.size()),
                          SQLITE_STATIC);
        sqlite3_step(put_latest);
        sqlite3_reset(put_latest);
      }
    }
    exec("COMMIT");
  };
  const auto begin = Wall::now() - std::chrono::hours(2);
  const auto fill_start = Steady::now();
  std::vector<Row> rows;
  for (int target = 0; target < options.targets; ++target) {
    for (int slot = 0; slot < options.history; ++slot) {
      const auto result = sample_result(begin, target % 4 == 0, slot);
      Row row{target, slot, results::make_compact_entry(result, false), {}};
      if (slot == options.history - 1) {
        BinaryWriter out(row.latest);
        results::encode(results::Attempt{result, ""}, out);
      }
      rows.push_back(std::move(row));
    }
    if (rows.size() >= 100'000) {
      write_rows(rows);
      rows.clear();
    }
  }
  write_rows(rows);
  rows.clear();
  exec("PRAGMA wal_checkpoint(TRUNCATE)");
  std::printf("sqlite: %d targets with %d results each written in %.1f s\n", options.targets,
              options.history, seconds_since(fill_start));

  // The run: the loop thread queues rows; a helper thread commits each second's.
  std::mutex mutex;
  std::condition_variable wake;
  std::vector<Row> queue;
  std::atomic<bool> done{false};
  double worst_commit_ms = 0;
  double writer_cpu = 0;
  std::thread writer([&] {
    while (!done) {
      std::vector<Row> batch;
      {
        std::unique_lock lock(mutex);
        wake.wait_for(lock, std::chrono::seconds(1), [&] { return done.load(); });
        batch.swap(queue);
      }
      const auto start = Steady::now();
      write_rows(batch);
      worst_commit_ms = std::max(worst_commit_ms, seconds_since(start) * 1e3);
    }
    writer_cpu = thread_cpu_seconds();
  });
  const auto write_before = written_bytes();
  const auto start = Steady::now();
  std::uint64_t results = 0;
  std::vector<int> next_slot(static_cast<std::size_t>(options.targets), 0);
  const double loop_cpu_before = thread_cpu_seconds();
  for (auto next = start; next < start + std::chrono::seconds(options.seconds);
       next += std::chrono::milliseconds(1)) {
    std::this_thread::sleep_until(next);
    std::vector<Row> tick;
    for (int i = 0; i < options.rate / 1000; ++i, ++results) {
      const int target = static_cast<int>(results % static_cast<std::uint64_t>(options.targets));
      const auto result = sample_result(begin + (Steady::now() - start), target % 4 == 0,
                                        static_cast<int>(results % 97));
      Row row{target,
              next_slot[static_cast<std::size_t>(target)]++ % options.history,
              results::make_compact_entry(result, false),
              {}};
      BinaryWriter out(row.latest);
      results::encode(results::Attempt{result, ""}, out);
      tick.push_back(std::move(row));
    }
    const std::lock_guard lock(mutex);
    std::move(tick.begin(), tick.end(), std::back_inserter(queue));
  }
  const double run_s = seconds_since(start);
  const double loop_cpu = thread_cpu_seconds() - loop_cpu_before;
  done = true;
  wake.notify_one();
  writer.join();
  const auto written = written_bytes() - write_before;
  std::printf(
      "sqlite: %.0f results/s for %.1f s; written %.2f MB/s (%.0f B per result); writer "
      "CPU %.3f s/s (queueing on the loop %.3f s/s); worst commit %.0f ms\n",
      static_cast<double>(results) / run_s, run_s, static_cast<double>(written) / 1e6 / run_s,
      static_cast<double>(written) / static_cast<double>(results), writer_cpu / run_s,
      loop_cpu / run_s, worst_commit_ms);
  sqlite3_finalize(put_entry);
  sqlite3_finalize(put_latest);
  sqlite3_close(db);
  std::printf("sqlite: disk %.0f MB\n", static_cast<double>(directory_bytes(dir)) / 1e6);

  // Restore: every row read back (not yet turned into targets: a lower bound of the real work).
  sqlite3_open(path.c_str(), &db);
  const auto restore_start = Steady::now();
  std::uint64_t read_rows = 0;
  for (const char* sql :
       {"SELECT target, slot, entry FROM history", "SELECT target, result FROM latest"}) {
    sqlite3_stmt* select = nullptr;
    sqlite3_prepare_v2(db, sql, -1, &select, nullptr);
    while (sqlite3_step(select) == SQLITE_ROW)
      ++read_rows;
    sqlite3_finalize(select);
  }
  std::printf("sqlite: restore (reading the %llu rows alone) %.2f s\n",
              static_cast<unsigned long long>(read_rows), seconds_since(restore_start));
  sqlite3_close(db);
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  if (!options.restore.empty())
    return restore(options.restore, static_cast<std::size_t>(options.history));
  const std::filesystem::path base =
      options.dir.empty() ? std::filesystem::temp_directory_path() / "fetchd-store-bench"
                          : std::filesystem::path(options.dir);
  std::printf("store_bench: %d targets, %d results/s for %d s, history %d, in %s\n",
              options.targets, options.rate, options.seconds, options.history, base.c_str());
  int status = bench_fetchd(options, base / "fetchd");
  std::fflush(stdout);
#ifdef FETCHD_BENCH_SQLITE
  if (options.sqlite && status == 0)
    status = bench_sqlite(options, base / "sqlite");
#else
  std::printf("sqlite: not built (apt-get install libsqlite3-dev, then reconfigure)\n");
#endif
  if (!options.keep)
    std::filesystem::remove_all(base);
  return status;
}
