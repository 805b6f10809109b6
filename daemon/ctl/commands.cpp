#include "ctl/commands.h"

#include <array>

#include "ctl/options.h"

namespace fetchd::ctl {

namespace {

constexpr std::array kCommands = {
    Command{
        .name = "status",
        .usage = "status",
        .summary = "a short summary: uptime, targets by state, fetch rate, last reload",
        .build = build_status,
        .render = render_status,
    },
    Command{
        .name = "list",
        .usage = "list [--state STATE] [--label KEY=VALUE]...",
        .summary = "every target with its state, status code, latency and failures",
        .details = "  --state STATE      only targets in this state: up, down or unknown\n"
                   "  --label KEY=VALUE  only targets with this label (repeat: all must match)\n",
        .build = build_list,
        .render = render_list,
    },
    Command{
        .name = "show",
        .usage = "show NAME [--recent K]",
        .summary = "a target's latest result in full, its summary and recent results",
        .details = "  --recent K  how many recent results to list (the daemon's default: 10)\n",
        .build = build_show,
        .render = render_show,
    },
    Command{
        .name = "fetch",
        .usage = "fetch NAME [--wait]",
        .summary = "fetch a target now, outside its schedule",
        .details = "  --wait  wait for the result and print it as `show` does (the default\n"
                   "          --timeout becomes 10m10s, the longest a target's fetch may take);\n"
                   "          exit status 4 if the fetch failed or missed its expectations\n",
        .build = build_fetch,
        .render = render_fetch,
    },
    Command{
        .name = "add",
        .usage = "add NAME URL [OPTIONS]\nadd --json TARGET",
        .summary = "add a target at runtime (kept across restarts)",
        .details =
            "  --interval DUR          how often to fetch it (\"30s\")\n"
            "  --timeout DUR           the whole fetch's timeout (\"10s\"); fetchctl's own\n"
            "                          --timeout goes before the command\n"
            "  --method GET|HEAD       the request method\n"
            "  --label KEY=VALUE       a label (repeatable)\n"
            "  --header 'NAME: VALUE'  an extra request header (repeatable)\n"
            "  --insecure              do not verify the TLS certificate\n"
            "  --expect-status LIST    the status codes that count as up: 200, 200-299, 2xx, or\n"
            "                          a comma-separated list of them\n"
            "  --json TARGET           the target as a configuration `targets` entry: an object\n"
            "                          ('{\"name\": \"api\", \"url\": \"https://api.example/\"}') "
            "or a\n"
            "                          URL string; settings not given come from the `defaults`\n",
        .build = build_add,
        .render = render_add,
    },
    Command{
        .name = "remove",
        .usage = "remove NAME",
        .summary = "remove a target added at runtime",
        .build = build_remove,
        .render = render_remove,
    },
    Command{
        .name = "reload",
        .usage = "reload",
        .summary = "re-read the configuration (as SIGHUP) and print what changed",
        .build = build_reload,
        .render = render_reload,
    },
    Command{
        .name = "watch",
        .usage = "watch [NAME...] [--label KEY=VALUE]... [--events KIND,...]",
        .summary = "follow results, state changes, targets added and removed, reloads as they "
                   "happen",
        .details =
            "  NAME               only these targets (default: every target)\n"
            "  --label KEY=VALUE  only targets with this label (repeat: all must match)\n"
            "  --events KINDS     only these kinds, comma-separated: result (every attempt),\n"
            "                     state (attempts that changed the state), added, removed,\n"
            "                     reload\n"
            "  With --json, one event object per line (NDJSON). Runs until interrupted or\n"
            "  fetchd stops (exit status 3).\n",
        .build = build_watch,
    },
    Command{
        .name = "wait",
        .usage = "wait NAME [--state STATE] [--timeout DUR]",
        .summary = "wait until a target reaches a state (for deployment scripts)",
        .details = "  --state STATE  up (default), down or unknown\n"
                   "  --timeout DUR  how long to wait at most (default 30s)\n"
                   "  Exit status 0 once the target is in the state (at once if it is already),\n"
                   "  1 on the timeout, or if there is no such target when it starts. A target\n"
                   "  changed by a reload starts over as unknown, and is waited for again.\n",
        .build = build_wait,
    },
    Command{
        .name = "silence",
        .usage = "silence NAME --for DUR [--comment TEXT]\n"
                 "silence --label KEY=VALUE... --for DUR [--comment TEXT]",
        .summary = "suppress a target's notifications for a while (fetching goes on)",
        .details =
            "  NAME               the target to silence (it must exist)\n"
            "  --label KEY=VALUE  silence every target with this label, now or added later\n"
            "                     (repeat: all must match; with NAME, that target if it has them)\n"
            "  --for DUR          how long, from 1m to 8760h (a year): \"2h\", \"1h30m\"\n"
            "  --comment TEXT     why, for whoever reads `fetchctl silences` (at most 1000 bytes)\n"
            "  Kept across restarts; ends by itself, or with `fetchctl unsilence ID`.\n",
        .build = build_silence,
        .render = render_silence,
    },
    Command{
        .name = "silences",
        .usage = "silences",
        .summary = "the silences in effect: id, what they cover, until when, comment",
        .build = build_silences,
        .render = render_silences,
    },
    Command{
        .name = "unsilence",
        .usage = "unsilence ID",
        .summary = "lift a silence now (its ID as `fetchctl silences` gives it)",
        .build = build_unsilence,
        .render = render_unsilence,
    },
    Command{
        .name = "version",
        .usage = "version",
        .summary = "fetchctl's and fetchd's versions",
        .build = build_version,
        .render = render_version,
    },
    Command{
        .name = "commands",
        .usage = "commands",
        .summary = "the daemon's list of control commands (its `help`)",
        .build = build_commands,
        .render = render_commands,
    },
    Command{
        .name = "help",
        .usage = "help [COMMAND]",
        .summary = "this help, or one command's",
    },
};

}  // namespace

std::span<const Command> commands() {
  return kCommands;
}

const Command* find_command(std::string_view name) {
  for (const auto& command : kCommands) {
    if (command.name == name)
      return &command;
  }
  return nullptr;
}

std::string usage_text() {
  std::string out =
      "usage: fetchctl [--socket PATH] [--json] [--timeout DUR] COMMAND [ARGS]\n"
      "\n"
      "Queries and changes a running fetchd through its control socket.\n"
      "\n"
      "Commands:\n";
  constexpr std::size_t kWidth = 28;
  for (const auto& command : kCommands) {
    std::string_view usage = command.usage;
    usage = usage.substr(0, usage.find('\n'));
    std::string line = "  " + std::string(usage);
    if (line.size() + 2 > kWidth) {
      line += "\n" + std::string(kWidth, ' ');
    } else {
      line.resize(kWidth, ' ');
    }
    out += line + std::string(command.summary) + "\n";
  }
  out +=
      "\n"
      "Options (before the command):\n"
      "  --socket PATH  the control socket (default: $FETCHD_SOCKET, else " +
      std::string(control::kDefaultSocketPath) +
      ")\n"
      "  --json         print the daemon's reply line as-is, for scripts\n"
      "  --timeout DUR  how long to wait for the daemon (default 10s)\n"
      "  -h, --help     this help; `fetchctl COMMAND --help` describes one command\n"
      "\n"
      "Exit status: 0 ok, 1 fetchd refused the request (`wait`: also the timeout), 2 usage\n"
      "error, 3 cannot reach fetchd, 4 the fetch of `fetch --wait` failed.\n";
  return out;
}

std::string usage_lines(const Command& command) {
  std::string out;
  std::string_view usage = command.usage;
  std::string_view prefix = "usage: ";
  while (!usage.empty()) {
    const auto newline = usage.find('\n');
    out.append(prefix).append("fetchctl [OPTIONS] ").append(usage.substr(0, newline)).append("\n");
    if (newline == std::string_view::npos)
      break;
    usage.remove_prefix(newline + 1);
    prefix = "       ";
  }
  return out;
}

std::string command_help(const Command& command) {
  std::string out = usage_lines(command);
  out += "\n" + std::string(command.summary) + "\n";
  if (!command.details.empty())
    out += "\nOptions:\n" + std::string(command.details);
  out += "\n`fetchctl --help` lists the global OPTIONS and the exit status.\n";
  return out;
}

std::string request_line(const Request& request, int id) {
  // Written in the protocol's order (id, cmd, args) for people reading a trace.
  std::string line =
      "{\"id\":" + std::to_string(id) + ",\"cmd\":" + nlohmann::json(request.cmd).dump();
  if (!request.args.is_null())
    line += ",\"args\":" + request.args.dump();
  return line + "}";
}

}  // namespace fetchd::ctl
