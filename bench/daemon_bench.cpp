// The daemon under load: the real service::Service (config file → scheduler → fetcher → results)
// in this process, on one loop, against the loopback nginx that bench/run.sh starts. Three modes,
// one process each so that memory figures start from a clean heap:
//
//   daemon_bench rate    [-n 10000] [--interval-ms 2000] [--duration 60] [--max-in-flight 2000]
//       N targets at a fixed interval: achieved fetch rate vs ideal over the measured window (after
//       a warm-up of one interval), lateness vs schedule (every fetch started in the window),
//       client CPU-seconds per 1,000 fetches (getrusage of this process over the window), errors by
//       class, the largest in-flight count seen.
//   daemon_bench paced   [-n 10000] [--interval-ms 2000] [--duration 60]
//       The engine alone (no Service) fetching at the same rate, N / interval, evenly paced: what
//       the fetches cost when the loop sleeps between them, to set beside `rate` and fetch_bench.
//   daemon_bench scale   [-n 100000] [--interval-ms 60000] [--max-in-flight 256]
//       Start-up time (config load, Service construction, start, first loop pass), RSS and heap per
//       target of the running Service (config + scheduler + empty results), and how long reloads of
//       that config (unchanged, then 1% of targets changed) block the loop, watched by a 1 ms
//       ticker.
//   daemon_bench history [-n 100000] [--history 100]
//       A registry::Registry of N targets, each with a full history and a latest result copied
//       from one real fetch of nginx: RSS and heap per target (the Service exposes its store
//       read-only, so the full-history cost is measured on a store of its own).
//
// Each mode prints human lines on stderr and one JSON line per measurement on stdout. All traffic
// goes to --url (default http://127.0.0.1:18080/); every wait is bounded.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <malloc.h>
#include <map>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "config/loader.h"
#include "dns/resolver.h"
#include "http/fetcher.h"
#include "registry/registry.h"
#include "service/service.h"

namespace {

using namespace fetchd;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using Wall = std::chrono::system_clock;

struct Options {
  std::string mode;
  std::string url = "http://127.0.0.1:18080/";
  int targets = 0;
  std::int64_t interval_ms = 0;
  int duration_s = 60;
  int max_in_flight = 0;
  int history = 100;
  std::string dir;  // scratch directory for the config and the state file
};

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Memory {
  long rss_kib = 0;
  long hwm_kib = 0;
  std::size_t heap_bytes = 0;  // in use by malloc: small chunks + mmapped blocks
};

Memory memory_now() {
  Memory memory;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0)
      memory.rss_kib = std::atol(line.c_str() + 6);
    else if (line.rfind("VmHWM:", 0) == 0)
      memory.hwm_kib = std::atol(line.c_str() + 6);
  }
  const auto info = mallinfo2();
  memory.heap_bytes = info.uordblks + info.hblkhd;
  return memory;
}

double bytes_per_target(double kib_or_bytes, int targets, bool kib) {
  return (kib ? kib_or_bytes * 1024.0 : kib_or_bytes) / targets;
}

std::string target_name(int i, int targets) {
  const std::size_t width = std::max<std::size_t>(5, std::to_string(targets).size());
  auto digits = std::to_string(i);
  return "t" + std::string(width - std::min(width, digits.size()), '0') + digits;
}

// Writes the configuration: N targets t00001... on `url` at `interval_ms`; every `changed_every`-th
// target (0: none) gets a different interval, which makes it a changed target on reload. Streamed,
// so that no big buffer sits in the heap before the measurement starts.
void write_config(const Options& options, const std::filesystem::path& file, int changed_every) {
  const auto tmp = file.string() + ".tmp";
  std::FILE* out = std::fopen(tmp.c_str(), "w");
  if (out == nullptr)
    throw std::runtime_error("cannot write " + tmp);
  std::fprintf(out,
               "{\n  \"settings\": {\n    \"control_socket\": \"%s/fetchd.sock\",\n"
               "    \"state_dir\": \"%s/state\",\n    \"history_length\": %d,\n"
               "    \"max_in_flight\": %d,\n    \"log_level\": \"warning\"\n  },\n"
               "  \"defaults\": { \"interval\": \"%lldms\", \"timeout\": \"10s\" },\n"
               "  \"targets\": [\n",
               options.dir.c_str(), options.dir.c_str(), options.history, options.max_in_flight,
               static_cast<long long>(options.interval_ms));
  for (int i = 1; i <= options.targets; ++i) {
    const bool changed = changed_every > 0 && i % changed_every == 0;
    std::fprintf(out, "    { \"name\": \"%s\", \"url\": \"%s\"",
                 target_name(i, options.targets).c_str(), options.url.c_str());
    if (changed)
      std::fprintf(out, ", \"interval\": \"%lldms\"",
                   static_cast<long long>(options.interval_ms / 2));
    std::fprintf(out, " }%s\n", i == options.targets ? "" : ",");
  }
  std::fprintf(out, "  ]\n}\n");
  if (std::fclose(out) != 0)
    throw std::runtime_error("cannot write " + tmp);
  std::filesystem::rename(tmp, file);  // a reload never sees half a file
}

config::Config load_or_die(const std::filesystem::path& file) {
  auto loaded = config::load_config(file);
  if (!loaded)
    throw std::runtime_error("config: " + loaded.error_text());
  return std::move(*loaded.value);
}

void raise_nofile() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  std::getline(in, line);
  return line;
}

std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty())
    return 0;
  return sorted[static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1))];
}

// Runs the loop until `done` or `limit` passes; false on the limit.
bool run_until(asio::io_context& loop, const bool& done, std::chrono::seconds limit) {
  const auto deadline = Steady::now() + limit;
  while (!done && Steady::now() < deadline) {
    loop.run_for(50ms);
    if (loop.stopped())
      loop.restart();
  }
  return done;
}

void spawn_checked(asio::io_context& loop, std::function<asio::awaitable<void>()> work) {
  asio::co_spawn(loop, std::move(work), [](std::exception_ptr error) {
    if (error)
      std::rethrow_exception(error);
  });
}

// ---- rate ------------------------------------------------------------------------------------

struct RateReport {
  std::uint64_t started = 0, completed = 0, skipped = 0;
  double wall_s = 0, cpu_s = 0;
  std::vector<std::int64_t> lateness_us;  // every fetch started in the window
  std::size_t lateness_lost = 0;          // samples overwritten before they were read (should be 0)
  std::size_t max_in_flight = 0, max_waiting = 0;
  Wall::time_point wall_begin, wall_end;
  bool finished = false;
};

// Samples the scheduler every 10 ms (in-flight peak) and reads every lateness sample taken in the
// window, once a second.
asio::awaitable<void> watch_rate(service::Service& service, Options options, RateReport& report) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto& scheduler = service.scheduler();
  auto wake = Steady::now() + std::chrono::milliseconds(options.interval_ms);  // warm-up
  timer.expires_at(wake);
  co_await timer.async_wait(asio::use_awaitable);

  const auto begin = Steady::now();
  report.wall_begin = Wall::now();
  const double cpu_begin = cpu_seconds();
  const auto first = scheduler.stats();
  std::uint64_t cursor = 0;
  std::vector<std::int64_t> warm_up;
  scheduler.read_lateness(cursor, warm_up);
  const auto end = begin + std::chrono::seconds(options.duration_s);
  const auto collect = [&] {
    report.lateness_lost += scheduler.read_lateness(cursor, report.lateness_us);
  };
  wake = begin;
  for (int tick = 1;; ++tick) {
    wake += 10ms;
    timer.expires_at(std::min(wake, end));
    co_await timer.async_wait(asio::use_awaitable);
    const auto stats = scheduler.stats();
    report.max_in_flight = std::max(report.max_in_flight, stats.in_flight);
    report.max_waiting = std::max(report.max_waiting, stats.waiting_for_permit);
    if (Steady::now() >= end) {
      report.wall_s = seconds_since(begin);
      report.cpu_s = cpu_seconds() - cpu_begin;
      report.wall_end = Wall::now();
      report.started = stats.fetches_started - first.fetches_started;
      report.completed = stats.fetches_completed - first.fetches_completed;
      report.skipped = stats.slots_skipped - first.slots_skipped;
      collect();
      break;
    }
    if (tick % 100 == 0)
      collect();
  }
  report.finished = true;
}

int run_rate(const Options& options) {
  const auto file = std::filesystem::path(options.dir) / "fetchd.json";
  write_config(options, file, 0);
  raise_nofile();
  asio::io_context loop(1);
  service::Service service(loop, file, load_or_die(file));
  service.start();
  RateReport report;
  spawn_checked(loop, [&]() { return watch_rate(service, options, report); });
  const bool finished =
      run_until(loop, report.finished,
                std::chrono::seconds(options.interval_ms / 1000 + options.duration_s + 30));
  service.shutdown();
  loop.run_for(5s);

  // Outcomes of the attempts that started in the window, from the targets' histories.
  std::map<std::string, std::uint64_t> outcomes;
  std::uint64_t status_not_200 = 0;
  const auto from_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(report.wall_begin.time_since_epoch())
          .count();
  const auto to_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(report.wall_end.time_since_epoch())
          .count();
  service.registry().for_each([&](const registry::Entry& target) {
    const auto& history = target.results.history();
    for (std::size_t i = 0; i < history.size(); ++i) {
      const auto& entry = history[i];
      if (entry.time_ms < from_ms || entry.time_ms >= to_ms)
        continue;
      ++outcomes[std::string(results::to_string(entry.outcome))];
      if (entry.outcome == results::Outcome::ok && entry.status != 200)
        ++status_not_200;
    }
  });
  std::uint64_t errors = 0;
  nlohmann::json by_class = nlohmann::json::object();
  for (const auto& [name, count] : outcomes) {
    if (name != "ok") {
      errors += count;
      by_class[name] = count;
    }
  }
  std::sort(report.lateness_us.begin(), report.lateness_us.end());
  const double ideal = options.targets * 1000.0 / static_cast<double>(options.interval_ms);
  const double rate = static_cast<double>(report.completed) / report.wall_s;
  const double per_1000 = report.cpu_s * 1000.0 / std::max<double>(1.0, report.completed);
  const auto& lateness = report.lateness_us;
  nlohmann::json json = {{"tool", "fetchd_daemon"},
                         {"bench", "rate"},
                         {"targets", options.targets},
                         {"interval_ms", options.interval_ms},
                         {"window_s", report.wall_s},
                         {"ideal_fetches_per_s", ideal},
                         {"fetches_per_s", rate},
                         {"rate_vs_ideal", rate / ideal},
                         {"fetches_started", report.started},
                         {"fetches_completed", report.completed},
                         {"slots_skipped", report.skipped},
                         {"cpu_s", report.cpu_s},
                         {"cpu_s_per_1000", per_1000},
                         {"lateness_us",
                          {{"samples", lateness.size()},
                           {"lost", report.lateness_lost},
                           {"p50", percentile(lateness, 0.5)},
                           {"p90", percentile(lateness, 0.9)},
                           {"p99", percentile(lateness, 0.99)},
                           {"max", percentile(lateness, 1.0)}}},
                         {"attempts_in_window", outcomes},
                         {"errors", errors},
                         {"errors_by_class", by_class},
                         {"status_not_200", status_not_200},
                         {"max_in_flight_setting", options.max_in_flight},
                         {"max_in_flight_seen", report.max_in_flight},
                         {"max_waiting_for_permit", report.max_waiting},
                         {"peak_rss_kib", memory_now().hwm_kib},
                         {"loadavg", loadavg()},
                         {"finished", finished}};
  std::printf("%s\n", json.dump().c_str());
  std::fprintf(stderr,
               "daemon rate  targets=%d interval=%llds window=%.1fs  %.0f/%.0f fetches/s (%.1f%%)  "
               "%.3f CPU-s/1000  lateness p50 %.2f ms p99 %.2f ms max %.2f ms  errors %llu  "
               "skipped %llu  in-flight max %zu (limit %d)  loadavg %s\n",
               options.targets, static_cast<long long>(options.interval_ms / 1000), report.wall_s,
               rate, ideal, 100.0 * rate / ideal, per_1000,
               static_cast<double>(percentile(lateness, 0.5)) / 1000.0,
               static_cast<double>(percentile(lateness, 0.99)) / 1000.0,
               static_cast<double>(percentile(lateness, 1.0)) / 1000.0,
               static_cast<unsigned long long>(errors),
               static_cast<unsigned long long>(report.skipped), report.max_in_flight,
               options.max_in_flight, loadavg().c_str());
  return finished && errors == 0 ? 0 : 1;
}

// ---- paced: the engine alone at the daemon's rate -------------------------------------------

// The same fetch rate as `rate`, without the daemon: one fetch started every 1/rate seconds
// (fixed rate, the missed ones at once), each on its own coroutine. Separates what the engine and
// the kernel cost at a paced rate (the loop sleeps between fetches) from what the daemon adds.
struct PacedTally {
  std::uint64_t completed = 0, ok = 0;
  std::map<std::string, std::uint64_t> errors;
};

asio::awaitable<void> paced_fetch(http::Fetcher& fetcher, http::Target target, PacedTally& tally) {
  const auto result = co_await fetcher.fetch(std::move(target));
  ++tally.completed;
  if (result.ok() && result.last().status == 200)
    ++tally.ok;
  else
    ++tally.errors[result.ok() ? "status_" + std::to_string(result.last().status)
                               : std::string(http::to_string(result.error().error_class))];
}

int run_paced(const Options& options) {
  raise_nofile();
  asio::io_context loop(1);
  dns::Resolver resolver(loop.get_executor());
  http::Fetcher fetcher(resolver);
  auto target = http::make_target(options.url);
  if (!target)
    throw std::runtime_error("bad --url");
  const double rate = options.targets * 1000.0 / static_cast<double>(options.interval_ms);
  const auto period = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / rate));
  PacedTally tally;
  double wall_s = 0, cpu_s = 0;
  std::uint64_t completed = 0;
  bool finished = false;
  const auto pace = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(loop);
    const auto start = Steady::now();
    const auto begin = start + 1s;  // warm-up
    const auto end = begin + std::chrono::seconds(options.duration_s);
    double cpu_begin = 0;
    std::uint64_t completed_begin = 0;
    bool measuring = false;
    auto due = start;
    while (Steady::now() < end) {
      timer.expires_at(due);
      co_await timer.async_wait(asio::use_awaitable);
      const auto now = Steady::now();
      if (!measuring && now >= begin) {
        measuring = true;
        cpu_begin = cpu_seconds();
        completed_begin = tally.completed;
      }
      for (int spawned = 0; due <= now && spawned < 10'000; ++spawned) {
        asio::co_spawn(loop, paced_fetch(fetcher, *target, tally), [](std::exception_ptr error) {
          if (error)
            std::rethrow_exception(error);
        });
        due += period;
      }
    }
    wall_s = seconds_since(begin);
    cpu_s = cpu_seconds() - cpu_begin;
    completed = tally.completed - completed_begin;
    finished = true;
  };
  spawn_checked(loop, pace);
  run_until(loop, finished, std::chrono::seconds(options.duration_s + 30));
  loop.run_for(5s);  // the last fetches end
  std::uint64_t errors = 0;
  for (const auto& [name, count] : tally.errors)
    errors += count;
  const double per_1000 = cpu_s * 1000.0 / std::max<double>(1.0, static_cast<double>(completed));
  nlohmann::json json = {{"tool", "fetchd_engine_paced"},
                         {"bench", "paced"},
                         {"ideal_fetches_per_s", rate},
                         {"fetches_per_s", static_cast<double>(completed) / wall_s},
                         {"window_s", wall_s},
                         {"fetches_completed", completed},
                         {"cpu_s", cpu_s},
                         {"cpu_s_per_1000", per_1000},
                         {"errors", errors},
                         {"errors_by_class", tally.errors},
                         {"loadavg", loadavg()},
                         {"finished", finished}};
  std::printf("%s\n", json.dump().c_str());
  std::fprintf(stderr,
               "engine paced (no daemon) %.0f/%.0f fetches/s  %.3f CPU-s/1000  errors %llu  "
               "loadavg %s\n",
               static_cast<double>(completed) / wall_s, rate, per_1000,
               static_cast<unsigned long long>(errors), loadavg().c_str());
  return finished && errors == 0 ? 0 : 1;
}

// ---- scale: start-up, memory, reload stall ---------------------------------------------------

struct Ticker {
  Steady::time_point last{};
  Steady::duration max_gap{};
  std::uint64_t ticks = 0;
  bool stop = false;
  void reset() {
    last = Steady::now();
    max_gap = {};
    ticks = 0;
  }
};

// Ticks every 1 ms on the loop and records the largest gap between two ticks: how long the loop
// was unable to run anything else.
asio::awaitable<void> tick(Ticker& ticker) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  ticker.reset();
  while (!ticker.stop) {
    timer.expires_after(1ms);
    co_await timer.async_wait(asio::use_awaitable);
    const auto now = Steady::now();
    ticker.max_gap = std::max(ticker.max_gap, now - ticker.last);
    ticker.last = now;
    ++ticker.ticks;
  }
}

double ms(Steady::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

struct ReloadFigures {
  double total_ms = 0;
  double max_gap_ms = 0;
  std::uint64_t ticks = 0;
  std::string summary;
  bool ok = false;
};

ReloadFigures measure_reload(asio::io_context& loop, service::Service& service, Ticker& ticker) {
  ReloadFigures figures;
  bool done = false;
  Steady::time_point began;
  asio::post(loop, [&] {
    ticker.reset();
    began = Steady::now();
    service.reload([&](const service::ReloadReport& report) {
      figures.total_ms = ms(Steady::now() - began);
      figures.summary = report.summary();
      figures.ok = report.ok;
      done = true;
    });
  });
  run_until(loop, done, 120s);
  // The report arrives inside the apply; let the loop settle briefly so that any work the apply
  // left behind (jobs restarted, old configuration freed) is inside the watched window too.
  bool settled = false;
  asio::steady_timer settle(loop, 100ms);
  settle.async_wait([&](std::error_code) { settled = true; });
  run_until(loop, settled, 5s);
  figures.max_gap_ms = ms(ticker.max_gap);
  figures.ticks = ticker.ticks;
  return figures;
}

int run_scale(const Options& options) {
  const auto dir = std::filesystem::path(options.dir);
  const auto file = dir / "fetchd.json";
  write_config(options, file, 0);
  raise_nofile();
  asio::io_context loop(1);
  const Memory base = memory_now();

  auto t = Steady::now();
  auto config = load_or_die(file);
  const double load_s = seconds_since(t);
  const Memory after_load = memory_now();

  t = Steady::now();
  auto service = std::make_unique<service::Service>(loop, file, std::move(config));
  const double construct_s = seconds_since(t);
  t = Steady::now();
  service->start();
  const double start_s = seconds_since(t);
  t = Steady::now();
  loop.poll();  // every job's coroutine runs to its first timer wait
  const double first_pass_s = seconds_since(t);
  const double startup_s = load_s + construct_s + start_s + first_pass_s;

  // Run for a while (fetches flow at N / interval per second), then measure.
  bool ran = false;
  asio::steady_timer run_a_while(loop, 3s);
  run_a_while.async_wait([&](std::error_code) { ran = true; });
  run_until(loop, ran, 10s);
  const Memory running = memory_now();
  malloc_trim(0);
  const Memory trimmed = memory_now();

  const auto kib_delta = [&](const Memory& m) {
    return static_cast<double>(m.rss_kib - base.rss_kib);
  };
  const double rss_per_target = bytes_per_target(kib_delta(running), options.targets, true);
  const double trimmed_per_target = bytes_per_target(kib_delta(trimmed), options.targets, true);
  const double heap_per_target = bytes_per_target(
      static_cast<double>(running.heap_bytes - base.heap_bytes), options.targets, false);
  const auto stats = service->scheduler().stats();
  nlohmann::json startup = {
      {"tool", "fetchd_daemon"},
      {"bench", "startup"},
      {"targets", options.targets},
      {"interval_ms", options.interval_ms},
      {"config_load_s", load_s},
      {"service_construct_s", construct_s},
      {"service_start_s", start_s},
      {"first_loop_pass_s", first_pass_s},
      {"startup_s", startup_s},
      {"jobs", stats.jobs},
      {"fetches_completed_in_3s", stats.fetches_completed},
      {"rss_kib",
       {{"base", base.rss_kib},
        {"after_load", after_load.rss_kib},
        {"running", running.rss_kib},
        {"after_malloc_trim", trimmed.rss_kib},
        {"hwm", running.hwm_kib}}},
      {"heap_bytes", {{"base", base.heap_bytes}, {"running", running.heap_bytes}}},
      {"service_rss_bytes_per_target", rss_per_target},
      {"service_rss_trimmed_bytes_per_target", trimmed_per_target},
      {"service_heap_bytes_per_target", heap_per_target},
      {"loadavg", loadavg()}};
  std::printf("%s\n", startup.dump().c_str());
  std::fprintf(
      stderr,
      "daemon start targets=%d  load %.3f s + construct %.3f s + start %.3f s + first loop "
      "pass %.3f s = %.3f s  Service RSS %.0f B/target (%.0f after malloc_trim, heap %.0f), "
      "HWM %ld KiB  loadavg %s\n",
      options.targets, load_s, construct_s, start_s, first_pass_s, startup_s, rss_per_target,
      trimmed_per_target, heap_per_target, running.hwm_kib, loadavg().c_str());

  // Reloads, watched by a 1 ms ticker.
  Ticker ticker;
  bool ticker_done = false;
  asio::co_spawn(loop, tick(ticker), [&](std::exception_ptr) { ticker_done = true; });
  bool idle_done = false;
  asio::steady_timer idle(loop, 10ms);
  idle.async_wait([&](std::error_code) {
    ticker.reset();
    idle.expires_after(1s);
    idle.async_wait([&](std::error_code) { idle_done = true; });
  });
  run_until(loop, idle_done, 5s);
  const double idle_gap_ms = ms(ticker.max_gap);

  const auto unchanged = measure_reload(loop, *service, ticker);
  write_config(options, file, 100);  // every 100th target gets another interval: 1% changed
  const auto changed = measure_reload(loop, *service, ticker);
  write_config(options, file, 0);  // and back
  const auto back = measure_reload(loop, *service, ticker);
  ticker.stop = true;
  run_until(loop, ticker_done, 5s);

  bool ok = true;
  for (const auto& [label, figures] :
       {std::pair{"unchanged", unchanged}, std::pair{"1pct_changed", changed},
        std::pair{"1pct_changed_back", back}}) {
    nlohmann::json json = {{"tool", "fetchd_daemon"},
                           {"bench", "reload"},
                           {"kind", label},
                           {"targets", options.targets},
                           {"ok", figures.ok},
                           {"report", figures.summary},
                           {"reload_total_ms", figures.total_ms},
                           {"max_loop_gap_ms", figures.max_gap_ms},
                           {"idle_max_loop_gap_ms", idle_gap_ms},
                           {"ticks", figures.ticks},
                           {"loadavg", loadavg()}};
    std::printf("%s\n", json.dump().c_str());
    std::fprintf(stderr,
                 "daemon reload %-17s targets=%d  total %.0f ms  max loop gap %.1f ms (idle %.1f "
                 "ms, 1 ms ticker)  %s\n",
                 label, options.targets, figures.total_ms, figures.max_gap_ms, idle_gap_ms,
                 figures.summary.c_str());
    ok = ok && figures.ok;
  }

  t = Steady::now();
  service->shutdown();
  loop.run_for(3s);
  service.reset();
  std::fprintf(stderr, "daemon stop  shutdown + teardown %.3f s\n", seconds_since(t));
  return ok ? 0 : 1;
}

// ---- history: a full results store -----------------------------------------------------------

asio::awaitable<void> fetch_one(http::Fetcher& fetcher, http::Target target,
                                std::optional<http::FetchResult>& out) {
  out = co_await fetcher.fetch(std::move(target));
}

int run_history(const Options& options) {
  // One real result from nginx, the shape every history entry and latest result is copied from.
  std::optional<http::FetchResult> real;
  {
    asio::io_context loop(1);
    dns::Resolver resolver(loop.get_executor());
    http::Fetcher fetcher(resolver);
    auto target = http::make_target(options.url);
    if (!target)
      throw std::runtime_error("bad --url");
    spawn_checked(loop, [&]() { return fetch_one(fetcher, *target, real); });
    loop.run_for(15s);
  }
  if (!real || !real->ok()) {
    std::fprintf(stderr, "daemon_bench: the real fetch of %s failed\n", options.url.c_str());
    return 1;
  }
  malloc_trim(0);
  const Memory base = memory_now();

  results::Feed feed;
  registry::Registry store(feed, static_cast<std::size_t>(options.history));
  std::vector<std::string> names;
  std::vector<std::shared_ptr<const config::TargetConfig>> configs;
  names.reserve(static_cast<std::size_t>(options.targets));
  configs.reserve(static_cast<std::size_t>(options.targets));
  for (int i = 1; i <= options.targets; ++i) {
    names.push_back(target_name(i, options.targets));
    auto config = std::make_shared<config::TargetConfig>();
    config->name = names.back();
    configs.push_back(std::move(config));
  }
  const Memory names_only = memory_now();
  const auto now = Wall::now();
  for (const auto& config : configs)
    store.put(config, nullptr, registry::Keep::nothing, now);
  const Memory empty = memory_now();

  // Round by round, as the daemon records them: every target's n-th attempt, then the next.
  const auto t = Steady::now();
  auto result = *real;
  for (int round = 0; round < options.history; ++round) {
    result.started = now + std::chrono::seconds(60 * round);
    for (const auto& name : names)
      store.record(name, result);
  }
  const double fill_s = seconds_since(t);
  const Memory full = memory_now();
  malloc_trim(0);
  const Memory full_trimmed = memory_now();

  const auto* first_entry = store.find(names.front());
  const auto* first = first_entry != nullptr ? &first_entry->results : nullptr;
  const double n = options.targets;
  // The names and configurations stand in for the targets' configuration, measured elsewhere: left
  // out of the results' figures.
  const double empty_per_target = static_cast<double>(empty.heap_bytes - names_only.heap_bytes) / n;
  const double full_heap_per_target =
      static_cast<double>(full.heap_bytes - names_only.heap_bytes) / n;
  const double full_rss_per_target =
      static_cast<double>(full.rss_kib - names_only.rss_kib) * 1024.0 / n;
  const double full_trimmed_per_target =
      static_cast<double>(full_trimmed.rss_kib - names_only.rss_kib) * 1024.0 / n;
  nlohmann::json json = {
      {"tool", "fetchd_daemon"},
      {"bench", "history"},
      {"targets", options.targets},
      {"history_length", options.history},
      {"history_entries_per_target", first ? first->history().size() : 0},
      {"history_heap_bytes_per_target", first ? first->history().heap_bytes() : 0},
      {"fill_s", fill_s},
      {"records", static_cast<std::uint64_t>(options.targets) * options.history},
      {"rss_kib",
       {{"base", base.rss_kib},
        {"names", names_only.rss_kib},
        {"empty", empty.rss_kib},
        {"full", full.rss_kib},
        {"full_after_malloc_trim", full_trimmed.rss_kib},
        {"hwm", full.hwm_kib}}},
      {"store_empty_heap_bytes_per_target", empty_per_target},
      {"store_full_heap_bytes_per_target", full_heap_per_target},
      {"store_full_rss_bytes_per_target", full_rss_per_target},
      {"store_full_rss_trimmed_bytes_per_target", full_trimmed_per_target},
      {"real_result",
       {{"status", real->last().status},
        {"headers", real->last().headers.size()},
        {"body_bytes", real->last().body_bytes}}},
      {"loadavg", loadavg()}};
  std::printf("%s\n", json.dump().c_str());
  std::fprintf(
      stderr,
      "daemon store targets=%d history=%d  full store RSS %.0f B/target (%.0f after "
      "malloc_trim; heap %.0f, of which the empty store %.0f)  fill %.1f s (%.2f us/record)\n",
      options.targets, options.history, full_rss_per_target, full_trimmed_per_target,
      full_heap_per_target, empty_per_target, fill_s, fill_s * 1e6 / (n * options.history));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (argc < 2) {
    std::fprintf(stderr, "usage: daemon_bench rate|scale|history [options] (see the source)\n");
    return 2;
  }
  options.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--url")
      options.url = value;
    else if (flag == "-n")
      options.targets = std::atoi(value);
    else if (flag == "--interval-ms")
      options.interval_ms = std::atoll(value);
    else if (flag == "--duration")
      options.duration_s = std::atoi(value);
    else if (flag == "--max-in-flight")
      options.max_in_flight = std::atoi(value);
    else if (flag == "--history")
      options.history = std::atoi(value);
    else if (flag == "--dir")
      options.dir = value;
    else {
      std::fprintf(stderr, "daemon_bench: unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  const bool rate = options.mode == "rate" || options.mode == "paced";
  if (options.targets == 0)
    options.targets = rate ? 10'000 : 100'000;
  if (options.interval_ms == 0)
    options.interval_ms = rate ? 2'000 : 60'000;
  if (options.max_in_flight == 0)
    options.max_in_flight = rate ? 2'000 : 256;
  if (options.targets <= 0 || options.interval_ms < 1000 || options.duration_s <= 0 ||
      options.history <= 0 || options.targets > 999'999) {
    std::fprintf(stderr, "daemon_bench: bad arguments\n");
    return 2;
  }
  std::string made_dir;
  if (options.dir.empty()) {
    char pattern[] = "/tmp/fetchd-daemon-bench.XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    options.dir = made_dir = pattern;
  }
  std::filesystem::create_directories(std::filesystem::path(options.dir) / "state");
  int status = 2;
  try {
    if (options.mode == "rate")
      status = run_rate(options);
    else if (options.mode == "paced")
      status = run_paced(options);
    else if (options.mode == "scale")
      status = run_scale(options);
    else if (options.mode == "history")
      status = run_history(options);
    else
      std::fprintf(stderr, "daemon_bench: unknown mode %s\n", options.mode.c_str());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "daemon_bench: %s\n", error.what());
    status = 1;
  }
  if (!made_dir.empty())
    std::filesystem::remove_all(made_dir);
  return status;
}
