#include "ctl/cli.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/did_you_mean.h"
#include "common/quote.h"
#include "common/version.h"
#include "config/duration.h"
#include "control/protocol_limits.h"
#include "ctl/commands.h"
#include "ctl/options.h"
#include "ctl/render.h"
#include "ctl/transport.h"

namespace fetchd::ctl {

namespace {

constexpr int kRequestId = 1;
// fetch --wait: a target's timeout is at most 10m; the reply may come that late.
constexpr std::chrono::milliseconds kFetchWaitTimeout{10 * 60'000 + 10'000};

void write(std::FILE* stream, std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stream);
}

int usage_error(std::string_view message, const Command* command) {
  std::string text = "fetchctl: ";
  if (command != nullptr)
    text += std::string(command->name) + ": ";
  text += std::string(message) + "\n";
  if (command != nullptr) {
    text += usage_lines(*command);
    text += "Try 'fetchctl " + std::string(command->name) + " --help'.\n";
  } else {
    text += "\n" + usage_text();
  }
  write(stderr, text);
  return kExitUsage;
}

bool colour_wanted() {
  const char* no_colour = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  return ::isatty(STDOUT_FILENO) == 1 && (no_colour == nullptr || *no_colour == '\0') &&
         (term == nullptr || std::string_view(term) != "dumb");
}

// `version` still prints fetchctl's own version when the daemon cannot say its own.
int unreachable(std::string_view message, const Command& command, bool json) {
  if (command.name == "version" && !json)
    write(stdout, "fetchctl " + std::string(kVersion) + "\n");
  write(stderr, "fetchctl: " + std::string(message) + "\n");
  return kExitUnreachable;
}

// Three lines rather than the whole help: what was wrong, the closest command, where help is.
int unknown_command(const std::string& name) {
  std::vector<std::string_view> names;
  for (const auto& command : commands())
    names.push_back(command.name);
  std::string text = "fetchctl: unknown command " + quote(name);
  if (const auto best = closest_name(name, names))
    text += " (did you mean \"" + std::string(*best) + "\"?)";
  const std::string usage = usage_text();
  text += "\n" + usage.substr(0, usage.find('\n') + 1) + "Try 'fetchctl --help'.\n";
  write(stderr, text);
  return kExitUsage;
}

// `help [COMMAND]`, answered without the daemon.
int local_help(const std::vector<std::string>& args) {
  if (args.empty()) {
    write(stdout, usage_text());
    return kExitOk;
  }
  if (args.size() != 1)
    return usage_error("help takes one COMMAND", find_command("help"));
  const Command* command = find_command(args[0]);
  if (command == nullptr)
    return unknown_command(args[0]);
  write(stdout, command_help(*command));
  return kExitOk;
}

// The start of a reply that makes no sense, for an error message: bounded, no control characters.
std::string excerpt(std::string_view line) {
  std::string text(line.substr(0, 200));
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = '?';
  }
  return line.size() > 200 ? text + "..." : text;
}

bool asks_for_help(const std::vector<std::string>& args) {
  for (const auto& arg : args) {
    if (arg == "--")
      return false;
    if (arg == "--help" || arg == "-h")
      return true;
  }
  return false;
}

// The reply line parsed, when it is a control protocol reply to our request (or an error that
// answers none, such as busy); else why not.
Expected<nlohmann::json> protocol_reply(const std::string& reply_line) {
  auto reply = nlohmann::json::parse(reply_line, nullptr, /*allow_exceptions=*/false);
  const auto ok = reply.is_object() ? reply.find("ok") : reply.end();
  if (reply.is_discarded() || !reply.is_object() || ok == reply.end() || !ok->is_boolean())
    return Error{"not a control protocol reply from fetchd: " + excerpt(reply_line)};
  const auto id = reply.find("id");
  const bool id_matches = id != reply.end() && *id == kRequestId;
  const bool unsolicited_error = (id == reply.end() || id->is_null()) && *ok == false;
  if (!id_matches && !unsolicited_error)
    return Error{"the reply from fetchd is for another request: " + excerpt(reply_line)};
  return reply;
}

// What fetchd replied, checked, printed and turned into the exit status.
int answer(const std::string& reply_line, const Command& command, const Request& request,
           bool json) {
  const auto checked = protocol_reply(reply_line);
  if (!checked)
    return unreachable(checked.error().message, command, json);
  const nlohmann::json& reply = *checked;
  const auto ok = reply.find("ok");

  const auto result = reply.find("result");
  // `fetch --wait` answered with the fetch's outcome: scripts test it by the exit status.
  const bool fetch_failed = request.waits_for_fetch && *ok == true && result != reply.end() &&
                            result->is_object() && result->contains("result") &&
                            (*result)["result"].is_object() &&
                            !(*result)["result"].value("ok", true);
  const ExitCode success = fetch_failed ? kExitFetchFailed : kExitOk;
  if (json) {
    write(stdout, reply_line + "\n");
    return *ok == true ? success : kExitRefused;
  }
  if (*ok == false) {
    const auto error = reply.find("error");
    write(stderr, render_error(error == reply.end() ? nlohmann::json::object() : *error));
    return kExitRefused;
  }
  const RenderContext context{.now = std::chrono::system_clock::now(), .colour = colour_wanted()};
  try {
    write(stdout, command.render(result == reply.end() ? nlohmann::json::object() : *result,
                                 request, context));
  } catch (const nlohmann::json::exception& error) {
    // The renderers read every field defensively; this is a bug, reported rather than a crash.
    return unreachable(std::string("cannot print the reply from fetchd: ") + error.what(), command,
                       json);
  }
  return success;
}

// The reply of a watch, checked: null when it is a refusal (printed) or not a reply (reported),
// and `status` says how fetchctl ends.
std::optional<nlohmann::json> watch_reply(const std::string& reply_line, const Command& command,
                                          bool json, int& status) {
  const auto checked = protocol_reply(reply_line);
  if (!checked) {
    status = unreachable(checked.error().message, command, json);
    return std::nullopt;
  }
  const nlohmann::json& reply = *checked;
  if (reply["ok"] == false) {
    write(stderr, json ? reply_line + "\n" : render_error(reply.value("error", nlohmann::json())));
    status = kExitRefused;
    return std::nullopt;
  }
  return reply.value("result", nlohmann::json::object());
}

// watch and wait: the request, its reply, then one event per line until fetchctl is done.
int stream_events(const Invocation& invocation, const Command& command, const Request& request,
                  const std::string& line) {
  using Clock = Connection::Clock;
  const bool json = invocation.global.json;
  const auto timeout = invocation.global.timeout.value_or(kDefaultTimeout);
  auto connection = Connection::open(invocation.global.socket, timeout);
  if (!connection)
    return unreachable(connection.error().message, command, json);
  const auto sent = connection->send_line(line, Clock::now() + timeout);
  auto reply_line = connection->read_line(Clock::now() + timeout);
  if (!reply_line) {
    return unreachable(
        sent && *sent ? reply_line.error().message : std::string("fetchd did not take the request"),
        command, json);
  }
  int status = kExitOk;
  const auto result = watch_reply(*reply_line, command, json, status);
  if (!result)
    return status;

  const bool waiting = !request.awaited_state.empty();
  const std::string name = waiting ? request.args["targets"][0].get<std::string>() : "";
  if (waiting) {
    const auto states = result->value("states", nlohmann::json::object());
    const auto now = states.find(name);
    if (now == states.end() || !now->is_string()) {
      write(stderr, "fetchctl: no target named \"" + name + "\"\n");
      return kExitRefused;
    }
    if (*now == request.awaited_state)
      return kExitOk;
  }
  const auto until = waiting ? Clock::now() + request.wait_timeout : Clock::time_point::max();
  const RenderContext context{.now = std::chrono::system_clock::now(), .colour = colour_wanted()};
  for (;;) {
    auto event_line = connection->read_line(until);
    if (!event_line && event_line.error().end == ReadEnd::timeout) {
      write(stderr, "fetchctl: " + name + " did not become " + request.awaited_state + " within " +
                        config::format_duration(request.wait_timeout) + "\n");
      return kExitRefused;
    }
    if (!event_line) {
      return unreachable(event_line.error().end == ReadEnd::closed
                             ? std::string("fetchd closed the connection (is it stopping?)")
                             : event_line.error().message,
                         command, json);
    }
    const auto event = nlohmann::json::parse(*event_line, nullptr, /*allow_exceptions=*/false);
    if (!event.is_object())
      return unreachable("not an event from fetchd: " + excerpt(*event_line), command, json);
    const auto text = [&event](const char* key) {
      const auto found = event.find(key);
      return found != event.end() && found->is_string() ? found->get<std::string>() : "";
    };
    const std::string kind = text("event");
    if (!waiting || kind == "state")
      write(stdout, json ? *event_line + "\n" : render_event(event, context));
    std::fflush(stdout);
    if (waiting && kind == "state" && text("state") == request.awaited_state)
      return kExitOk;
  }
}

}  // namespace

int run(const std::vector<std::string>& args) {
  auto parsed = parse_invocation(args, std::getenv("FETCHD_SOCKET"));
  if (!parsed)
    return usage_error(parsed.error().message, nullptr);
  const Invocation& invocation = *parsed;
  if (invocation.command.empty()) {
    if (invocation.global.help) {
      write(stdout, usage_text());
      return kExitOk;
    }
    return usage_error("missing COMMAND", nullptr);
  }
  const Command* command = find_command(invocation.command);
  if (command == nullptr)
    return unknown_command(invocation.command);
  if (invocation.global.help || asks_for_help(invocation.args)) {
    write(stdout, command_help(*command));
    return kExitOk;
  }
  if (command->build == nullptr)
    return local_help(invocation.args);

  auto request = command->build(invocation.args);
  if (!request)
    return usage_error(request.error().message, command);
  std::string line;
  try {
    line = request_line(*request, kRequestId);
  } catch (const nlohmann::json::type_error&) {
    return usage_error("the arguments are not valid UTF-8", command);
  }
  if (line.size() + 1 > control::kMaxRequestLine) {
    return usage_error("the request is " + std::to_string(line.size() + 1) +
                           " bytes; fetchd accepts at most " +
                           std::to_string(control::kMaxRequestLine),
                       command);
  }

  if (request->streams)
    return stream_events(invocation, *command, *request, line);
  const auto timeout = invocation.global.timeout.value_or(
      request->waits_for_fetch ? kFetchWaitTimeout : kDefaultTimeout);
  auto reply_line = exchange(invocation.global.socket, line, timeout);
  const bool json = invocation.global.json;
  if (!reply_line)
    return unreachable(reply_line.error().message, *command, json);

  return answer(*reply_line, *command, *request, json);
}

}  // namespace fetchd::ctl
