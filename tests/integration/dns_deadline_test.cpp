// Deadlines that hold through DNS: a fetch's timeout, SIGTERM and resolv.conf's own options bound
// a lookup that no server answers. The "server" is a UDP socket that never reads (so c-ares sees
// no reply, not a refusal), on loopback, or on port 53 of a network namespace the test makes.

#include <unistd.h>

#include <gtest/gtest.h>

#include "support/fetchd_process.h"
#include "support/process.h"
#include "support/silent_socket.h"
#include "support/temp_dir.h"

namespace fetchd {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double seconds(Clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}

TEST(DnsDeadline, OnceEndsAtTheFetchTimeoutNotWhenTheLookupGivesUp) {
  const test::SilentSocket dns(test::SilentSocket::Protocol::udp);
  const test::TempDir dir("dns-deadline");
  const auto start = Clock::now();
  const auto run = test::run_command({FETCHD_BINARY, "once", "--timeout", "1s", "--dns-server",
                                      dns.address(), "http://stall.fetchd.test/"},
                                     dir.path() / "once.out");
  const auto took = Clock::now() - start;
  EXPECT_EQ(run.exit_status, 1) << run.output;
  EXPECT_NE(run.output.find("timeout"), std::string::npos) << run.output;
  // The fetch's 1 s, not the 5 s + 10 s c-ares would wait for the unanswered name.
  EXPECT_LT(took, 2500ms) << run.output;
  std::printf("[ figures  ] once --timeout 1s on an unanswered name exited after %.2f s\n",
              seconds(took));
}

TEST(DnsDeadline, SigtermDuringAnUnansweredLookupStopsWithinTwoSeconds) {
  const test::SilentSocket dns(test::SilentSocket::Protocol::udp);
  const test::TempDir dir("dns-deadline");
  const auto socket = dir.path() / "fetchd.sock";
  test::write_file(dir.path() / "fetchd.json",
                   R"({"settings": {"state_dir": ")" + (dir.path() / "state").string() +
                       R"(", "control_socket": ")" + socket.string() + R"(", "dns_servers": [")" +
                       dns.address() + R"("], "dns_timeout": "10s"},
                       "targets": [{"name": "stall", "url": "http://stall.fetchd.test/",
                                    "interval": "5s", "timeout": "5s"}]})");
  auto daemon =
      test::start_daemon({FETCHD_BINARY, "--config", (dir.path() / "fetchd.json").string()},
                         dir.path() / "daemon.log", socket);
  ASSERT_TRUE(dns.wait_for_arrival(10s)) << daemon->output();
  EXPECT_TRUE(
      daemon->wait_for_output("DNS: 10s per try, 2 tries per server (from configuration)", 1s))
      << daemon->output();
  const auto [status, took] = test::stop_daemon(*daemon);
  ASSERT_TRUE(status) << "still running 5 s after SIGTERM\n" << daemon->output();
  EXPECT_EQ(*status, 0) << daemon->output();
  EXPECT_LT(took, 2s) << daemon->output();
  std::printf("[ figures  ] SIGTERM with a lookup unanswered: stopped after %.2f s\n",
              seconds(took));
}

// The real /etc/resolv.conf path, as getent reads it: a network and mount namespace of the test's
// own, with `options timeout:2 attempts:1` bind-mounted over /etc/resolv.conf and a silent server
// on its port 53. fetchd must give up when getent does (2 s), not after c-ares' 2 s + 4 s.
TEST(DnsDeadline, ResolvConfTimeoutAndAttemptsAreHonouredAsGetentHonoursThem) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root for unshare --net --mount";
  const test::TempDir dir("dns-resolv-conf");
  test::write_file(dir.path() / "resolv.conf",
                   "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n");
  test::write_file(dir.path() / "silent.py",
                   "import socket, sys, time\n"
                   "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                   "s.bind(('127.0.0.1', 53))\n"
                   "open(sys.argv[1], 'w').close()\n"
                   "time.sleep(60)\n");
  // Timings in ms: the shell's own clock, so that start-up of the namespace is not counted.
  const std::string script =
      "set -eu\n"
      "ip link set lo up\n"
      "mount --bind \"$1/resolv.conf\" /etc/resolv.conf\n"
      "/usr/bin/python3 \"$1/silent.py\" \"$1/ready\" & server=$!\n"
      "for _ in $(seq 200); do [ -e \"$1/ready\" ] && break; sleep 0.01; done\n"
      "ms() { echo $(( $(date +%s%N) / 1000000 )); }\n"
      "t0=$(ms); getent ahosts stall.fetchd.test || true; t1=$(ms)\n"
      "\"$2\" once --timeout 20s http://stall.fetchd.test/ || true; t2=$(ms)\n"
      "kill $server\n"
      "echo \"getent_ms=$((t1 - t0)) fetchd_ms=$((t2 - t1))\"\n";
  test::write_file(dir.path() / "run.sh", script);
  const auto run =
      test::run_command({"/usr/bin/unshare", "--net", "--mount", "sh",
                         (dir.path() / "run.sh").string(), dir.path().string(), FETCHD_BINARY},
                        dir.path() / "run.out", 30s);
  ASSERT_EQ(run.exit_status, 0) << run.output;
  int getent_ms = -1;
  int fetchd_ms = -1;
  const auto figures = run.output.rfind("getent_ms=");
  ASSERT_NE(figures, std::string::npos) << run.output;
  ASSERT_EQ(std::sscanf(run.output.c_str() + figures, "getent_ms=%d fetchd_ms=%d", &getent_ms,
                        &fetchd_ms),
            2)
      << run.output;
  EXPECT_NE(run.output.find("Timeout while contacting DNS servers"), std::string::npos)
      << run.output;
  EXPECT_GE(fetchd_ms, 1900) << run.output;
  EXPECT_LT(fetchd_ms, 3500) << run.output;
  EXPECT_LT(std::abs(fetchd_ms - getent_ms), 1000) << run.output;
  std::printf("[ figures  ] unanswered name, timeout:2 attempts:1: getent %d ms, fetchd %d ms\n",
              getent_ms, fetchd_ms);
}

}  // namespace
}  // namespace fetchd
