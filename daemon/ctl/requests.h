#pragma once

// One function per command: its arguments (after the command name) to a control request, or a
// usage error saying what is wrong. Pure; no IO.

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/expected.h"

namespace fetchd::ctl {

// A control request: {"id": ..., "cmd": cmd, "args": args} (args left out when null).
struct Request {
  std::string cmd{};
  nlohmann::json args = nullptr;
  // `fetch --wait`: the reply comes when the fetch is over, so the default deadline covers the
  // longest a target's fetch may take.
  bool waits_for_fetch = false;
  // watch and wait: after the reply the connection carries events, until fetchctl ends it.
  bool streams = false;
  // wait: the state awaited, and for how long at most.
  std::string awaited_state{};
  std::chrono::milliseconds wait_timeout{30'000};
};

using Args = std::vector<std::string>;

Expected<Request> build_version(const Args& args);   // {"cmd": "version"}
Expected<Request> build_commands(const Args& args);  // {"cmd": "help"}: the daemon's commands
Expected<Request> build_status(const Args& args);
Expected<Request> build_reload(const Args& args);
// [--state up|down|unknown] [--label KEY=VALUE]...
Expected<Request> build_list(const Args& args);
// NAME [--recent K]
Expected<Request> build_show(const Args& args);
// NAME
Expected<Request> build_remove(const Args& args);
// NAME [--wait]
Expected<Request> build_fetch(const Args& args);
// NAME URL [--interval DUR] [--timeout DUR] [--method GET|HEAD] [--label KEY=VALUE]...
//   [--header 'NAME: VALUE']... [--insecure] [--expect-status LIST], or --json TARGET: the
//   target as a configuration `targets` entry, sent as {"target": ...}.
Expected<Request> build_add(const Args& args);
// [NAME...] [--label KEY=VALUE]... [--events KIND,...]
Expected<Request> build_watch(const Args& args);
// NAME [--state up|down|unknown] [--timeout DUR]: a watch of NAME's state changes.
Expected<Request> build_wait(const Args& args);
// [NAME] [--label KEY=VALUE]... --for DUR [--comment TEXT]: a NAME, labels or both.
Expected<Request> build_silence(const Args& args);
Expected<Request> build_silences(const Args& args);
// ID
Expected<Request> build_unsilence(const Args& args);

}  // namespace fetchd::ctl
