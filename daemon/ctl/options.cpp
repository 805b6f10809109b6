#include "ctl/options.h"

#include <array>
#include <cstdint>
#include <sys/un.h>

namespace fetchd::ctl {

namespace {

struct Unit {
  std::string_view name;
  std::int64_t ms;
};

// Largest first: a combination must go down this list ("1m30s").
constexpr std::array<Unit, 4> kUnits = {{{"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};
constexpr std::int64_t kMaxMs = 10'000LL * 3'600'000;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

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

Expected<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty())
    return Error{"empty duration"};
  std::int64_t total = 0;
  std::size_t next_unit = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (!is_digit(text[pos]))
      return Error{"expected a duration like \"10s\", \"500ms\" or \"1m30s\""};
    std::int64_t number = 0;
    while (pos < text.size() && is_digit(text[pos])) {
      number = number * 10 + (text[pos] - '0');
      if (number > kMaxMs)
        return Error{"too long (at most 10000h)"};
      ++pos;
    }
    const std::size_t unit_start = pos;
    while (pos < text.size() && is_letter(text[pos]))
      ++pos;
    const std::string_view unit_name = text.substr(unit_start, pos - unit_start);
    std::size_t index = 0;
    while (index < kUnits.size() && kUnits[index].name != unit_name)
      ++index;
    if (index == kUnits.size() || index < next_unit)
      return Error{"expected a duration like \"10s\", \"500ms\" or \"1m30s\""};
    next_unit = index + 1;
    total += number * kUnits[index].ms;
    if (total > kMaxMs)
      return Error{"too long (at most 10000h)"};
  }
  return std::chrono::milliseconds(total);
}

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
      auto parsed = parse_duration(*value);
      if (!parsed)
        return Error{"--timeout \"" + *value + "\": " + parsed.error().message};
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
    if (arg == "--json" || arg == "--socket" || arg.starts_with("--socket=") ||
        arg == "--timeout" || arg.starts_with("--timeout=")) {
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
