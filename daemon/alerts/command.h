#pragma once

// One notification command, run to its end without blocking the loop: the leaf under the notifier,
// which owns the concurrency limit, retries and the log line (nothing here logs).
//
// The child is started with posix_spawn() in a process group of its own, with exactly the given
// environment, every signal at its default and none blocked (the SIGPIPE that systemd has the
// daemon ignore is not inherited; glibc keeps its internal 32 and 33 ignored), stdin from
// /dev/null, stdout and stderr merged into one pipe, and no other descriptor (everything from 3 up
// is closed). It runs in the daemon's working directory and inherits its user, umask, resource
// limits and, under the shipped unit, its sandbox (seccomp filter, NoNewPrivileges=, read-only file
// system). Its exit is waited for through a pidfd on the loop; its output is read as it comes, the
// first max_output_bytes kept and the rest read and dropped, so the child never blocks on a full
// pipe.
//
// When run_command returns, nothing of the command runs any more: after the child exits, output is
// read until end of file or for at most kExitGrace (a background process may keep the pipe open),
// then whatever is left in the process group is killed with SIGKILL. On timeout or cancellation
// (per-operation cancellation of the awaiting coroutine, e.g. at shutdown) the whole group is
// killed at once. The child is always reaped, and only after the last signal to its group, so the
// group's id cannot have been reused by then. A process that leaves the group (setsid) escapes
// this; nothing short of a cgroup could follow it. So that the child is ours to reap, the daemon
// must neither ignore SIGCHLD nor wait for any child (waitpid(-1)).

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

namespace fetchd::alerts {

// How long output is still read after the child exited while something else holds the pipe open.
inline constexpr std::chrono::milliseconds kExitGrace{100};

struct CommandSpec {
  // argv[0] must be an absolute path (the config loader checks it): no PATH lookup, so what runs
  // does not depend on an environment variable.
  std::vector<std::string> argv;
  // "KEY=VALUE" entries: the child's whole environment, nothing is inherited from the daemon.
  std::vector<std::string> environment;
  std::chrono::milliseconds timeout{10'000};
  // Of stdout and stderr (one pipe, merged): the first bytes up to this are kept.
  std::size_t max_output_bytes = std::size_t{64} * 1024;
};

struct CommandOutcome {
  enum class End {
    exited,        // by itself: code is its exit status
    signalled,     // by a signal not sent here: code is the signal number
    timed_out,     // killed (SIGKILL to the group) when spec.timeout passed
    cancelled,     // killed because the awaiting operation was cancelled
    spawn_failed,  // never ran (or could not be watched, and was killed at once): see error
  };
  End end = End::spawn_failed;
  int code = 0;        // exit status or signal number (SIGKILL when timed_out or cancelled)
  std::string output;  // merged stdout and stderr, at most max_output_bytes
  bool output_truncated = false;
  std::string error;  // spawn_failed: what failed, `posix_spawn "/usr/bin/x": No such file or ...`
  std::chrono::milliseconds timeout{};  // the spec's, for describe()
  std::chrono::milliseconds took{};

  bool ok() const { return end == End::exited && code == 0; }
  // One line for a log: "exited 0", "exited 3", "killed by signal 9 (SIGKILL)", "timed out after
  // 10s, killed", "cancelled, killed", "cannot start: posix_spawn \"/x\": No such file or
  // directory".
  std::string describe() const;
};

// Runs one command to its end, on the awaiting coroutine's executor. Expected failures are
// values; it throws only what a bug or memory exhaustion would.
asio::awaitable<CommandOutcome> run_command(CommandSpec spec);

}  // namespace fetchd::alerts
