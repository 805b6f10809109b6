// Runs N fetches of one URL at concurrency C through fetchd's engine on one thread, each on a new
// connection, and prints fetches/s, client CPU-seconds per 1,000 fetches (getrusage of this
// process, user + system), peak RSS and errors by class — as one JSON line and a human line.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <sys/resource.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "dns/resolver.h"
#include "http/fetcher.h"

namespace {

using namespace fetchd;

struct Tally {
  int remaining = 0;
  int ok = 0;
  std::map<std::string, int> errors;
  std::vector<std::int64_t> totals_us;
};

// One of C workers: fetch until the shared budget is spent.
asio::awaitable<void> worker(http::Fetcher& fetcher, http::Target target, Tally& tally) {
  while (tally.remaining > 0) {
    --tally.remaining;
    const auto result = co_await fetcher.fetch(target);
    if (result.ok() && result.last().status == 200) {
      ++tally.ok;
    } else {
      ++tally.errors[result.ok() ? "status_" + std::to_string(result.last().status)
                                 : std::string(http::to_string(result.error().error_class))];
    }
    tally.totals_us.push_back(result.total.count());
  }
}

double cpu_seconds(const rusage& usage) {
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url = "http://127.0.0.1:18080/";
  int fetches = 20000;
  int concurrency = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--url") {
      url = argv[i + 1];
    } else if (flag == "-n") {
      fetches = std::atoi(argv[i + 1]);
    } else if (flag == "-c") {
      concurrency = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: fetch_bench [--url URL] [-n FETCHES] [-c CONCURRENCY]\n");
      return 2;
    }
  }
  auto target = http::make_target(url);
  if (!target || fetches <= 0 || concurrency <= 0) {
    std::fprintf(stderr, "fetch_bench: bad arguments\n");
    return 2;
  }

  asio::io_context loop(1);
  dns::Resolver resolver(loop.get_executor());
  http::Fetcher fetcher(resolver);
  Tally tally;
  tally.remaining = fetches;
  tally.totals_us.reserve(static_cast<std::size_t>(fetches));

  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < concurrency; ++i) {
    asio::co_spawn(loop, worker(fetcher, *target, tally), [](std::exception_ptr error) {
      if (error)
        std::rethrow_exception(error);
    });
  }
  loop.run();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage after{};
  getrusage(RUSAGE_SELF, &after);

  const double cpu = cpu_seconds(after) - cpu_seconds(before);
  std::sort(tally.totals_us.begin(), tally.totals_us.end());
  const auto percentile = [&](double p) {
    return tally
        .totals_us[static_cast<std::size_t>(p * static_cast<double>(tally.totals_us.size() - 1))];
  };
  int errors = 0;
  for (const auto& [name, count] : tally.errors)
    errors += count;
  nlohmann::json report = {
      {"tool", "fetchd"},
      {"n", fetches},
      {"c", concurrency},
      {"wall_s", wall},
      {"fetches_per_s", fetches / wall},
      {"cpu_s", cpu},
      {"cpu_s_per_1000", cpu * 1000.0 / fetches},
      {"peak_rss_kib", after.ru_maxrss},
      {"ok", tally.ok},
      {"errors", errors},
      {"errors_by_class", tally.errors},
      {"latency_us",
       {{"p50", percentile(0.5)}, {"p99", percentile(0.99)}, {"max", percentile(1.0)}}}};
  std::printf("%s\n", report.dump().c_str());
  std::fprintf(
      stderr,
      "fetchd  c=%-5d n=%d  %8.0f fetches/s  %.3f CPU-s/1000  peak RSS %ld KiB  errors %d  "
      "p50 %.2f ms  p99 %.2f ms\n",
      concurrency, fetches, fetches / wall, cpu * 1000.0 / fetches, after.ru_maxrss, errors,
      static_cast<double>(percentile(0.5)) / 1000.0,
      static_cast<double>(percentile(0.99)) / 1000.0);
  return errors == 0 ? 0 : 1;
}
