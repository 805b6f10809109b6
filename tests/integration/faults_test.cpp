// Injected faults against the real daemon: a state directory that fills up or turns read-only
// while runtime targets are added, and descriptors running out during a burst of fetches and
// control connections. Each must give errors where they happen, keep the daemon running, lose
// nothing, and recover once the resource returns.

#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ctl/run_fetchctl.h"
#include "support/fetchd_process.h"
#include "support/nginx.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace fetchd {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

class FaultsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { nginx_ = new test::NginxServer(); }
  static void TearDownTestSuite() {
    delete nginx_;
    nginx_ = nullptr;
  }

  std::filesystem::path socket() const { return dir_.path() / "fetchd.sock"; }
  std::filesystem::path state() const { return dir_.path() / "state"; }

  void write_config(const std::string& settings, const std::string& targets) const {
    test::write_file(dir_.path() / "fetchd.json",
                     R"({"settings": {"state_dir": ")" + state().string() +
                         R"(", "control_socket": ")" + socket().string() + "\"" + settings +
                         R"(}, "defaults": {"interval": "200ms", "timeout": "2s"}, "targets": [)" +
                         targets + "]}");
  }

  // `fetchctl --json ARGS...`: the reply line, and whether it was ok.
  json ctl(const std::vector<std::string>& args) const {
    std::vector<std::string> all = {"--socket", socket().string(), "--json"};
    all.insert(all.end(), args.begin(), args.end());
    const auto run = test::run_fetchctl(all, {.timeout = 10s});
    const auto reply = json::parse(run.out, nullptr, false);
    EXPECT_FALSE(reply.is_discarded()) << run.out << run.err;
    return reply;
  }

  // The same while the daemon may not answer yet (recovering): an empty object then.
  // One short attempt (fetchctl --timeout 2s), so that a caller polling with a deadline tries
  // again rather than spending the whole deadline on one connection; why it failed is kept in
  // last_refusal_.
  json ctl_if_answered(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--socket", socket().string(), "--json", "--timeout", "2s"};
    all.insert(all.end(), args.begin(), args.end());
    const auto run = test::run_fetchctl(all, {.timeout = 5s});
    const auto reply = json::parse(run.out, nullptr, false);
    if (!reply.is_object())
      last_refusal_ = "exit " + std::to_string(run.exit_status) + ": " + run.err;
    return reply.is_object() ? reply : json::object();
  }

  json add(const std::string& name) const {
    // A header value of a few KiB makes each added target a sizeable part of a small state file.
    const json target = {{"name", name},
                         {"url", nginx_->url("/")},
                         {"interval", "1m"},
                         {"headers", {{"X-Padding", std::string(4000, 'p')}}}};
    return ctl({"add", "--json", target.dump()});
  }

  // Remounts the daemon's tmpfs state directory (in its mount namespace). Tried again for a while:
  // a read-only remount fails with EBUSY at the moment the daemon has a file there open for
  // writing (the results log, briefly at each flush).
  void remount_state(const test::ChildProcess& daemon, const char* mode) const {
    test::Completed run;
    EXPECT_TRUE(test::eventually(
        [&] {
          run = test::run_command(
              {"/usr/bin/nsenter", "--target", std::to_string(daemon.pid()), "--mount", "mount",
               "-o", std::string("remount,") + mode, state().string()},
              dir_.path() / "nsenter.out");
          return run.exit_status == 0;
        },
        5s))
        << run.output;
  }

  static test::NginxServer* nginx_;
  test::TempDir dir_{"fetchd-faults"};
  std::string last_refusal_{};
};

test::NginxServer* FaultsTest::nginx_ = nullptr;

// The daemon in a mount namespace of its own whose state directory is a 64 KiB tmpfs; the test
// reaches that directory through /proc/PID/root and remounts it with nsenter.
TEST_F(FaultsTest, AFullOrReadOnlyStateDirectoryRefusesTheAddAndKeepsTheOldFile) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root for a mount namespace and a tmpfs";
  std::filesystem::create_directories(state());
  write_config("", "");
  auto daemon = test::start_daemon(
      {"/usr/bin/unshare", "--mount", "sh", "-c",
       "mount -t tmpfs -o size=64k tmpfs \"$0\" && exec \"$@\"", state().string(), FETCHD_BINARY,
       "--config", (dir_.path() / "fetchd.json").string()},
      dir_.path() / "daemon.log", socket());
  const std::filesystem::path inside =
      "/proc/" + std::to_string(daemon->pid()) + "/root" + state().string();
  const auto state_file = inside / "targets.json";

  ASSERT_EQ(add("first")["ok"], true) << daemon->output();
  const std::string saved = read_text(state_file);
  ASSERT_NE(saved.find("\"first\""), std::string::npos) << saved;

  // Fill the file system, then ask for a write that cannot fit.
  {
    std::ofstream ballast(inside / "ballast", std::ios::binary);
    const std::string block(4096, 'b');
    for (int i = 0; i < 64 && ballast; ++i)
      ballast.write(block.data(), static_cast<std::streamsize>(block.size())).flush();
  }
  auto reply = add("second");
  EXPECT_EQ(reply["error"]["code"], "io_error") << reply.dump();
  EXPECT_NE(reply.dump().find("No space left on device"), std::string::npos) << reply.dump();
  EXPECT_EQ(read_text(state_file), saved);
  EXPECT_EQ(ctl({"show", "second"})["error"]["code"], "not_found");
  EXPECT_EQ(ctl({"status"})["ok"], true);
  for (const auto& entry : std::filesystem::directory_iterator(inside)) {
    const auto name = entry.path().filename().string();
    EXPECT_TRUE(name == "targets.json" || name == "ballast" ||
                (name.starts_with("results-") && name.ends_with(".log")))
        << "left behind: " << name;
  }

  std::filesystem::remove(inside / "ballast");
  reply = add("second");
  EXPECT_EQ(reply["ok"], true) << reply.dump();
  EXPECT_NE(read_text(state_file).find("\"second\""), std::string::npos);

  // Read-only: the same refusal, the same recovery.
  remount_state(*daemon, "ro");
  const std::string before_read_only = read_text(state_file);
  reply = add("third");
  EXPECT_EQ(reply["error"]["code"], "io_error") << reply.dump();
  EXPECT_NE(reply.dump().find("Read-only file system"), std::string::npos) << reply.dump();
  EXPECT_EQ(ctl({"remove", "first"})["error"]["code"], "io_error");
  EXPECT_EQ(read_text(state_file), before_read_only);
  remount_state(*daemon, "rw");
  EXPECT_EQ(add("third")["ok"], true);
  EXPECT_EQ(ctl({"remove", "first"})["ok"], true);

  const auto [status, took] = test::stop_daemon(*daemon);
  EXPECT_EQ(status, 0) << daemon->output();
}

// The results store on a state directory that turns read-only under it: the failure is in
// status and logged once, fetching and recording go on, and once the directory is writable again
// a snapshot makes the store whole (logged once too).
TEST_F(FaultsTest, AResultsStoreThatCannotWriteIsReportedOnceAndFetchingGoesOn) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root for a mount namespace and a tmpfs";
  std::filesystem::create_directories(state());
  write_config(R"(, "results_flush": "100ms")",
               R"({"name": "web", "interval": "100ms", "url": ")" + nginx_->url("/") + "\"}");
  auto daemon =
      test::start_daemon({"/usr/bin/unshare", "--mount", "sh", "-c",
                          "mount -t tmpfs -o size=1m tmpfs \"$0\" && exec \"$@\"", state().string(),
                          FETCHD_BINARY, "--config", (dir_.path() / "fetchd.json").string()},
                         dir_.path() / "daemon.log", socket());
  const auto attempts = [&] {
    return ctl({"show", "web"})["result"]["summary"]["totals"]["attempts"].get<int>();
  };
  const auto store_error = [&] { return ctl({"status"})["result"]["results_store"]["error"]; };
  ASSERT_TRUE(test::eventually([&] { return attempts() >= 2; }, 10s)) << daemon->output();
  EXPECT_TRUE(store_error().is_null());

  remount_state(*daemon, "ro");
  ASSERT_TRUE(test::eventually([&] { return !store_error().is_null(); }, 10s)) << daemon->output();
  EXPECT_NE(store_error().get<std::string>().find("Read-only file system"), std::string::npos)
      << store_error();
  const int while_failing = attempts();
  ASSERT_TRUE(test::eventually([&] { return attempts() >= while_failing + 5; }, 10s));
  EXPECT_TRUE(ctl({"status"})["ok"]);

  remount_state(*daemon, "rw");
  ASSERT_TRUE(test::eventually([&] { return store_error().is_null(); }, 20s)) << daemon->output();
  EXPECT_TRUE(daemon->wait_for_output("writing to " + state().string() + " works again", 5s));
  const auto [status, took] = test::stop_daemon(*daemon);
  EXPECT_EQ(status, 0) << daemon->output();
  const std::string output = daemon->output();
  std::size_t reported = 0;
  for (auto at = output.find("results store: cannot"); at != std::string::npos;
       at = output.find("results store: cannot", at + 1))
    ++reported;
  EXPECT_EQ(reported, 1u) << output;
}

// A daemon with 160 descriptors, 100 targets fetched every 200 ms and then 300 control
// connections held open by the test: fetches and accepts fail with EMFILE where they happen, the
// listener backs off instead of spinning, and everything recovers once the connections close.
TEST_F(FaultsTest, RunningOutOfDescriptorsFailsPerFetchAndConnectionAndRecovers) {
  std::string targets;
  for (int i = 0; i < 100; ++i) {
    targets += std::string(i == 0 ? "" : ",") + R"({"name": "t)" + std::to_string(i) +
               R"(", "url": ")" + nginx_->url("/") + "\"}";
  }
  write_config(R"(, "max_clients": 1000)", targets);
  auto daemon = test::start_daemon({"/usr/bin/prlimit", "--nofile=160:160", FETCHD_BINARY,
                                    "--config", (dir_.path() / "fetchd.json").string()},
                                   dir_.path() / "daemon.log", socket());
  ASSERT_TRUE(daemon->wait_for_output("t99 is UP", 10s)) << daemon->output();

  std::vector<int> held;
  for (int i = 0; i < 300; ++i) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket().c_str(), sizeof address.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd);  // the backlog is full: the daemon has stopped accepting, as it should
      break;
    }
    held.push_back(fd);
  }
  ASSERT_TRUE(daemon->wait_for_output("cannot accept a connection: Too many open files", 10s))
      << daemon->output();

  // Backing off, not spinning: the daemon's CPU time over a second of exhaustion.
  const auto cpu_seconds = [&] {
    std::ifstream stat("/proc/" + std::to_string(daemon->pid()) + "/stat");
    std::string field;
    for (int i = 0; i < 13 && stat >> field; ++i) {
    }
    long user = 0;
    long system = 0;
    stat >> user >> system;
    return static_cast<double>(user + system) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  };
  const double cpu_before = cpu_seconds();
  const auto wall_before = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      test::eventually([&] { return std::chrono::steady_clock::now() - wall_before > 1s; }, 2s));
  const double cpu_used = cpu_seconds() - cpu_before;
  EXPECT_LT(cpu_used, 0.5) << "the daemon spins while out of descriptors";
  EXPECT_FALSE(daemon->wait_exit(0ms));

  for (const int fd : held)
    ::close(fd);
  // Recovered: the control socket answers, and fetches succeed again.
  ASSERT_TRUE(test::eventually([&] { return ctl_if_answered({"status"}).value("ok", false); }, 10s))
      << "fetchctl: " << last_refusal_ << "\nthe daemon's last lines:\n"
      << daemon->output_tail(40);
  ASSERT_TRUE(test::eventually(
      [&] {
        const auto listed = ctl_if_answered({"list"});
        if (!listed.value("ok", false))
          return false;
        for (const auto& target : listed["result"]["targets"]) {
          if (target["outcome"] != "ok" || target["consecutive_failures"] != 0)
            return false;
        }
        return listed["result"]["targets"].size() == 100;
      },
      10s))
      << daemon->output();
  // And during the exhaustion, fetches failed one by one, as results.
  bool failed_for_want_of_descriptors = false;
  for (int i = 0; i < 100 && !failed_for_want_of_descriptors; ++i) {
    const auto shown = ctl({"show", "t" + std::to_string(i), "--recent", "100"});
    failed_for_want_of_descriptors = shown.dump().find("Too many open files") != std::string::npos;
  }
  EXPECT_TRUE(failed_for_want_of_descriptors);
  std::printf(
      "[ figures  ] %zu control connections held, daemon CPU %.3f s over 1 s of "
      "exhaustion\n",
      held.size(), cpu_used);
  const auto [status, took] = test::stop_daemon(*daemon);
  EXPECT_EQ(status, 0) << daemon->output();
}

// The wall clock stepped back an hour, then forward two, under the running daemon (libfaketime,
// the monotonic clock left alone): the schedule runs on the monotonic clock and keeps its pace, no
// fetch fires twice or is skipped, and what reads the wall clock stays sensible (uptime is not
// negative, results carry the wall time of the day).
TEST_F(FaultsTest, AWallClockStepMovesNeitherTheScheduleNorTheUptime) {
  const std::filesystem::path libfaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
  if (!std::filesystem::exists(libfaketime))
    GTEST_SKIP() << "libfaketime is not installed (Debian's faketime)";
  const auto offset = dir_.path() / "faketime";
  test::write_file(offset, "+0\n");
  write_config("", R"({"name": "web", "url": ")" + nginx_->url("/") + R"(", "interval": "100ms"})");
  // Under ASan (make test's second build) the preloaded library comes before ASan's runtime,
  // which ASan refuses unless told that the order is intended.
  const char* asan_options = std::getenv("ASAN_OPTIONS");
  auto daemon = test::start_daemon(
      {"/usr/bin/env", "LD_PRELOAD=" + libfaketime.string(),
       std::string("ASAN_OPTIONS=") + (asan_options != nullptr ? asan_options : "") +
           ":verify_asan_link_order=0",
       "FAKETIME_TIMESTAMP_FILE=" + offset.string(), "FAKETIME_NO_CACHE=1",
       "FAKETIME_DONT_FAKE_MONOTONIC=1", FETCHD_BINARY, "--config",
       (dir_.path() / "fetchd.json").string()},
      dir_.path() / "daemon.log", socket());
  ASSERT_TRUE(daemon->wait_for_output("web is UP", 10s)) << daemon->output();

  // Fetches over one second of monotonic time, counted by the daemon.
  const auto fetches = [&] { return ctl({"status"})["result"]["totals"]["fetches"].get<int>(); };
  const auto fetches_in_a_second = [&] {
    const int before = fetches();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(
        test::eventually([&] { return std::chrono::steady_clock::now() - start >= 1s; }, 2s));
    return fetches() - before;
  };
  const int steady = fetches_in_a_second();
  const auto started_before = ctl({"status"})["result"]["started"].get<std::string>();

  test::write_file(offset, "-1h\n");
  const int after_back = fetches_in_a_second();
  const auto status_back = ctl({"status"})["result"];
  EXPECT_GE(status_back["uptime_s"].get<std::int64_t>(), 0) << status_back.dump();
  EXPECT_LT(status_back["uptime_s"].get<std::int64_t>(), 60) << status_back.dump();
  EXPECT_EQ(status_back["started"], started_before);

  test::write_file(offset, "+1h\n");
  const int after_forward = fetches_in_a_second();
  const auto status_forward = ctl({"status"})["result"];
  EXPECT_LT(status_forward["uptime_s"].get<std::int64_t>(), 60) << status_forward.dump();

  // 10 a second at 100 ms; the same pace whatever the wall clock did (no catch-up, no pause).
  for (const int count : {steady, after_back, after_forward}) {
    EXPECT_GE(count, 7) << steady << " " << after_back << " " << after_forward;
    EXPECT_LE(count, 13) << steady << " " << after_back << " " << after_forward;
  }
  EXPECT_EQ(status_forward["totals"]["skipped"], 0);
  const auto shown = ctl({"show", "web"})["result"];
  EXPECT_EQ(shown["latest"]["outcome"], "ok") << shown.dump();
  std::printf("[ figures  ] fetches per second at 100 ms: %d, after -1h %d, after +1h %d\n", steady,
              after_back, after_forward);
  const auto [status, took] = test::stop_daemon(*daemon);
  EXPECT_EQ(status, 0) << daemon->output();
}

}  // namespace
}  // namespace fetchd
