// alerts_bench: notifications at scale (issue 13). T targets (10,000) go DOWN within one second,
// and UP again a while later (60 s), recorded into the real registry on the loop; the real
// Alertmanager client and notifier follow the feed and deliver to a real Alertmanager (Debian's
// prometheus-alertmanager, started here on loopback) and to a webhook receiver on a thread of its
// own (HTTP/1.1, one request per connection, answers 200). A 1 ms ticker on the loop measures its
// stalls.
//
// Printed, for each of two runs in the same process: the time until every alert was active in
// Alertmanager (and, after the UP, none), the loop's largest stall beside the baseline (the same
// ticker with no notifications), the heap the notifications held at their peak, and the
// webhook's deliveries: with the default storm threshold (20) the receiver gets one summary per
// storm; with storm_threshold 0 it gets one notification per change, which measures the delivery
// throughput to a local receiver.
//
//   build/release/bench/alerts_bench [--targets 10000] [--up-after 60]
//                                    [--alertmanager /usr/bin/prometheus-alertmanager]

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <malloc.h>
#include <netinet/in.h>
#include <optional>
#include <spawn.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "alerts/alertmanager.h"
#include "alerts/notifier.h"
#include "alerts/silences.h"
#include "dns/resolver.h"
#include "http/fetcher.h"
#include "registry/registry.h"

extern char** environ;

namespace {

using namespace fetchd;
using Steady = std::chrono::steady_clock;
using Wall = std::chrono::system_clock;

struct Options {
  int targets = 10'000;
  int up_after_s = 60;
  std::string alertmanager = "/usr/bin/prometheus-alertmanager";
};

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

std::size_t heap_in_use() {
  const auto info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

int listen_loopback(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(fd, 1024) != 0) {
    std::perror("bind/listen");
    std::exit(1);
  }
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  return fd;
}

std::uint16_t free_port() {
  std::uint16_t port = 0;
  ::close(listen_loopback(port));
  return port;
}

// A webhook receiver on its own thread: reads each request's head and Content-Length body,
// answers 200 and closes. Counts deliveries and storm summaries.
class Receiver {
 public:
  Receiver() : fd_(listen_loopback(port_)), thread_([this] { run(); }) {}
  ~Receiver() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::atomic<std::uint64_t> deliveries{0};
  // Of the last delivery, for the throughput.
  std::atomic<Steady::rep> last_delivery{0};
  std::atomic<std::uint64_t> storms{0};

 private:
  void run() {
    while (!stopping_) {
      const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0)
        continue;
      std::string request;
      char buffer[16384];
      std::size_t need = std::string::npos;
      for (;;) {
        const ssize_t got = ::read(client, buffer, sizeof(buffer));
        if (got <= 0)
          break;
        request.append(buffer, static_cast<std::size_t>(got));
        const auto head_end = request.find("\r\n\r\n");
        if (head_end != std::string::npos && need == std::string::npos) {
          const auto at = request.find("Content-Length: ");
          const std::size_t length =
              at == std::string::npos ? 0 : std::strtoul(request.c_str() + at + 16, nullptr, 10);
          need = head_end + 4 + length;
        }
        if (request.size() >= need)
          break;
      }
      if (request.find("\"kind\":\"storm\"") != std::string::npos)
        ++storms;
      ++deliveries;
      last_delivery = Steady::now().time_since_epoch().count();
      static constexpr std::string_view kOk =
          "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      (void)!::write(client, kOk.data(), kOk.size());
      ::close(client);
    }
  }

  std::uint16_t port_ = 0;
  int fd_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Active alerts in Alertmanager (GET /api/v2/alerts?active=true), or -1 when it did not answer.
long active_alerts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  const std::string request =
      "GET /api/v2/alerts?active=true&silenced=false&inhibited=false HTTP/1.1\r\nHost: "
      "127.0.0.1\r\nConnection: close\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string answer;
  char buffer[65536];
  ssize_t got = 0;
  while ((got = ::read(fd, buffer, sizeof(buffer))) > 0)
    answer.append(buffer, static_cast<std::size_t>(got));
  ::close(fd);
  const auto body = answer.find("\r\n\r\n");
  if (body == std::string::npos)
    return -1;
  // Chunked or not, the alerts are one JSON array: count the fingerprints.
  long count = 0;
  for (auto at = answer.find("\"fingerprint\"", body); at != std::string::npos;
       at = answer.find("\"fingerprint\"", at + 1))
    ++count;
  return count;
}

struct AlertmanagerProcess {
  pid_t pid = -1;
  std::uint16_t port = 0;
  std::filesystem::path dir;

  bool start(const std::string& binary) {
    dir = std::filesystem::temp_directory_path() /
          ("fetchd-alerts-bench-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "am.yml") << "route:\n  receiver: none\nreceivers:\n- name: none\n";
    port = free_port();
    std::vector<std::string> args = {binary,
                                     "--config.file=" + (dir / "am.yml").string(),
                                     "--storage.path=" + (dir / "data").string(),
                                     "--web.listen-address=127.0.0.1:" + std::to_string(port),
                                     "--cluster.listen-address=",
                                     "--log.level=warn"};
    std::vector<char*> argv;
    for (auto& arg : args)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
      return false;
    const auto deadline = Steady::now() + std::chrono::seconds(30);
    while (Steady::now() < deadline) {
      if (active_alerts(port) >= 0)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  ~AlertmanagerProcess() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

http::FetchResult outcome(Wall::time_point at, bool ok) {
  http::FetchResult result;
  result.started = at;
  result.total = std::chrono::microseconds(300);
  http::Hop hop;
  hop.url = http::parse_url("http://127.0.0.1:8080/").value();
  if (ok) {
    hop.version_major = 1;
    hop.version_minor = 1;
    hop.status = 200;
    hop.reason = "OK";
  } else {
    hop.error.error_class = http::ErrorClass::connect;
    hop.error.phase = http::Phase::connect;
    hop.error.message = "connect to 127.0.0.1:8080: Connection refused";
  }
  result.hops.push_back(std::move(hop));
  return result;
}

struct Phase {
  double until_all_ms = -1;  // every alert (or none) as expected in Alertmanager
  double max_stall_ms = 0;
  std::size_t peak_heap = 0;
  std::size_t peak_queued = 0;
  double webhook_done_ms = -1;  // the receiver had what it was waiting for
  double deliveries_per_s = 0;  // between the first delivery and the last
};

int run(const Options& options, std::size_t storm_threshold, AlertmanagerProcess& am) {
  std::filesystem::path state = am.dir / ("state-" + std::to_string(storm_threshold));
  std::filesystem::create_directories(state);
  asio::io_context loop;
  dns::Resolver resolver(loop.get_executor());
  http::Fetcher fetcher(resolver);
  results::Feed feed;
  registry::Registry registry(feed, 10);
  alerts::Silences silences;
  Receiver receiver;

  config::AlertsConfig alerts_config;
  config::AlertmanagerConfig am_config;
  am_config.urls.push_back(http::parse_url("http://127.0.0.1:" + std::to_string(am.port)).value());
  alerts_config.alertmanager = am_config;
  config::WebhookConfig webhook;
  webhook.route.name = "bench";
  webhook.url = http::parse_url(receiver.url()).value();
  webhook.content_type = "application/json";
  alerts_config.webhooks.push_back(webhook);
  alerts_config.storm_threshold = storm_threshold;

  std::vector<std::string> names;
  const auto begin = Wall::now();
  for (int i = 0; i < options.targets; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "target-%05d", i);
    names.emplace_back(name);
    auto target = std::make_shared<config::TargetConfig>();
    target->name = name;
    target->fetch.url = http::parse_url("http://127.0.0.1:8080/" + names.back()).value();
    target->labels = {{"team", i % 2 == 0 ? "core" : "edge"}};
    registry.put(std::move(target), nullptr, registry::Keep::nothing, begin);
    registry.record(names.back(), outcome(begin, true));
  }
  auto alertmanager =
      std::make_shared<alerts::Alertmanager>(loop.get_executor(), fetcher, registry, silences,
                                             am_config, std::map<std::string, std::string>{});
  auto notifier =
      std::make_shared<alerts::Notifier>(loop.get_executor(), fetcher, registry, silences,
                                         alerts_config, state, alerts::NotifierMemory{});
  alertmanager->start(feed);
  notifier->start(feed);

  // Ticker: 1 ms, lateness is the stall; it also records the changes, spread over a second.
  std::vector<Phase> phases(2);
  std::size_t phase = 0;
  std::size_t next_name = 0;
  bool recording = false;
  bool up = false;
  asio::steady_timer tick(loop);
  std::uint64_t ticks = 0;
  auto next = Steady::now();
  const auto heap_before = heap_in_use();
  std::function<void()> on_tick = [&] {
    const auto now = Steady::now();
    auto& current = phases[phase];
    current.max_stall_ms = std::max(current.max_stall_ms,
                                    std::chrono::duration<double, std::milli>(now - next).count());
    // mallinfo2 walks the heap's free lists: every 100 ms, not every tick.
    if (++ticks % 100 == 0) {
      const auto heap = heap_in_use();
      current.peak_heap = std::max(current.peak_heap, heap - std::min(heap, heap_before));
    }
    current.peak_queued = std::max(current.peak_queued, notifier->queued());
    if (recording) {
      const std::size_t per_tick = (names.size() + 999) / 1000;
      for (std::size_t i = 0; i < per_tick && next_name < names.size(); ++i, ++next_name)
        registry.record(names[next_name], outcome(Wall::now(), up));
      recording = next_name < names.size();
    }
    next += std::chrono::milliseconds(1);
    tick.expires_at(next);
    tick.async_wait([&](std::error_code error) {
      if (!error)
        on_tick();
    });
  };
  tick.expires_at(next);
  tick.async_wait([&](std::error_code error) {
    if (!error)
      on_tick();
  });
  std::thread loop_thread([&] { loop.run(); });

  const auto in_loop = [&](std::function<void()> work) {
    std::promise<void> done;
    asio::post(loop, [&] {
      work();
      done.set_value();
    });
    done.get_future().wait();
  };
  const auto wait_until = [](const std::function<bool()>& condition, int seconds) {
    const auto deadline = Steady::now() + std::chrono::seconds(seconds);
    while (Steady::now() < deadline) {
      if (condition())
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };

  for (phase = 0; phase < 2; ++phase) {
    up = phase == 1;
    const auto delivered_before = receiver.deliveries.load();
    std::optional<Steady::time_point> first_delivery;
    const auto started = Steady::now();
    in_loop([&] {
      next_name = 0;
      recording = true;
    });
    const long want = up ? 0 : options.targets;
    if (wait_until([&] { return active_alerts(am.port) == want; }, 120))
      phases[phase].until_all_ms = seconds_since(started) * 1e3;
    const std::uint64_t expected_deliveries =
        storm_threshold == 0 ? static_cast<std::uint64_t>(options.targets) : 1;
    if (wait_until(
            [&] {
              const auto delivered = receiver.deliveries.load() - delivered_before;
              if (delivered > 0 && !first_delivery)
                first_delivery = Steady::now();
              return delivered >= expected_deliveries;
            },
            120)) {
      phases[phase].webhook_done_ms = seconds_since(started) * 1e3;
      const Steady::time_point last{Steady::duration(receiver.last_delivery.load())};
      if (first_delivery && expected_deliveries > 1)
        phases[phase].deliveries_per_s =
            static_cast<double>(expected_deliveries - 1) /
            std::max(1e-3, std::chrono::duration<double>(last - *first_delivery).count());
    }
    if (phase == 0 && options.up_after_s > 0)
      std::this_thread::sleep_for(std::chrono::seconds(options.up_after_s) -
                                  (Steady::now() - started));
  }
  in_loop([&] {
    tick.cancel();
    alertmanager->stop();
    notifier->stop();
  });
  loop_thread.join();

  std::printf(
      "\nstorm_threshold %zu, %d targets, one webhook (%llu deliveries, %llu storm "
      "summaries) and Alertmanager:\n",
      storm_threshold, options.targets, static_cast<unsigned long long>(receiver.deliveries.load()),
      static_cast<unsigned long long>(receiver.storms.load()));
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& p = phases[i];
    std::printf(
        "  %s: every alert %s Alertmanager after %.0f ms; webhook done after %.0f ms; loop stall "
        "max %.1f ms; notifications held at most %zu, heap at peak %.1f MB (%.0f B per target)\n",
        i == 0 ? "DOWN" : "UP  ", i == 0 ? "active in" : "resolved in", p.until_all_ms,
        p.webhook_done_ms, p.max_stall_ms, p.peak_queued, static_cast<double>(p.peak_heap) / 1e6,
        static_cast<double>(p.peak_heap) / options.targets);
  }
  if (storm_threshold == 0) {
    std::printf(
        "  webhook throughput: %.0f deliveries/s going DOWN, %.0f/s going UP (one "
        "connection each, in order)\n",
        phases[0].deliveries_per_s, phases[1].deliveries_per_s);
  }
  return phases[0].until_all_ms > 0 && phases[1].until_all_ms > 0 ? 0 : 1;
}

// The ticker alone, for the stall beside it.
double baseline_stall_ms(int seconds) {
  asio::io_context loop;
  asio::steady_timer tick(loop);
  double worst = 0;
  auto next = Steady::now();
  const auto end = next + std::chrono::seconds(seconds);
  std::function<void()> on_tick = [&] {
    worst =
        std::max(worst, std::chrono::duration<double, std::milli>(Steady::now() - next).count());
    next += std::chrono::milliseconds(1);
    if (next >= end)
      return;
    tick.expires_at(next);
    tick.async_wait([&](std::error_code) { on_tick(); });
  };
  tick.expires_at(next);
  tick.async_wait([&](std::error_code) { on_tick(); });
  loop.run();
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--targets" && i + 1 < argc)
      options.targets = std::atoi(argv[++i]);
    else if (arg == "--up-after" && i + 1 < argc)
      options.up_after_s = std::atoi(argv[++i]);
    else if (arg == "--alertmanager" && i + 1 < argc)
      options.alertmanager = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--targets N] [--up-after S] [--alertmanager PATH]\n",
                   argv[0]);
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  std::signal(SIGPIPE, SIG_IGN);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  AlertmanagerProcess am;
  if (!am.start(options.alertmanager)) {
    std::fprintf(stderr, "cannot start %s\n", options.alertmanager.c_str());
    return 1;
  }
  std::printf("baseline: the 1 ms ticker alone stalls at most %.1f ms over 5 s\n",
              baseline_stall_ms(5));
  int failed = run(options, 20, am);
  failed |= run(options, 0, am);
  return failed;
}
