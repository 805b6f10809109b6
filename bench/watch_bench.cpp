// `watch` at scale (issue 12's benchmark): the real control server, watch hub and feed on one loop
// thread, with results published at a fixed rate as the registry publishes them, and W watchers
// reading every event over real Unix sockets on a second thread (epoll, one read per ready
// connection), so that the loop pays only for what the daemon would:
//
//   watch_bench [--watchers "0 1 100 1000"] [--rate 5000] [--seconds 5] [--targets 100000]
//
// For each watcher count, one run: the loop thread's CPU per second of run time, the lateness of
// the publishing timer's ticks (every 1 ms; how long the loop was busy elsewhere, or the machine
// did not run it: p50, p99, max), the readers' CPU, and how many events each watcher received (min
// and max) and was told it missed (dropped). The run with 0 watchers is the baseline: the same
// publisher alone. Traffic: a Unix socket in a temporary directory only.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "control/memory_backend.h"
#include "control/server.h"

namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using fetchd::control::MemoryBackend;

double thread_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Options {
  std::vector<std::size_t> watchers{0, 1, 100, 1000};
  int rate = 5000;
  int seconds = 5;
  int targets = 100'000;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--watchers") {
      options.watchers.clear();
      std::istringstream in(value);
      for (std::size_t count = 0; in >> count;)
        options.watchers.push_back(count);
    } else if (flag == "--rate") {
      options.rate = std::stoi(value);
    } else if (flag == "--seconds") {
      options.seconds = std::stoi(value);
    } else if (flag == "--targets") {
      options.targets = std::stoi(value);
    } else {
      throw std::invalid_argument("unknown option " + flag);
    }
  }
  return options;
}

// W connections that each sent `watch` and read lines until told to stop.
class Readers {
 public:
  Readers(const std::filesystem::path& socket, std::size_t count) : counts_(count, 0) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    for (std::size_t i = 0; i < count; ++i) {
      const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        throw std::runtime_error("connect: " + std::string(std::strerror(errno)));
      const std::string request = R"({"id":1,"cmd":"watch","args":{"events":["result"]}})"
                                  "\n";
      if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size()))
        throw std::runtime_error("send failed");
      epoll_event event{.events = EPOLLIN, .data = {.u64 = i}};
      ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
      fds_.push_back(fd);
    }
  }
  ~Readers() {
    for (const int fd : fds_)
      ::close(fd);
    ::close(epoll_);
  }
  Readers(const Readers&) = delete;
  Readers& operator=(const Readers&) = delete;

  // Reads until `stop`; counts lines per connection (the first, the watch reply, excluded) and the
  // dropped counts.
  void run(const std::atomic<bool>& stop) {
    std::vector<char> buffer(std::size_t{1} << 16);
    std::vector<epoll_event> ready(256);
    while (!stop.load()) {
      const int count = ::epoll_wait(epoll_, ready.data(), static_cast<int>(ready.size()), 50);
      for (int i = 0; i < count; ++i) {
        const auto index = ready[static_cast<std::size_t>(i)].data.u64;
        const ssize_t got = ::recv(fds_[index], buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (got <= 0)
          continue;
        // Lines by their newlines (memchr: lines are ~200 bytes); a dropped event is the one line
        // that starts {"count" (keys are sorted), told apart where the chunk holds its start.
        const char* at = buffer.data();
        const char* const end = at + got;
        while (const auto* newline = static_cast<const char*>(
                   std::memchr(at, '\n', static_cast<std::size_t>(end - at)))) {
          ++counts_[index];
          at = newline + 1;
          if (end - at >= 3 && std::memcmp(at, "{\"c", 3) == 0)
            ++dropped_events_;
        }
      }
    }
    cpu_seconds_ = thread_cpu_seconds();
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t dropped_events_ = 0;
  double cpu_seconds_ = 0;

 private:
  int epoll_ = -1;
  std::vector<int> fds_;
};

struct Figures {
  double loop_cpu = 0;
  std::vector<double> lateness_ms;  // of every tick
  std::uint64_t published = 0;
  double lateness(double quantile) {
    if (lateness_ms.empty())
      return 0;
    std::sort(lateness_ms.begin(), lateness_ms.end());
    return lateness_ms[static_cast<std::size_t>(quantile *
                                                static_cast<double>(lateness_ms.size() - 1))];
  }
};

void run_one(const Options& options, std::size_t watchers) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("fetchd-watch-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  asio::io_context loop;
  MemoryBackend backend;
  fetchd::control::Server server(
      loop, backend,
      {.socket_path = dir / "control.sock", .max_clients = std::max<std::size_t>(watchers, 1) + 8});
  if (const auto error = server.open())
    throw std::runtime_error(error->message);
  server.start();

  // One shared result, as the registry shares the latest result with every subscriber.
  auto result = std::make_shared<fetchd::results::FullResult>();
  result->result = fetchd::results::test::ok_result(std::chrono::system_clock::now());
  std::vector<std::string> names;
  for (int i = 0; i < options.targets; ++i)
    names.push_back("target-" + std::to_string(i));

  Readers readers(dir / "control.sock", watchers);
  std::atomic<bool> stop{false};
  // Accept and answer the watch requests before measuring.
  const auto accepting_until = Steady::now() + 10s;
  while (server.sessions() < watchers && Steady::now() < accepting_until)
    loop.run_for(10ms);
  loop.run_for(100ms);
  std::thread reader_thread([&] { readers.run(stop); });

  Figures figures;
  const double cpu_before = thread_cpu_seconds();
  asio::steady_timer tick(loop);
  const auto per_tick = options.rate / 1000;
  const auto start = Steady::now();
  const auto end = start + std::chrono::seconds(options.seconds);
  auto next = start;
  std::size_t name_index = 0;
  std::function<void()> publish = [&] {
    figures.lateness_ms.push_back(
        std::chrono::duration<double, std::milli>(Steady::now() - next).count());
    for (int i = 0; i < per_tick; ++i) {
      backend.feed_.publish({.kind = fetchd::results::EventKind::recorded,
                             .name = names[name_index],
                             .state = fetchd::results::State::up,
                             .result = result});
      name_index = (name_index + 1) % names.size();
      ++figures.published;
    }
    next += 1ms;
    if (next >= end)
      return;
    tick.expires_at(next);
    tick.async_wait([&](const std::error_code&) { publish(); });
  };
  publish();
  while (Steady::now() < end + 200ms)
    loop.run_for(end + 200ms - Steady::now());
  figures.loop_cpu = thread_cpu_seconds() - cpu_before;
  // Let the readers drain what is in flight, then stop them.
  loop.run_for(500ms);
  stop = true;
  reader_thread.join();
  server.stop();
  loop.run_for(100ms);
  std::filesystem::remove_all(dir);

  std::uint64_t least = 0;
  std::uint64_t most = 0;
  if (!readers.counts_.empty()) {
    const auto [low, high] = std::minmax_element(readers.counts_.begin(), readers.counts_.end());
    least = *low > 0 ? *low - 1 : 0;  // the watch reply is not an event
    most = *high > 0 ? *high - 1 : 0;
  }
  const double seconds = options.seconds;
  std::fprintf(stderr,
               "watchers %5zu: %llu events published (%.0f/s); loop CPU %.3f s/s; tick lateness "
               "p50 %.2f p99 %.2f max %.2f ms; readers CPU %.3f s/s; each received %llu..%llu; "
               "dropped events %llu\n",
               watchers, static_cast<unsigned long long>(figures.published),
               static_cast<double>(figures.published) / seconds, figures.loop_cpu / seconds,
               figures.lateness(0.5), figures.lateness(0.99), figures.lateness(1.0),
               readers.cpu_seconds_ / seconds, static_cast<unsigned long long>(least),
               static_cast<unsigned long long>(most),
               static_cast<unsigned long long>(readers.dropped_events_));
  std::printf("%s\n", nlohmann::json{{"watchers", watchers},
                                     {"published", figures.published},
                                     {"seconds", options.seconds},
                                     {"loop_cpu_per_s", figures.loop_cpu / seconds},
                                     {"lateness_p50_ms", figures.lateness(0.5)},
                                     {"lateness_p99_ms", figures.lateness(0.99)},
                                     {"lateness_max_ms", figures.lateness(1.0)},
                                     {"readers_cpu_per_s", readers.cpu_seconds_ / seconds},
                                     {"received_min", least},
                                     {"received_max", most},
                                     {"dropped_events", readers.dropped_events_}}
                          .dump()
                          .c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto options = parse(argc, argv);
    for (const auto watchers : options.watchers)
      run_one(options, watchers);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "watch_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
