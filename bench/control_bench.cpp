// Control round-trip latency of the REAL fetchd binary (issue 4's benchmark), run as a separate
// process so that the client's CPU never runs on the daemon's loop:
//
//   control_bench [--fetchd PATH] [--url http://127.0.0.1:18080/] [-n 10000] [--interval-ms 2000]
//                 [--max-in-flight 2000] [--requests 5000] [--connections 1] [--recent 10]
//                 [--seed 1] [--dir DIR] [--phases "load idle empty"]
//
// Phases, each measured with the same client:
//   load   fetchd with N targets on --url at --interval-ms (N / interval fetches/s). After the
//   socket
//          answers, the bench waits until fetching runs at full rate (a 1 s window of
//          totals.fetches at >= 90% of the ideal rate, after at least one interval; bounded), then
//          sends `status` and `show NAME` (random names) alternately, sequentially: each request is
//          written, its reply read in full, and the round trip timed with a steady clock. The
//          daemon's achieved fetch rate over the measurement comes from status totals before and
//          after, its CPU from /proc/PID/stat.
//   idle   the same daemon, reloaded (SIGHUP) with every target `enabled: false`: nothing is
//          fetched, but each target keeps its history and latest result, so `show` replies have the
//          same size as under load — the difference is the loop's load alone.
//   empty  a fresh fetchd with no targets at all: `status` only (there is nothing to `show`).
//
// Prints human lines on stderr and one JSON line per phase and command on stdout. Traffic: --url
// (127.0.0.1) and the daemon's Unix socket. Every wait and loop is bounded; the daemon is stopped
// with SIGTERM (SIGKILL after 5 s) and dies with this process (PR_SET_PDEATHSIG) if it is killed.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#ifndef FETCHD_BINARY
#define FETCHD_BINARY "fetchd"
#endif

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

struct Options {
  std::string fetchd = FETCHD_BINARY;
  std::string url = "http://127.0.0.1:18080/";
  int targets = 10000;
  long long interval_ms = 2000;
  int max_in_flight = 2000;
  int requests = 5000;  // per command and phase
  int connections = 1;
  int recent = 10;
  unsigned seed = 1;
  std::string dir;
  std::vector<std::string> phases{"load", "idle", "empty"};
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "control_bench: %s (see the comment at the top of control_bench.cpp)\n",
               message.c_str());
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        usage_error(arg + " needs a value");
      return argv[++i];
    };
    auto number = [&]() -> long long {
      const std::string text = value();
      char* end = nullptr;
      const long long parsed = std::strtoll(text.c_str(), &end, 10);
      if (end == text.c_str() || *end != '\0' || parsed < 0)
        usage_error(arg + ": not a number: " + text);
      return parsed;
    };
    if (arg == "--fetchd")
      options.fetchd = value();
    else if (arg == "--url")
      options.url = value();
    else if (arg == "-n" || arg == "--targets")
      options.targets = static_cast<int>(number());
    else if (arg == "--interval-ms")
      options.interval_ms = number();
    else if (arg == "--max-in-flight")
      options.max_in_flight = static_cast<int>(number());
    else if (arg == "--requests")
      options.requests = static_cast<int>(number());
    else if (arg == "--connections")
      options.connections = static_cast<int>(std::max(1LL, number()));
    else if (arg == "--recent")
      options.recent = static_cast<int>(number());
    else if (arg == "--seed")
      options.seed = static_cast<unsigned>(number());
    else if (arg == "--dir")
      options.dir = value();
    else if (arg == "--phases") {
      options.phases.clear();
      std::istringstream words(value());
      for (std::string word; words >> word;) {
        if (word != "load" && word != "idle" && word != "empty")
          usage_error("unknown phase " + word);
        options.phases.push_back(word);
      }
    } else
      usage_error("unknown argument " + arg);
  }
  if (options.targets < 1 || options.interval_ms < 1 || options.requests < 1)
    usage_error("-n, --interval-ms and --requests must be at least 1");
  if (options.url.rfind("http://127.0.0.1", 0) != 0 && options.url.rfind("https://127.0.0.1", 0))
    usage_error("--url must be on 127.0.0.1");
  return options;
}

bool has_phase(const Options& options, const std::string& phase) {
  return std::find(options.phases.begin(), options.phases.end(), phase) != options.phases.end();
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// utime + stime of `pid` in seconds (0 when unreadable).
double cpu_seconds_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos)
    return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int index = 3; fields >> field; ++index) {  // field 3 is the state
    if (index == 14)
      utime = std::stoull(field);
    else if (index == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Time `pid` spent runnable but waiting for a CPU (schedstat field 2), in seconds, and its
// involuntary context switches: how much the machine, not the daemon, held the loop back.
struct Preemption {
  double runqueue_wait_s = 0;
  long long involuntary = 0;
};

Preemption preemption_of(pid_t pid) {
  Preemption preemption;
  {
    std::ifstream in("/proc/" + std::to_string(pid) + "/schedstat");
    unsigned long long on_cpu = 0, waiting = 0;
    if (in >> on_cpu >> waiting)
      preemption.runqueue_wait_s = static_cast<double>(waiting) / 1e9;
  }
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
      preemption.involuntary = std::atoll(line.c_str() + 27);
  }
  return preemption;
}

std::string target_name(int i) {
  char name[32];
  std::snprintf(name, sizeof name, "t%05d", i);
  return name;
}

void write_config(const Options& options, const std::filesystem::path& file, int targets,
                  bool enabled) {
  const auto tmp = file.string() + ".tmp";
  std::FILE* out = std::fopen(tmp.c_str(), "w");
  if (out == nullptr)
    throw std::runtime_error("cannot write " + tmp);
  std::fprintf(out,
               "{\n  \"settings\": {\n    \"control_socket\": \"%s/fetchd.sock\",\n"
               "    \"state_dir\": \"%s/state\",\n    \"max_in_flight\": %d,\n"
               "    \"log_level\": \"warning\"\n  },\n"
               "  \"defaults\": { \"interval\": \"%lldms\", \"timeout\": \"10s\", "
               "\"enabled\": %s },\n  \"targets\": [\n",
               options.dir.c_str(), options.dir.c_str(), options.max_in_flight, options.interval_ms,
               enabled ? "true" : "false");
  for (int i = 1; i <= targets; ++i) {
    std::fprintf(out, "    { \"name\": \"%s\", \"url\": \"%s\" }%s\n", target_name(i).c_str(),
                 options.url.c_str(), i == targets ? "" : ",");
  }
  std::fprintf(out, "  ]\n}\n");
  if (std::fclose(out) != 0)
    throw std::runtime_error("cannot write " + tmp);
  std::filesystem::rename(tmp, file);  // a reload never sees half a file
}

// ---- the daemon --------------------------------------------------------------------------------

class Daemon {
 public:
  Daemon(const std::string& binary, const std::filesystem::path& config,
         const std::filesystem::path& log) {
    pid_ = fork();
    if (pid_ < 0)
      throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the bench
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
      }
      const std::string config_text = config.string();
      execl(binary.c_str(), binary.c_str(), "--config", config_text.c_str(),
            static_cast<char*>(nullptr));
      std::fprintf(stderr, "exec %s: %s\n", binary.c_str(), std::strerror(errno));
      _exit(127);
    }
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon() { stop(); }

  pid_t pid() const { return pid_; }
  bool running() {
    if (pid_ <= 0)
      return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_status_ = status;
      return false;
    }
    return true;
  }
  void signal(int number) const {
    if (pid_ > 0)
      kill(pid_, number);
  }
  // SIGTERM, then SIGKILL after 5 s. Returns a description of how it ended.
  std::string stop() {
    if (!running())
      return describe(exit_status_);
    kill(pid_, SIGTERM);
    const auto deadline = Steady::now() + 5s;
    while (Steady::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_status_ = status;
        return describe(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_status_ = status;
    return "did not stop within 5 s of SIGTERM: killed";
  }

 private:
  static std::string describe(int status) {
    if (WIFEXITED(status))
      return "exited " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
      return std::string("killed by ") + strsignal(WTERMSIG(status));
    return "ended";
  }
  pid_t pid_ = -1;
  int exit_status_ = 0;
};

// ---- a control connection: blocking, one request in flight ----------------------------------

class Connection {
 public:
  explicit Connection(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
      throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path)
      throw std::runtime_error("socket path too long: " + path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      const std::string error = std::strerror(errno);
      close(fd_);
      throw std::runtime_error("connect " + path + ": " + error);
    }
    const timeval timeout{5, 0};  // no reply within 5 s is an error, never a hang
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (fd_ >= 0)
      close(fd_);
  }

  // Writes `line` (with its newline) and returns the reply line, without its newline.
  std::string round_trip(const std::string& line) {
    std::size_t sent = 0;
    while (sent < line.size()) {
      const ssize_t n = send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      sent += static_cast<std::size_t>(n);
    }
    for (;;) {
      if (const auto newline = buffer_.find('\n', scanned_); newline != std::string::npos) {
        std::string reply = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        scanned_ = 0;
        return reply;
      }
      scanned_ = buffer_.size();
      char chunk[65536];
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n == 0)
        throw std::runtime_error("the daemon closed the connection");
      if (n < 0)
        throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buffer_;
  std::size_t scanned_ = 0;
};

std::optional<json> try_request(const std::string& socket_path, const std::string& line) {
  try {
    Connection connection(socket_path);
    return json::parse(connection.round_trip(line));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

json status_of(const std::string& socket_path) {
  auto reply = try_request(socket_path, "{\"cmd\":\"status\"}\n");
  if (!reply || !(*reply)["ok"].get<bool>())
    throw std::runtime_error("status failed: " + (reply ? reply->dump() : "no reply"));
  return (*reply)["result"];
}

std::uint64_t fetches_of(const json& status) {
  return status["totals"]["fetches"].get<std::uint64_t>();
}

// Until the socket answers `version` (bounded).
void wait_for_socket(Daemon& daemon, const std::string& socket_path, std::chrono::seconds limit) {
  const auto start = Steady::now();
  while (Steady::now() - start < limit) {
    if (!daemon.running())
      throw std::runtime_error("fetchd exited before its socket answered (" + daemon.stop() + ")");
    if (auto reply = try_request(socket_path, "{\"cmd\":\"version\"}\n"); reply && (*reply)["ok"])
      return;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("the control socket did not answer within " +
                           std::to_string(limit.count()) + " s");
}

// ---- measurement -------------------------------------------------------------------------------

struct Latencies {
  std::vector<std::int64_t> status_us, show_us;
  std::size_t errors = 0;
  std::string first_error;
  std::size_t show_reply_bytes = 0, status_reply_bytes = 0;  // of the last reply
};

// One connection's share: `count` of each command, alternating, sequential.
void client(const std::string& socket_path, int count, int targets, bool with_show, int recent,
            unsigned seed, Latencies& out) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> pick(1, targets);
  Connection connection(socket_path);
  out.status_us.reserve(static_cast<std::size_t>(count));
  out.show_us.reserve(static_cast<std::size_t>(count));
  const std::string status_line = "{\"id\":1,\"cmd\":\"status\"}\n";
  const auto deadline = Steady::now() + 300s;
  for (int i = 0; i < count && Steady::now() < deadline; ++i) {
    for (int which = 0; which < (with_show ? 2 : 1); ++which) {
      const bool show = which == 1;
      const std::string line = show ? "{\"id\":2,\"cmd\":\"show\",\"args\":{\"name\":\"" +
                                          target_name(pick(random)) +
                                          "\",\"recent\":" + std::to_string(recent) + "}}\n"
                                    : status_line;
      const auto begin = Steady::now();
      const std::string reply = connection.round_trip(line);
      const auto elapsed =
          std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - begin).count();
      // Replies are nlohmann dumps of sorted objects: {"id":N,"ok":true,...}.
      if (const auto ok = reply.find("\"ok\":true"); ok == std::string::npos || ok > 16) {
        if (out.errors++ == 0)
          out.first_error = reply.substr(0, 300);
        continue;
      }
      (show ? out.show_us : out.status_us).push_back(elapsed);
      (show ? out.show_reply_bytes : out.status_reply_bytes) = reply.size();
    }
  }
}

std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty())
    return 0;
  return sorted[static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5)];
}

struct PhaseResult {
  Latencies latencies;
  double wall_s = 0, daemon_cpu_s = 0;
  Preemption preemption;  // of the daemon, during the measurement
  std::uint64_t fetches = 0;
  std::string load_before, load_after;
};

PhaseResult measure(const Options& options, Daemon& daemon, const std::string& socket_path,
                    bool with_show) {
  PhaseResult result;
  result.load_before = loadavg();
  const auto before = status_of(socket_path);
  const double cpu_before = cpu_seconds_of(daemon.pid());
  const auto preemption_before = preemption_of(daemon.pid());
  const auto begin = Steady::now();

  const int connections = options.connections;
  std::vector<Latencies> parts(static_cast<std::size_t>(connections));
  std::vector<std::thread> threads;
  std::vector<std::string> failures(static_cast<std::size_t>(connections));
  for (int c = 0; c < connections; ++c) {
    const int share = options.requests / connections + (c < options.requests % connections);
    threads.emplace_back([&, c, share] {
      try {
        client(socket_path, share, options.targets, with_show, options.recent,
               options.seed + static_cast<unsigned>(c), parts[static_cast<std::size_t>(c)]);
      } catch (const std::exception& error) {
        failures[static_cast<std::size_t>(c)] = error.what();
      }
    });
  }
  for (auto& thread : threads)
    thread.join();

  result.wall_s = std::chrono::duration<double>(Steady::now() - begin).count();
  result.daemon_cpu_s = cpu_seconds_of(daemon.pid()) - cpu_before;
  const auto preemption_after = preemption_of(daemon.pid());
  result.preemption = {preemption_after.runqueue_wait_s - preemption_before.runqueue_wait_s,
                       preemption_after.involuntary - preemption_before.involuntary};
  const auto after = status_of(socket_path);
  result.fetches = fetches_of(after) - fetches_of(before);
  result.load_after = loadavg();
  for (std::size_t c = 0; c < parts.size(); ++c) {
    if (!failures[c].empty())
      throw std::runtime_error("client " + std::to_string(c) + ": " + failures[c]);
    auto& part = parts[c];
    auto& all = result.latencies;
    all.status_us.insert(all.status_us.end(), part.status_us.begin(), part.status_us.end());
    all.show_us.insert(all.show_us.end(), part.show_us.begin(), part.show_us.end());
    if (all.errors == 0 && part.errors > 0)
      all.first_error = part.first_error;
    all.errors += part.errors;
    all.show_reply_bytes = std::max(all.show_reply_bytes, part.show_reply_bytes);
    all.status_reply_bytes = std::max(all.status_reply_bytes, part.status_reply_bytes);
  }
  return result;
}

void report(const Options& options, const std::string& phase, int targets, const PhaseResult& r,
            double ideal_rate) {
  const double rate = r.wall_s > 0 ? static_cast<double>(r.fetches) / r.wall_s : 0;
  std::fprintf(stderr,
               "%-5s %d targets, %d connection(s): %.2f s, daemon %.0f fetches/s (ideal %.0f), "
               "daemon CPU %.0f%%, waited for a CPU %.0f ms (%lld preemptions), loadavg %s -> %s, "
               "errors %zu%s%s\n",
               phase.c_str(), targets, options.connections, r.wall_s, rate, ideal_rate,
               100.0 * r.daemon_cpu_s / std::max(r.wall_s, 1e-9),
               1000.0 * r.preemption.runqueue_wait_s, r.preemption.involuntary,
               r.load_before.c_str(), r.load_after.c_str(), r.latencies.errors,
               r.latencies.errors ? ": " : "", r.latencies.first_error.c_str());
  for (const auto* command : {"status", "show"}) {
    auto samples = std::string(command) == "status" ? r.latencies.status_us : r.latencies.show_us;
    if (samples.empty())
      continue;
    std::sort(samples.begin(), samples.end());
    const auto p50 = percentile(samples, 0.50), p90 = percentile(samples, 0.90),
               p99 = percentile(samples, 0.99), max = samples.back();
    const std::size_t bytes = std::string(command) == "status" ? r.latencies.status_reply_bytes
                                                               : r.latencies.show_reply_bytes;
    std::fprintf(
        stderr,
        "      %-6s n=%zu  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  "
        "(reply %zu B)%s\n",
        command, samples.size(), p50 / 1000.0, p90 / 1000.0, p99 / 1000.0, max / 1000.0, bytes,
        phase == "load" ? (p99 < 5000 ? "  p99 < 5 ms: met" : "  p99 < 5 ms: NOT met") : "");
    std::printf("%s\n", json{{"tool", "fetchd_control"},
                             {"bench", "control"},
                             {"phase", phase},
                             {"cmd", command},
                             {"targets", targets},
                             {"interval_ms", options.interval_ms},
                             {"connections", options.connections},
                             {"n", samples.size()},
                             {"errors", r.latencies.errors},
                             {"p50_us", p50},
                             {"p90_us", p90},
                             {"p99_us", p99},
                             {"max_us", max},
                             {"reply_bytes", bytes},
                             {"wall_s", r.wall_s},
                             {"fetches_per_s", rate},
                             {"ideal_fetches_per_s", ideal_rate},
                             {"daemon_cpu_pct", 100.0 * r.daemon_cpu_s / std::max(r.wall_s, 1e-9)},
                             {"daemon_runqueue_wait_ms", 1000.0 * r.preemption.runqueue_wait_s},
                             {"daemon_preemptions", r.preemption.involuntary},
                             {"loadavg_before", r.load_before},
                             {"loadavg_after", r.load_after},
                             {"goal_p99_us", 5000}}
                            .dump()
                            .c_str());
    std::fflush(stdout);
  }
}

// Waits until fetching runs at >= 90% of `ideal` over a 1 s window, after at least one interval
// since start; bounded by interval + 60 s. Returns the last window's rate.
double wait_for_full_rate(Daemon& daemon, const std::string& socket_path, double ideal,
                          std::chrono::milliseconds interval, Steady::time_point started) {
  const auto deadline = Steady::now() + interval + 60s;
  double rate = 0;
  auto previous = fetches_of(status_of(socket_path));
  auto previous_at = Steady::now();
  while (Steady::now() < deadline) {
    std::this_thread::sleep_for(1s);
    if (!daemon.running())
      throw std::runtime_error("fetchd exited during warm-up (" + daemon.stop() + ")");
    const auto fetches = fetches_of(status_of(socket_path));
    const auto now = Steady::now();
    rate = static_cast<double>(fetches - previous) /
           std::chrono::duration<double>(now - previous_at).count();
    previous = fetches;
    previous_at = now;
    std::fprintf(stderr, "      warm-up: %.0f fetches/s\n", rate);
    if (now - started >= interval && rate >= 0.9 * ideal)
      return rate;
  }
  std::fprintf(stderr, "      warm-up: did not reach 90%% of %.0f fetches/s; measuring anyway\n",
               ideal);
  return rate;
}

// Reloads with every target disabled and waits until nothing is in flight and the count of
// fetches stands still (bounded).
void go_idle(const Options& options, Daemon& daemon, const std::filesystem::path& config,
             const std::string& socket_path) {
  write_config(options, config, options.targets, false);
  const auto before = status_of(socket_path);
  const std::string at_before = before["last_reload"].is_null() ? "" : before["last_reload"].dump();
  daemon.signal(SIGHUP);
  const auto deadline = Steady::now() + 60s;
  std::uint64_t previous = fetches_of(before);
  int still = 0;
  while (Steady::now() < deadline) {
    std::this_thread::sleep_for(500ms);
    const auto status = status_of(socket_path);
    const bool reloaded = !status["last_reload"].is_null() &&
                          status["last_reload"].dump() != at_before &&
                          status["last_reload"]["ok"].get<bool>();
    const bool disabled = status["targets"]["disabled"].get<int>() == options.targets;
    const auto fetches = fetches_of(status);
    still = (reloaded && disabled && status["in_flight"].get<int>() == 0 && fetches == previous)
                ? still + 1
                : 0;
    previous = fetches;
    if (still >= 2)
      return;
  }
  throw std::runtime_error("the daemon did not go idle within 60 s of SIGHUP");
}

int run(Options options) {
  if (options.dir.empty()) {
    char pattern[] = "/tmp/fetchd-bench/control.XXXXXX";
    std::filesystem::create_directories("/tmp/fetchd-bench");
    if (mkdtemp(pattern) == nullptr)
      throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    options.dir = pattern;
  }
  std::filesystem::create_directories(options.dir);
  const std::filesystem::path dir = options.dir;
  const std::string socket_path = (dir / "fetchd.sock").string();
  const double ideal =
      static_cast<double>(options.targets) * 1000.0 / static_cast<double>(options.interval_ms);
  std::fprintf(stderr,
               "# fetchd control latency: %s, %u CPUs, loadavg %s; %d requests per command and "
               "phase, %d connection(s), show recent=%d; scratch %s\n",
               options.fetchd.c_str(), std::thread::hardware_concurrency(), loadavg().c_str(),
               options.requests, options.connections, options.recent, options.dir.c_str());

  if (has_phase(options, "load") || has_phase(options, "idle")) {
    const auto config = dir / "fetchd.json";
    write_config(options, config, options.targets, true);
    const auto started = Steady::now();
    Daemon daemon(options.fetchd, config, dir / "fetchd-load.log");
    wait_for_socket(daemon, socket_path, 120s);
    std::fprintf(stderr, "      socket answered %.2f s after start (%d targets)\n",
                 std::chrono::duration<double>(Steady::now() - started).count(), options.targets);
    if (has_phase(options, "load")) {
      wait_for_full_rate(daemon, socket_path, ideal, std::chrono::milliseconds(options.interval_ms),
                         started);
      const auto result = measure(options, daemon, socket_path, true);
      report(options, "load", options.targets, result, ideal);
    }
    if (has_phase(options, "idle")) {
      go_idle(options, daemon, config, socket_path);
      const auto result = measure(options, daemon, socket_path, true);
      report(options, "idle", options.targets, result, 0);
    }
    std::fprintf(stderr, "      fetchd (%d targets): SIGTERM: %s\n", options.targets,
                 daemon.stop().c_str());
  }
  if (has_phase(options, "empty")) {
    const auto config = dir / "empty.json";
    write_config(options, config, 0, true);
    std::filesystem::remove(socket_path);
    Daemon daemon(options.fetchd, config, dir / "fetchd-empty.log");
    wait_for_socket(daemon, socket_path, 30s);
    const auto result = measure(options, daemon, socket_path, false);
    report(options, "empty", 0, result, 0);
    std::fprintf(stderr, "      fetchd (no targets): SIGTERM: %s\n", daemon.stop().c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(parse_options(argc, argv));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "control_bench: %s\n", error.what());
    return 1;
  }
}
