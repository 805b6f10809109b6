#include "ctl/run_fetchctl.h"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

namespace fetchd::test {

namespace {

using Clock = std::chrono::steady_clock;

void close_fd(int& fd) {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

}  // namespace

FetchctlRun run_fetchctl(const std::vector<std::string>& args, const FetchctlOptions& options) {
  std::vector<std::string> argv = options.wrapper;
  argv.push_back(FETCHCTL_BINARY);
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> argv_pointers;
  for (auto& arg : argv)
    argv_pointers.push_back(arg.data());
  argv_pointers.push_back(nullptr);
  std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  for (const auto& [key, value] : options.env)
    env.push_back(key + "=" + value);
  std::vector<char*> env_pointers;
  for (auto& entry : env)
    env_pointers.push_back(entry.data());
  env_pointers.push_back(nullptr);

  int out[2] = {-1, -1};  // [0] read by the parent, [1] the child's stdout
  int err[2] = {-1, -1};
  if (::pipe2(err, O_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "pipe2");
  if (options.stdout_tty) {
    out[0] = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (out[0] < 0 || ::grantpt(out[0]) != 0 || ::unlockpt(out[0]) != 0)
      throw std::system_error(errno, std::generic_category(), "posix_openpt");
    out[1] = ::open(::ptsname(out[0]), O_RDWR | O_NOCTTY | O_CLOEXEC);
  } else if (::pipe2(out, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0)
    throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0)
      ::dup2(null, STDIN_FILENO);
    for (int fd = 3; fd < 1024; ++fd)
      ::close(fd);
    ::execve(argv_pointers[0], argv_pointers.data(), env_pointers.data());
    ::_exit(127);
  }
  close_fd(out[1]);
  close_fd(err[1]);

  FetchctlRun run;
  const auto deadline = Clock::now() + options.timeout;
  bool killed = false;
  while (out[0] >= 0 || err[0] >= 0) {
    pollfd entries[2] = {{.fd = out[0], .events = POLLIN, .revents = 0},
                         {.fd = err[0], .events = POLLIN, .revents = 0}};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (::poll(entries, 2, static_cast<int>(left.count())) < 0 && errno != EINTR)
      break;
    for (int i = 0; i < 2; ++i) {
      if (entries[i].revents == 0)
        continue;
      int& fd = i == 0 ? out[0] : err[0];
      std::string& text = i == 0 ? run.out : run.err;
      char buffer[4096];
      const ssize_t count = ::read(fd, buffer, sizeof buffer);
      if (count > 0) {
        text.append(buffer, static_cast<std::size_t>(count));
      } else if (count == 0 || errno != EINTR) {
        close_fd(fd);  // EOF; a pseudo-terminal reports EIO once the child has closed it
      }
    }
  }
  close_fd(out[0]);
  close_fd(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!killed)
    run.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

}  // namespace fetchd::test
