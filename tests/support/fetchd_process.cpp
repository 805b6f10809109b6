#include "support/fetchd_process.h"

#include <fstream>
#include <signal.h>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace fetchd::test {

namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::size_t occurrences(const std::filesystem::path& file, const std::string& needle) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  const auto contents = text.str();
  std::size_t found = 0;
  for (auto at = contents.find(needle); at != std::string::npos;
       at = contents.find(needle, at + 1)) {
    ++found;
  }
  return found;
}
}  // namespace

std::unique_ptr<ChildProcess> start_daemon(const std::vector<std::string>& argv,
                                           const std::filesystem::path& log,
                                           const std::filesystem::path& socket) {
  // Logged once listening; the " (mode" keeps "replaced the stale control socket PATH", logged
  // before that, from matching.
  const auto listening = "control socket " + socket.string() + " (mode";
  const auto earlier_starts = occurrences(log, listening);
  auto daemon = std::make_unique<ChildProcess>(argv, log);
  if (!daemon->wait_for_output(listening, 10s, earlier_starts + 1))
    ADD_FAILURE() << "fetchd did not listen on " << socket << " within 10 s:\n" << daemon->output();
  return daemon;
}

Stopped stop_daemon(ChildProcess& daemon) {
  const auto sent = Clock::now();
  daemon.signal(SIGTERM);
  const auto status = daemon.wait_exit(5s);
  return {status, Clock::now() - sent};
}

bool eventually(const std::function<bool()>& condition, Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition())
      return true;
    if (Clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(20ms);  // between polls, not a wait for a state
  }
}

}  // namespace fetchd::test
