#pragma once

// The real fetchd binary in end-to-end tests: started and known to serve its control socket,
// stopped the way the service manager stops it, and waited on by polling, since it runs on its own.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/process.h"

namespace fetchd::test {

// Runs `argv` (fetchd itself, or a shell that execs it so that the pid stays the daemon's) with
// its output appended to `log`, and waits up to 10 s until it listens on `socket`. Restarts may
// share the log: only a line from this start counts. Not listening in time is a test failure, but
// not a fatal one, so that the test still gets the process and can show its output.
std::unique_ptr<ChildProcess> start_daemon(const std::vector<std::string>& argv,
                                           const std::filesystem::path& log,
                                           const std::filesystem::path& socket);

struct Stopped {
  std::optional<int> exit_status{};  // none: still running 5 s after the SIGTERM
  std::chrono::steady_clock::duration took{};
};

// SIGTERM, as the service manager stops it; the exit within 5 s, and how long it took, since a
// clean stop must also be a prompt one.
Stopped stop_daemon(ChildProcess& daemon);

// Polls `condition` every 20 ms until it holds; false if `timeout` passes first.
bool eventually(const std::function<bool()>& condition,
                std::chrono::steady_clock::duration timeout = std::chrono::seconds(5));

}  // namespace fetchd::test
