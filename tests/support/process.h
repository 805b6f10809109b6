#pragma once

// A child process for end-to-end tests (the real fetchd binary): its output goes to a file the test
// polls with a deadline. Killed (SIGKILL) and reaped on destruction if still running.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace fetchd::test {

class ChildProcess {
 public:
  // Runs argv[0] with its stdout and stderr appended to `output`. Throws std::system_error if the
  // process cannot be started. `env` changes the inherited environment: "KEY=VALUE" sets KEY,
  // "KEY" alone removes it.
  ChildProcess(const std::vector<std::string>& argv, std::filesystem::path output,
               const std::vector<std::string>& env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int signal) const;
  // The exit status once the process has exited within `timeout` (a signal death is 128 + signo).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  std::string output() const;
  // The last `lines` lines of the output: what a failure message shows of a long log.
  std::string output_tail(std::size_t lines) const;
  // Polls the output (every few ms, up to `timeout`) for `needle` appearing `count` times.
  bool wait_for_output(std::string_view needle, std::chrono::milliseconds timeout,
                       std::size_t count = 1) const;

 private:
  pid_t pid_ = -1;
  std::filesystem::path output_;
  std::optional<int> exit_status_;
};

// Runs a command to completion (bounded by `timeout`, then SIGKILL) and returns its exit status and
// combined output.
struct Completed {
  int exit_status = -1;
  std::string output;
};
Completed run_command(const std::vector<std::string>& argv, const std::filesystem::path& scratch,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace fetchd::test
