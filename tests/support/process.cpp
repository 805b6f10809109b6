#include "support/process.h"

#include <algorithm>
#include <fcntl.h>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace fetchd::test {

namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(5);

std::string_view env_key(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

// The inherited environment with `changes` applied (built before fork: the child only execs).
std::vector<std::string> child_environment(const std::vector<std::string>& changes) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view current(*entry);
    const bool changed = std::any_of(changes.begin(), changes.end(), [&](const auto& change) {
      return env_key(change) == env_key(current);
    });
    if (!changed)
      env.emplace_back(current);
  }
  for (const auto& change : changes) {
    if (change.find('=') != std::string::npos)
      env.push_back(change);
  }
  return env;
}
}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, std::filesystem::path output,
                           const std::vector<std::string>& env)
    : output_(std::move(output)) {
  std::vector<char*> args;
  for (const auto& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const auto environment = child_environment(env);
  std::vector<char*> envp;
  for (const auto& entry : environment)
    envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  const int out = ::open(output_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0)
    throw std::system_error(errno, std::generic_category(), output_.string());
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(out);
    throw std::system_error(errno, std::generic_category(), "fork");
  }
  if (pid_ == 0) {
    // The daemon must not outlive a test that dies.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0)
      ::dup2(null, STDIN_FILENO);
    // Sockets of the test's own servers are not close-on-exec; keep them out of the child.
    for (int fd = 3; fd < 1024; ++fd)
      ::close(fd);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(out);
}

ChildProcess::~ChildProcess() {
  if (!exit_status_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void ChildProcess::signal(int signal) const {
  if (!exit_status_)
    ::kill(pid_, signal);
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!exit_status_) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (Clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
  return exit_status_;
}

std::string ChildProcess::output() const {
  std::ifstream in(output_);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string ChildProcess::output_tail(std::size_t lines) const {
  const std::string text = output();
  // Back from the end to just after the newline that ends line `lines + 1` from the end.
  std::size_t start = text.size();
  for (std::size_t newlines = 0; start > 0; --start) {
    if (text[start - 1] == '\n' && ++newlines > lines)
      break;
  }
  return text.substr(start);
}

bool ChildProcess::wait_for_output(std::string_view needle, std::chrono::milliseconds timeout,
                                   std::size_t count) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto text = output();
    std::size_t found = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
      ++found;
    }
    if (found >= count)
      return true;
    if (Clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(kPollInterval);
  }
}

Completed run_command(const std::vector<std::string>& argv, const std::filesystem::path& scratch,
                      std::chrono::milliseconds timeout) {
  std::filesystem::remove(scratch);
  ChildProcess child(argv, scratch);
  Completed completed;
  completed.exit_status = child.wait_exit(timeout).value_or(-1);
  completed.output = child.output();
  return completed;
}

}  // namespace fetchd::test
