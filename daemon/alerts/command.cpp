#include "alerts/command.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <initializer_list>
#include <optional>
#include <spawn.h>
#include <string_view>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>
#include <utility>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "common/expected.h"
#include "common/no_throw.h"
#include "common/quote.h"
#include "config/duration.h"

namespace fetchd::alerts {

namespace {
// A name of its own: the unity build compiles several sources' anonymous namespaces as one.
namespace command_run {

// A default pipe's capacity: one read empties it.
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;
// Only when the child cannot be watched through a pidfd: how often a killed child is looked for.
constexpr std::chrono::milliseconds kReapPoll{5};

std::string error_text(int error) {
  return std::generic_category().message(error);
}

bool cancelled(const asio::cancellation_state& state) {
  return state.cancelled() != asio::cancellation_type::none;
}

// The token of an operation that a cancellation of the run must not interrupt: waiting for a
// killed child.
auto uninterrupted() {
  return asio::bind_cancellation_slot(asio::cancellation_slot(), kNoThrow);
}

// A descriptor until asio (or the child) takes it.
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  ~OwnedFd() { reset(); }
  OwnedFd(OwnedFd&& other) noexcept : fd_(other.release()) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.release();
    }
    return *this;
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;

  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// The output pipe, both ends close-on-exec and above 2: a daemon started with a standard descriptor
// closed would otherwise get the pipe there, and the child's dup2() onto 0, 1 and 2 would clobber
// it.
std::optional<std::string> open_pipe(OwnedFd& read_end, OwnedFd& write_end) {
  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0)
    return "pipe2: " + error_text(errno);
  read_end = OwnedFd(fds[0]);
  write_end = OwnedFd(fds[1]);
  for (OwnedFd* end : {&read_end, &write_end}) {
    if (end->get() > STDERR_FILENO)
      continue;
    const int moved = ::fcntl(end->get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (moved < 0)
      return "fcntl: " + error_text(errno);
    *end = OwnedFd(moved);
  }
  return std::nullopt;
}

// posix_spawn's attributes and file actions, destroyed on every path.
class SpawnSetup {
 public:
  SpawnSetup() {
    ::posix_spawnattr_init(&attributes_);
    ::posix_spawn_file_actions_init(&actions_);
  }
  ~SpawnSetup() {
    ::posix_spawn_file_actions_destroy(&actions_);
    ::posix_spawnattr_destroy(&attributes_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  // Its own process group (led by the child), every signal at its default and none blocked; stdin
  // from /dev/null, stdout and stderr to `output`, nothing else open. Returns an errno value.
  int prepare(int output) {
    sigset_t none;
    sigset_t all;
    ::sigemptyset(&none);
    ::sigfillset(&all);
    const auto flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    for (const int error : {
             ::posix_spawnattr_setflags(&attributes_, static_cast<short>(flags)),
             ::posix_spawnattr_setpgroup(&attributes_, 0),
             ::posix_spawnattr_setsigmask(&attributes_, &none),
             ::posix_spawnattr_setsigdefault(&attributes_, &all),
             ::posix_spawn_file_actions_addopen(&actions_, STDIN_FILENO, "/dev/null", O_RDONLY, 0),
             ::posix_spawn_file_actions_adddup2(&actions_, output, STDOUT_FILENO),
             ::posix_spawn_file_actions_adddup2(&actions_, output, STDERR_FILENO),
             // Even a descriptor someone opened without O_CLOEXEC.
             ::posix_spawn_file_actions_addclosefrom_np(&actions_, STDERR_FILENO + 1),
         }) {
      if (error != 0)
        return error;
    }
    return 0;
  }

  const posix_spawnattr_t* attributes() const { return &attributes_; }
  const posix_spawn_file_actions_t* actions() const { return &actions_; }

 private:
  posix_spawnattr_t attributes_{};
  posix_spawn_file_actions_t actions_{};
};

// posix_spawn's argv and envp: pointers into `strings`, null-terminated.
std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (auto& string : strings)
    pointers.push_back(string.data());
  pointers.push_back(nullptr);
  return pointers;
}

Expected<pid_t> spawn(CommandSpec& spec, int output) {
  if (spec.argv.empty())
    return Error{"no command"};
  if (!spec.argv[0].starts_with('/'))
    return Error{quote(spec.argv[0]) + " is not an absolute path"};
  const auto has_nul = [](const std::string& text) { return text.find('\0') != std::string::npos; };
  if (std::any_of(spec.argv.begin(), spec.argv.end(), has_nul) ||
      std::any_of(spec.environment.begin(), spec.environment.end(), has_nul))
    return Error{"an argument or environment entry contains a NUL byte"};

  SpawnSetup setup;
  if (const int error = setup.prepare(output); error != 0)
    return Error{"posix_spawn setup: " + error_text(error)};
  auto argv = c_strings(spec.argv);
  auto envp = c_strings(spec.environment);
  pid_t pid = 0;
  const int error =
      ::posix_spawn(&pid, argv[0], setup.actions(), setup.attributes(), argv.data(), envp.data());
  if (error != 0)
    return Error{"posix_spawn " + quote(spec.argv[0]) + ": " + error_text(error)};
  return pid;
}

// The child from its start to its reaping. It lives in run()'s frame, and every coroutine below
// runs inside run(), which awaits each to its end.
class Child {
 public:
  struct Exit {
    int si_code = 0;  // CLD_EXITED, CLD_KILLED or CLD_DUMPED; 0 if someone else reaped it
    int status = 0;   // exit status or signal number
    std::chrono::steady_clock::time_point at;
  };

  Child(const asio::any_io_executor& executor, std::size_t max_output)
      : exit_watch_(executor), output_(executor), timer_(executor), max_output_(max_output) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    // Every run ends in finish(); this is for one that does not get there (an exception, or its
    // loop destroyed while it waits). The child stays a zombie: reaping it here could block.
    if (pid_ > 0 && !reaped_)
      ::kill(-pid_, SIGKILL);
  }

  // The pipe is registered with the loop before anything starts, so that failing to do so leaves
  // nothing to clean up.
  std::optional<std::string> open_output(OwnedFd& write_end) {
    OwnedFd read_end;
    if (auto error = open_pipe(read_end, write_end))
      return error;
    std::error_code ec;
    output_.assign(read_end.get(), ec);
    if (ec)
      return "registering the output pipe: " + ec.message();
    read_end.release();
    return std::nullopt;
  }

  // Spawned: from here on, finish() must run.
  void started(pid_t pid) {
    pid_ = pid;
    // Not glibc's pidfd_open(): 2.36's <sys/pidfd.h> lacks extern "C", so C++ cannot link it.
    OwnedFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (pidfd.get() < 0) {
      watch_error_ = "pidfd_open: " + error_text(errno);
      return;
    }
    std::error_code ec;
    exit_watch_.assign(pidfd.get(), ec);
    if (ec) {
      watch_error_ = "registering the pidfd: " + ec.message();
      return;
    }
    pidfd.release();
  }

  const std::optional<Exit>& exit() const { return exit_; }
  bool output_open() const { return output_open_; }
  bool slept() const { return slept_; }
  // Why the child cannot be waited for on the loop; it is then killed at once.
  const std::string& watch_error() const { return watch_error_; }
  std::string take_output() { return std::move(kept_); }
  bool output_truncated() const { return truncated_; }

  // Until the child exited (exit() is set), the operation is cancelled or watching fails.
  asio::awaitable<void> wait_for_exit() {
    const auto state = co_await asio::this_coro::cancellation_state;
    // Looked for before each wait: asio waits for the next edge of readiness, so a pidfd that
    // became readable while no wait was pending would not wake a new wait.
    while (!look_for_exit() && !cancelled(state)) {
      auto [ec] =
          co_await exit_watch_.async_wait(asio::posix::descriptor_base::wait_read, kNoThrow);
      if (ec == asio::error::operation_aborted)
        co_return;
      if (ec) {
        watch_error_ = "waiting for the child: " + ec.message();
        co_return;
      }
    }
  }

  // Until end of file (output_open() is false) or the operation is cancelled.
  asio::awaitable<void> read_output() {
    const auto state = co_await asio::this_coro::cancellation_state;
    while (output_open_ && !cancelled(state)) {
      auto [ec, length] = co_await output_.async_read_some(asio::buffer(chunk_), kNoThrow);
      keep(std::string_view(chunk_.data(), length));
      if (ec == asio::error::operation_aborted)
        co_return;
      if (ec)  // end of file, or an error that ends the reading just the same
        output_open_ = false;
    }
  }

  // Until `when` (slept() is true) or the operation is cancelled.
  asio::awaitable<void> sleep_until(std::chrono::steady_clock::time_point when) {
    slept_ = false;
    timer_.expires_at(when);
    auto [ec] = co_await timer_.async_wait(kNoThrow);
    slept_ = !ec;
  }

  // Kills whatever is left of the process group, waits for the child to exit if it has not, and
  // reaps it. Not interrupted by a cancellation: a killed child exits at once.
  asio::awaitable<void> finish() {
    // The group's id is the child's pid, still ours while the child is not reaped.
    if (!reaped_)
      ::kill(-pid_, SIGKILL);
    while (!look_for_exit()) {
      if (exit_watch_.is_open()) {
        auto [ec] = co_await exit_watch_.async_wait(asio::posix::descriptor_base::wait_read,
                                                    uninterrupted());
        if (ec) {
          std::error_code ignored;
          exit_watch_.close(ignored);
        }
      } else {
        timer_.expires_after(kReapPoll);
        co_await timer_.async_wait(uninterrupted());
      }
    }
    if (!reaped_) {
      siginfo_t info{};
      ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG);
      reaped_ = true;
    }
  }

 private:
  // Records the child's exit if it has exited, without reaping it (WNOWAIT). Never blocks.
  bool look_for_exit() {
    if (exit_)
      return true;
    siginfo_t info{};
    int result = 0;
    do {
      result = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    } while (result != 0 && errno == EINTR);
    if (result != 0) {
      // ECHILD: reaped by someone else (SIGCHLD ignored, or a wait for any child); the status is
      // lost, and so is the hold on the group's id.
      watch_error_ = "waitid: " + error_text(errno);
      reaped_ = true;
      exit_ = Exit{.at = std::chrono::steady_clock::now()};
      return true;
    }
    if (info.si_pid == 0)
      return false;
    exit_ = Exit{
        .si_code = info.si_code, .status = info.si_status, .at = std::chrono::steady_clock::now()};
    return true;
  }

  void keep(std::string_view bytes) {
    const std::size_t room = max_output_ - std::min(max_output_, kept_.size());
    kept_.append(bytes.substr(0, room));
    if (bytes.size() > room)
      truncated_ = true;
  }

  pid_t pid_ = 0;
  bool reaped_ = false;
  std::optional<Exit> exit_;
  std::string watch_error_;
  asio::posix::stream_descriptor exit_watch_;  // the pidfd: readable once the child exited
  asio::posix::stream_descriptor output_;
  asio::steady_timer timer_;
  bool slept_ = false;
  bool output_open_ = true;
  std::size_t max_output_;
  std::string kept_;
  bool truncated_ = false;
  std::vector<char> chunk_ = std::vector<char>(kReadChunk);
};

// Why the watching of a running child ended.
enum class Stop { finished, deadline, cancelled, unwatchable };

// Runs in an awaitable thread of its own (see run_command), whose cancellation state this changes.
asio::awaitable<CommandOutcome> run(CommandSpec spec) {
  // After a cancellation the run still awaits the killed child; the default would make every
  // later co_await throw instead.
  co_await asio::this_coro::throw_if_cancelled(false);
  co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
  const auto state = co_await asio::this_coro::cancellation_state;

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + spec.timeout;
  CommandOutcome outcome;
  outcome.timeout = spec.timeout;
  const auto took = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
  };

  Child child(co_await asio::this_coro::executor, spec.max_output_bytes);
  Expected<pid_t> pid = Error{};
  {
    OwnedFd write_end;  // closed right after the spawn: the child's copies are the only writers
    if (auto error = child.open_output(write_end))
      pid = Error{std::move(*error)};
    else
      pid = spawn(spec, write_end.get());
  }
  if (!pid) {
    outcome.end = CommandOutcome::End::spawn_failed;
    outcome.error = pid.error().message;
    outcome.took = took();
    co_return outcome;
  }
  child.started(*pid);

  using namespace asio::experimental::awaitable_operators;
  Stop stop = Stop::finished;
  for (;;) {
    if (cancelled(state)) {
      stop = Stop::cancelled;
      break;
    }
    if (!child.exit() && !child.watch_error().empty()) {
      stop = Stop::unwatchable;
      break;
    }
    if (!child.exit()) {
      if (child.output_open())
        co_await (child.wait_for_exit() || child.read_output() || child.sleep_until(deadline));
      else
        co_await (child.wait_for_exit() || child.sleep_until(deadline));
      if (!child.exit() && child.slept()) {
        stop = Stop::deadline;
        break;
      }
    } else if (child.output_open()) {
      // Exited, but a process it left may hold the pipe: read on for a moment only.
      co_await (child.read_output() || child.sleep_until(child.exit()->at + kExitGrace));
      if (cancelled(state))
        stop = Stop::cancelled;
      break;
    } else {
      break;
    }
  }
  // Exited before anything was killed here: its own status counts, whatever ended the watching.
  const std::optional<Child::Exit> own_exit = child.exit();
  co_await child.finish();

  outcome.took = took();
  outcome.output = child.take_output();
  outcome.output_truncated = child.output_truncated();
  const Child::Exit& exit = own_exit ? *own_exit : *child.exit();
  outcome.code = exit.status;
  if (own_exit) {
    outcome.end = exit.si_code == CLD_EXITED || exit.si_code == 0 ? CommandOutcome::End::exited
                                                                  : CommandOutcome::End::signalled;
    if (exit.si_code == 0) {
      outcome.code = -1;
      outcome.error = child.watch_error();
    }
  } else if (stop == Stop::deadline) {
    outcome.end = CommandOutcome::End::timed_out;
  } else if (stop == Stop::cancelled) {
    outcome.end = CommandOutcome::End::cancelled;
  } else {
    outcome.end = CommandOutcome::End::spawn_failed;
    outcome.error = child.watch_error() + " (the command was killed)";
  }
  co_return outcome;
}

}  // namespace command_run
}  // namespace

std::string CommandOutcome::describe() const {
  switch (end) {
    case End::exited:
      if (!error.empty())
        return "exited, status unknown (" + error + ")";
      return "exited " + std::to_string(code);
    case End::signalled: {
      const char* name = ::sigabbrev_np(code);
      return "killed by signal " + std::to_string(code) +
             (name != nullptr ? " (SIG" + std::string(name) + ")" : "");
    }
    case End::timed_out:
      return "timed out after " + config::format_for_people(timeout) + ", killed";
    case End::cancelled:
      return "cancelled, killed";
    case End::spawn_failed:
      return "cannot start: " + error;
  }
  return "unknown end";
}

asio::awaitable<CommandOutcome> run_command(CommandSpec spec) {
  // An awaitable thread of its own, so that the caller's cancellation state (which would throw at
  // our awaits after a cancellation) stays as the caller set it; a cancellation of the caller's
  // await still reaches the run.
  co_return co_await asio::co_spawn(co_await asio::this_coro::executor,
                                    command_run::run(std::move(spec)), asio::use_awaitable);
}

}  // namespace fetchd::alerts
