#include "alerts/command.h"

#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <signal.h>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include "support/run_until.h"
#include "support/temp_dir.h"

namespace fetchd::alerts {
namespace {

using namespace std::chrono_literals;
using End = CommandOutcome::End;

// The commands are real processes; none of these should take more than a fraction of this.
constexpr auto kCommandTestDeadline = 5s;

CommandSpec shell(const std::string& script, std::chrono::milliseconds timeout = 5s) {
  CommandSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.environment = {"PATH=/usr/bin:/bin"};
  spec.timeout = timeout;
  return spec;
}

// Runs one command to its end on a private loop.
CommandOutcome run_to_end(CommandSpec spec) {
  asio::io_context io;
  std::optional<CommandOutcome> outcome;
  asio::co_spawn(io, run_command(std::move(spec)),
                 [&](const std::exception_ptr& error, CommandOutcome value) {
                   if (error)
                     std::rethrow_exception(error);
                   outcome = std::move(value);
                 });
  EXPECT_TRUE(test::run_until(
      io, [&] { return outcome.has_value(); }, kCommandTestDeadline));
  return outcome.value_or(CommandOutcome{});
}

// The pids a script wrote to `path`, one a line, once it has written `count` of them.
std::vector<pid_t> wait_for_pids(const std::filesystem::path& path, std::size_t count) {
  const auto deadline = std::chrono::steady_clock::now() + kCommandTestDeadline;
  for (;;) {
    std::ifstream in(path);
    std::vector<pid_t> pids;
    std::string line;
    while (std::getline(in, line) && !in.eof())  // only whole lines
      pids.push_back(static_cast<pid_t>(std::stol(line)));
    if (pids.size() >= count || std::chrono::steady_clock::now() >= deadline)
      return pids;
    std::this_thread::sleep_for(2ms);
  }
}

// Gone, or a zombie (killed, and waiting for an init that may not reap it in a container).
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH)
    return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto state = text.rfind(") ");
  return state == std::string::npos || text[state + 2] == 'Z' || text[state + 2] == 'X';
}

bool becomes_gone(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + kCommandTestDeadline;
  while (!process_gone(pid)) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// The child itself: reaped by run_command, so it is no longer a child of this process at all.
bool reaped(pid_t child) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOHANG | WNOWAIT) != 0 &&
         errno == ECHILD;
}

TEST(CommandTest, ExitsWithItsOutput) {
  const auto outcome = run_to_end(shell("echo out; echo err >&2"));
  EXPECT_EQ(outcome.end, End::exited);
  EXPECT_EQ(outcome.code, 0);
  EXPECT_TRUE(outcome.ok());
  EXPECT_EQ(outcome.output, "out\nerr\n");
  EXPECT_FALSE(outcome.output_truncated);
  EXPECT_EQ(outcome.describe(), "exited 0");
}

TEST(CommandTest, ReportsTheExitStatusAndASignal) {
  const auto failed = run_to_end(shell("exit 3"));
  EXPECT_EQ(failed.end, End::exited);
  EXPECT_EQ(failed.code, 3);
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(failed.describe(), "exited 3");

  const auto signalled = run_to_end(shell("kill -TERM $$"));
  EXPECT_EQ(signalled.end, End::signalled);
  EXPECT_EQ(signalled.code, SIGTERM);
  EXPECT_FALSE(signalled.ok());
  EXPECT_EQ(signalled.describe(), "killed by signal 15 (SIGTERM)");
}

TEST(CommandTest, TheEnvironmentIsExactlyTheOneGiven) {
  ASSERT_EQ(::setenv("HOME", "/root", 0), 0);  // inherited, it would show
  CommandSpec spec;
  spec.argv = {"/usr/bin/env"};
  spec.environment = {"FETCHD_NAME=x", "FETCHD_STATE=DOWN"};
  const auto outcome = run_to_end(spec);
  EXPECT_TRUE(outcome.ok()) << outcome.describe();
  EXPECT_EQ(outcome.output, "FETCHD_NAME=x\nFETCHD_STATE=DOWN\n");
}

// The child inherits neither the daemon's ignored and blocked signals nor its descriptors.
TEST(CommandTest, StartsWithDefaultSignalsAndOnlyStdio) {
  sigset_t block;
  sigset_t old_mask;
  ::sigemptyset(&block);
  ::sigaddset(&block, SIGUSR1);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  const auto old_sigpipe = ::signal(SIGPIPE, SIG_IGN);
  const int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC
  ASSERT_GE(leaked, 0);

  CommandSpec signals;
  signals.argv = {"/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"};
  const auto signals_outcome = run_to_end(signals);
  CommandSpec descriptors;
  descriptors.argv = {"/bin/ls", "/proc/self/fd"};  // ls's own directory is the 4th
  const auto descriptors_outcome = run_to_end(descriptors);
  CommandSpec input;
  input.argv = {"/bin/readlink", "/proc/self/fd/0"};
  const auto input_outcome = run_to_end(input);

  ::close(leaked);
  ::signal(SIGPIPE, old_sigpipe);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  // glibc's posix_spawn leaves its two internal signals (32 and 33, which glibc reserves below
  // SIGRTMIN) ignored in the child; every other signal is at its default.
  std::istringstream status(signals_outcome.output);
  std::string blocked;
  std::string ignored;
  status >> blocked >> blocked >> ignored >> ignored;
  EXPECT_EQ(blocked, "0000000000000000") << signals_outcome.output;
  const auto signals_1_to_31 = std::stoull(ignored, nullptr, 16) & 0x7fffffffULL;
  EXPECT_EQ(signals_1_to_31, 0U) << signals_outcome.output;
  EXPECT_EQ(descriptors_outcome.output, "0\n1\n2\n3\n");
  EXPECT_EQ(input_outcome.output, "/dev/null\n");
}

TEST(CommandTest, AProgramThatCannotStartIsAnOutcome) {
  CommandSpec missing;
  missing.argv = {"/nonexistent/fetchd-test-command", "x"};
  const auto outcome = run_to_end(missing);
  EXPECT_EQ(outcome.end, End::spawn_failed);
  EXPECT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error,
            "posix_spawn \"/nonexistent/fetchd-test-command\": No such file or directory");
  EXPECT_EQ(outcome.describe(), "cannot start: " + outcome.error);

  CommandSpec relative;
  relative.argv = {"sh", "-c", "true"};
  EXPECT_EQ(run_to_end(relative).error, "\"sh\" is not an absolute path");
  EXPECT_EQ(run_to_end(CommandSpec{}).error, "no command");
  CommandSpec nul;
  nul.argv = {"/bin/true", std::string("a\0b", 3)};
  EXPECT_EQ(run_to_end(nul).end, End::spawn_failed);
}

// The shell and the sleep it started are one process group: both are killed.
TEST(CommandTest, ACommandThatNeverExitsIsKilledAtItsTimeoutWithItsChildren) {
  const test::TempDir dir("command-test");
  const auto pids = dir.path() / "pids";
  const auto outcome = run_to_end(shell(
      "echo $$ > " + pids.string() + "; sleep 60 & echo $! >> " + pids.string() + "; wait", 200ms));
  EXPECT_EQ(outcome.end, End::timed_out);
  EXPECT_EQ(outcome.code, SIGKILL);
  EXPECT_GE(outcome.took, 200ms);
  EXPECT_LT(outcome.took, 1500ms);
  EXPECT_EQ(outcome.describe(), "timed out after 200ms, killed");
  const auto started = wait_for_pids(pids, 2);
  ASSERT_EQ(started.size(), 2U);
  EXPECT_TRUE(reaped(started[0]));
  EXPECT_TRUE(becomes_gone(started[1]));
}

TEST(CommandTest, OutputIsKeptUpToItsLimitAndTheRestIsDrained) {
  auto spec = shell("head -c 10000000 /dev/zero; echo done >&2");
  spec.max_output_bytes = std::size_t{64} * 1024;
  const auto outcome = run_to_end(spec);
  EXPECT_TRUE(outcome.ok()) << outcome.describe();
  EXPECT_EQ(outcome.output, std::string(spec.max_output_bytes, '\0'));
  EXPECT_TRUE(outcome.output_truncated);
  EXPECT_LT(outcome.took, 2s);
}

TEST(CommandTest, CancellingKillsTheCommandAndItsChildren) {
  const test::TempDir dir("command-test");
  const auto pids = dir.path() / "pids";
  asio::io_context io;
  asio::cancellation_signal cancel;
  std::optional<CommandOutcome> outcome;
  asio::co_spawn(io,
                 // "started" wakes the test's loop once the pid is written.
                 run_command(shell("echo $$ > " + pids.string() + "; sleep 60 & echo $! >> " +
                                       pids.string() + "; echo started; wait",
                                   30s)),
                 asio::bind_cancellation_slot(
                     cancel.slot(), [&](const std::exception_ptr& error, CommandOutcome value) {
                       if (error)
                         std::rethrow_exception(error);
                       outcome = std::move(value);
                     }));
  std::vector<pid_t> started;
  ASSERT_TRUE(test::run_until(
      io,
      [&] {
        started = wait_for_pids(pids, 0);
        return started.size() == 2;
      },
      kCommandTestDeadline));
  const auto cancelled_at = std::chrono::steady_clock::now();
  cancel.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(test::run_until(
      io, [&] { return outcome.has_value(); }, kCommandTestDeadline));
  EXPECT_LT(std::chrono::steady_clock::now() - cancelled_at, 1s);
  EXPECT_EQ(outcome->end, End::cancelled);
  EXPECT_EQ(outcome->describe(), "cancelled, killed");
  EXPECT_TRUE(reaped(started[0]));
  EXPECT_TRUE(becomes_gone(started[1]));
}

// The shell exits at once; the sleep it left in its group keeps the pipe open until it is killed.
TEST(CommandTest, AProcessLeftInTheGroupIsKilledAfterTheExit) {
  const test::TempDir dir("command-test");
  const auto pids = dir.path() / "pids";
  const auto outcome = run_to_end(shell("echo $$ > " + pids.string() + "; sleep 60 & echo $! >> " +
                                        pids.string() + "; echo done"));
  EXPECT_TRUE(outcome.ok()) << outcome.describe();
  EXPECT_EQ(outcome.output, "done\n");
  EXPECT_GE(outcome.took, kExitGrace);
  EXPECT_LT(outcome.took, 1s);
  const auto started = wait_for_pids(pids, 2);
  ASSERT_EQ(started.size(), 2U);
  EXPECT_TRUE(reaped(started[0]));
  EXPECT_TRUE(becomes_gone(started[1]));
}

// A process that left the group (setsid) cannot be killed with it; it holds the pipe open, and
// still the run ends shortly after the command's exit.
TEST(CommandTest, AnOrphanHoldingThePipeDoesNotHoldUpTheRun) {
  const test::TempDir dir("command-test");
  const auto pids = dir.path() / "pids";
  // It exits once the orphan is on its own, which the pid file tells.
  const auto outcome = run_to_end(shell("/usr/bin/setsid /bin/sh -c 'echo $$ > " + pids.string() +
                                        "; exec sleep 60' & until [ -s " + pids.string() +
                                        " ]; do sleep 0.01; done; echo done"));
  EXPECT_TRUE(outcome.ok()) << outcome.describe();
  EXPECT_EQ(outcome.output, "done\n");
  EXPECT_LT(outcome.took, 1s);
  const auto orphans = wait_for_pids(pids, 1);
  ASSERT_EQ(orphans.size(), 1U);
  ::kill(orphans.front(), SIGKILL);
  EXPECT_TRUE(becomes_gone(orphans.front()));
}

}  // namespace
}  // namespace fetchd::alerts
