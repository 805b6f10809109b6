#pragma once

// Runs the fetchctl binary as a process, with a chosen environment, its stdout on a pipe or a
// pseudo-terminal, and its stdout and stderr kept apart. Bounded by a timeout (then SIGKILL).

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace fetchd::test {

struct FetchctlRun {
  int exit_status = -1;  // 128 + signal when killed; -1 when it had to be killed at the timeout
  std::string out{};
  std::string err{};
};

struct FetchctlOptions {
  // The child's whole environment: nothing is inherited, so FETCHD_SOCKET, NO_COLOR and TERM are
  // exactly what a test sets.
  std::map<std::string, std::string> env{};
  bool stdout_tty = false;
  // Run through this command first (setpriv ... to change user).
  std::vector<std::string> wrapper{};
  std::chrono::milliseconds timeout{30'000};
};

FetchctlRun run_fetchctl(const std::vector<std::string>& args, const FetchctlOptions& options = {});

}  // namespace fetchd::test
