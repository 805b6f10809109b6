// The real fetchd daemon process against a real nginx: start, state-change log lines, SIGHUP reload
// (valid and invalid), --check-config, and a clean SIGTERM stop.

#include <signal.h>

#include <gtest/gtest.h>

#include "support/fetchd_process.h"
#include "support/nginx.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace fetchd {
namespace {

using namespace std::chrono_literals;

class DaemonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { nginx_ = new test::NginxServer(); }
  static void TearDownTestSuite() {
    delete nginx_;
    nginx_ = nullptr;
  }

  std::string config_with(const std::string& targets) const {
    return R"({"settings": {"state_dir": ")" + (dir_.path() / "state").string() +
           R"(", "control_socket": ")" + (dir_.path() / "fetchd.sock").string() +
           R"("}, "defaults": {"interval": "200ms", "timeout": "2s"}, "targets": [)" + targets +
           "]}";
  }
  std::filesystem::path config_path() const { return dir_.path() / "fetchd.json"; }

  std::unique_ptr<test::ChildProcess> start_daemon() {
    auto daemon = std::make_unique<test::ChildProcess>(
        std::vector<std::string>{FETCHD_BINARY, "--config", config_path().string()},
        dir_.path() / "daemon.log");
    EXPECT_TRUE(daemon->wait_for_output("fetchd started", 10s)) << daemon->output();
    return daemon;
  }

  static test::NginxServer* nginx_;
  test::TempDir dir_{"fetchd-daemon"};
};

test::NginxServer* DaemonTest::nginx_ = nullptr;

TEST_F(DaemonTest, LogsStateChangesReloadsAndStopsCleanly) {
  test::write_file(config_path(),
                   config_with(R"({"name": "web", "url": ")" + nginx_->url("/") +
                               R"("}, {"name": "closed", "url": "http://127.0.0.1:1/"})"));
  auto daemon = start_daemon();
  EXPECT_TRUE(daemon->wait_for_output("web is UP", 10s)) << daemon->output();
  EXPECT_TRUE(daemon->wait_for_output("closed is DOWN: connect", 10s)) << daemon->output();

  // A broken edit is refused with its place named, and the daemon keeps running the old one.
  test::write_file(config_path(), "{\n  \"targets\": [ oops ]\n}");
  daemon->signal(SIGHUP);
  EXPECT_TRUE(daemon->wait_for_output("reload refused", 10s)) << daemon->output();
  EXPECT_NE(daemon->output().find("fetchd.json:2:"), std::string::npos) << daemon->output();
  EXPECT_FALSE(daemon->wait_exit(0ms));

  test::write_file(config_path(),
                   config_with(R"({"name": "web", "url": ")" + nginx_->url("/") +
                               R"("}, {"name": "tls", "url": ")" + nginx_->url("/", true) +
                               R"(", "tls": {"verify": false}})"));
  daemon->signal(SIGHUP);
  EXPECT_TRUE(daemon->wait_for_output("reloaded: 1 added, 1 removed, 0 changed, 1 unchanged", 10s))
      << daemon->output();
  EXPECT_TRUE(daemon->wait_for_output("tls is UP", 10s)) << daemon->output();

  const auto [status, took] = test::stop_daemon(*daemon);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0) << daemon->output();
  EXPECT_LT(took, 2s);
  EXPECT_NE(daemon->output().find("fetchd stopped"), std::string::npos);
}

TEST_F(DaemonTest, RefusesToStartOnAnInvalidConfiguration) {
  test::write_file(config_path(), config_with(R"({"name": "x", "url": "http://127.0.0.1/",
                                                  "intervall": "1s"})"));
  const auto run = test::run_command({FETCHD_BINARY, "--config", config_path().string()},
                                     dir_.path() / "run.log", 10s);
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_NE(run.output.find("/targets/0"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("intervall"), std::string::npos) << run.output;
}

TEST_F(DaemonTest, CheckConfigValidatesAndSummarizes) {
  test::write_file(config_path(), config_with(R"("http://127.0.0.1/", {"name": "b",
                                                  "url": "http://127.0.0.1:8080/",
                                                  "enabled": false})"));
  const auto ok =
      test::run_command({FETCHD_BINARY, "--check-config", "--config", config_path().string()},
                        dir_.path() / "ok.log");
  EXPECT_EQ(ok.exit_status, 0) << ok.output;
  EXPECT_NE(ok.output.find("is valid: 1 file, 2 targets (1 enabled)"), std::string::npos)
      << ok.output;

  // A relative --config is reported (and reloaded) as the absolute path it names.
  const auto relative = std::filesystem::relative(config_path());
  ASSERT_TRUE(relative.is_relative()) << relative;
  const auto from_relative =
      test::run_command({FETCHD_BINARY, "--check-config", "--config", relative.string()},
                        dir_.path() / "relative.log");
  EXPECT_NE(from_relative.output.find("configuration " + config_path().string() + " is valid"),
            std::string::npos)
      << from_relative.output;

  test::write_file(config_path(), "{\"targets\": [\n\n  {\"name\": 5}]}");
  const auto bad =
      test::run_command({FETCHD_BINARY, "--check-config", "--config", config_path().string()},
                        dir_.path() / "bad.log");
  EXPECT_EQ(bad.exit_status, 1);
  EXPECT_NE(bad.output.find("fetchd.json:3:"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("/targets/0/name"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("is invalid (2 errors)"), std::string::npos) << bad.output;

  test::write_file(config_path(), "{\"targets\": [{\"name\": \"a\", \"url\": 5}]}");
  const auto one =
      test::run_command({FETCHD_BINARY, "--check-config", "--config", config_path().string()},
                        dir_.path() / "one.log");
  EXPECT_NE(one.output.find("is invalid (1 error)"), std::string::npos) << one.output;
}

}  // namespace
}  // namespace fetchd
