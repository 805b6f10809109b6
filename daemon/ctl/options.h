#pragma once

// fetchctl's command line: the global options before the command, and a cursor the commands use to
// read their own arguments. Pure functions, no IO; unit-tested.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"
#include "control/protocol_limits.h"

namespace fetchd::ctl {

// The exit status mirrors the reply: scripts can tell a refusal from a usage error from an
// unreachable daemon.
enum ExitCode : int {
  kExitOk = 0,
  kExitRefused = 1,  // the daemon answered with an error reply
  kExitUsage = 2,    // the command line is wrong (usage on stderr)
  kExitUnreachable =
      3,  // no daemon to talk to: socket missing, permission, refused, timeout, bad reply
  kExitFetchFailed = 4,  // `fetch --wait`: the fetch ran and failed (or missed its expectations)
};

inline constexpr std::chrono::milliseconds kDefaultTimeout{10'000};

struct GlobalOptions {
  std::string socket{control::kDefaultSocketPath};
  bool json = false;
  // Set only when --timeout was given: some commands (fetch --wait) have a longer default.
  std::optional<std::chrono::milliseconds> timeout{};
  bool help = false;
};

struct Invocation {
  GlobalOptions global{};
  std::string command{};            // empty when none was given
  std::vector<std::string> args{};  // everything after the command
};

// Parses `fetchctl [--socket PATH] [--json] [--timeout DUR] [--help] COMMAND ARGS...`; --json
// is taken after the command too (but for `add`, whose --json is its own). `args` excludes
// argv[0]; `env_socket` is $FETCHD_SOCKET (nullptr or empty: unset), which --socket overrides.
Expected<Invocation> parse_invocation(const std::vector<std::string>& args, const char* env_socket);

// Reads one command's arguments in order. Options are `--name VALUE` or `--name=VALUE`; `--` ends
// the options. The first problem is kept in error() and every later call returns false.
class ArgCursor {
 public:
  explicit ArgCursor(const std::vector<std::string>& args) : args_(args) {}

  bool more() const { return error_.empty() && index_ < args_.size(); }
  // A flag without a value: `--wait`.
  bool flag(std::string_view name);
  // An option with a value; on a missing value error() says so and this returns false.
  bool option(std::string_view name, std::string& value);
  // The next argument if it is not an option.
  bool positional(std::string& value);
  // Records "unknown option ..." or "unexpected argument ..." for the current argument.
  void reject_current();
  void fail(std::string message);

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  const std::vector<std::string>& args_;
  std::size_t index_ = 0;
  bool options_ended_ = false;
  std::string error_;
};

}  // namespace fetchd::ctl
