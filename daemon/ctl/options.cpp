#include "ctl/options.h"

#include <sys/un.h>

#include "config/duration.h"

namespace fetchd::ctl {

namespace {

bool starts_with_dash(std::string_view arg) {
  return arg.size() > 1 && arg[0] == '-';
}

// "--name" or "--name=VALUE": whether `arg` is that option, and its inline value if any.
bool matches_option(std::string_view arg, std::string_view name,
                    std::optional<std::string_view>& inline_value) {
  if (arg == name) {
    inline_value.reset();
    return true;
  }
  if (arg.size() > name.size() && arg.substr(0, name.size()) == name && arg[name.size()] == '=') {
    inline_value = arg.substr(name.size() + 1);
    return true;
  }
  return false;
}

}  // namespace

Expected<Invocation> parse_invocation(const std::vector<std::string>& args,
                                      const char* env_socket) {
  Invocation invocation;
  if (env_socket != nullptr && *env_socket != '\0')
    invocation.global.socket = env_socket;
  std::size_t index = 0;
  for (; index < args.size(); ++index) {
    const std::string_view arg = args[index];
    if (!starts_with_dash(arg))
      break;
    std::optional<std::string_view> inline_value;
    // Reads the value of the option at `index`, inline or the next argument.
    auto value_of = [&]() -> std::optional<std::string> {
      if (inline_value)
        return std::string(*inline_value);
      if (index + 1 >= args.size())
        return std::nullopt;
      return args[++index];
    };
    if (arg == "--json") {
      invocation.global.json = true;
    } else if (arg == "--help" || arg == "-h") {
      invocation.global.help = true;
    } else if (matches_option(arg, "--socket", inline_value)) {
      auto value = value_of();
      if (!value || value->empty())
        return Error{"--socket needs a path"};
      invocation.global.socket = std::move(*value);
    } else if (matches_option(arg, "--timeout", inline_value)) {
      auto value = value_of();
      if (!value)
        return Error{"--timeout needs a duration (\"10s\")"};
      auto parsed = config::parse_duration(*value);
      if (!parsed)
        return Error{R"(--timeout: expected a duration like "10s", found ")" + *value +
                     "\": " + parsed.error().message};
      if (parsed->count() == 0)
        return Error{"--timeout must be more than 0s"};
      invocation.global.timeout = *parsed;
    } else {
      return Error{"unknown option \"" + std::string(arg) + "\""};
    }
  }
  if (invocation.global.socket.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Error{"socket path \"" + invocation.global.socket + "\" is too long (at most " +
                 std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)"};
  }
  if (index < args.size()) {
    invocation.command = args[index];
    invocation.args.assign(args.begin() + static_cast<std::ptrdiff_t>(index) + 1, args.end());
  }
  // --json after the command too (`fetchctl list --json`), as people type it; not for `add`,
  // whose own --json takes the target's document, and not after "--".
  if (invocation.command != "add") {
    auto& rest = invocation.args;
    for (auto it = rest.begin(); it != rest.end() && *it != "--";) {
      if (*it == "--json") {
        invocation.global.json = true;
        it = rest.erase(it);
      } else {
        ++it;
      }
    }
  }
  return invocation;
}

bool ArgCursor::flag(std::string_view name) {
  if (!more() || options_ended_ || args_[index_] != name)
    return false;
  ++index_;
  return true;
}

bool ArgCursor::option(std::string_view name, std::string& value) {
  if (!more() || options_ended_)
    return false;
  std::optional<std::string_view> inline_value;
  if (!matches_option(args_[index_], name, inline_value))
    return false;
  if (inline_value) {
    value = std::string(*inline_value);
    ++index_;
    return true;
  }
  if (index_ + 1 >= args_.size()) {
    fail(std::string(name) + " needs a value");
    return false;
  }
  value = args_[index_ + 1];
  index_ += 2;
  return true;
}

bool ArgCursor::positional(std::string& value) {
  if (!more())
    return false;
  if (!options_ended_ && args_[index_] == "--") {
    options_ended_ = true;
    ++index_;
    if (!more())
      return false;
  }
  if (!options_ended_ && starts_with_dash(args_[index_]))
    return false;
  value = args_[index_++];
  return true;
}

void ArgCursor::reject_current() {
  if (!more())
    return;
  const std::string& arg = args_[index_];
  if (!options_ended_ && starts_with_dash(arg)) {
    if (arg == "--socket" || arg.starts_with("--socket=") || arg == "--timeout" ||
        arg.starts_with("--timeout=")) {
      fail("unknown option \"" + arg + "\" (global options go before the command: fetchctl " + arg +
           " COMMAND ...)");
    } else {
      fail("unknown option \"" + arg + "\"");
    }
  } else {
    fail("unexpected argument \"" + arg + "\"");
  }
}

void ArgCursor::fail(std::string message) {
  if (error_.empty())
    error_ = std::move(message);
}

}  // namespace fetchd::ctl
