#pragma once

// The control commands: ONE declarative table (name, usage, summary, access, argument keys,
// handler). `help` is generated from it, lookup is by exact name, and dispatch() checks access and
// argument keys before a handler runs, so handlers only read their arguments and the backend.

#include <functional>
#include <span>
#include <string_view>

#include <nlohmann/json.hpp>

#include "control/backend.h"
#include "control/protocol.h"
#include "control/watch.h"

namespace fetchd::control {

enum class Access { read, admin };
std::string_view to_string(Access access);

// What a handler answers: a result object, or a failure.
struct Outcome {
  nlohmann::json result = nullptr;
  std::optional<Failure> failure{};

  static Outcome ok(nlohmann::json result) { return Outcome{std::move(result), std::nullopt}; }
  static Outcome fail(std::string_view code, std::string message,
                      std::vector<std::string> details = {}) {
    return Outcome{nullptr, Failure{std::string(code), std::move(message), std::move(details)}};
  }
};

// Called exactly once per request: at once by most handlers, later (on the loop) by `fetch` with
// wait and by `reload`. The session keeps replies in request order whichever comes first.
using Respond = std::function<void(Outcome)>;

struct Context {
  Backend& backend;
  bool admin = false;  // the peer may run admin commands (decided once per connection)
  // `watch`: turns the connection into the stream of events `filter` wants and returns the
  // request's result. Empty where there is no connection to turn (then watch is refused).
  std::function<nlohmann::json(WatchFilter filter)> watch{};
};

using Handler = void (*)(const nlohmann::json& args, Context& context, const Respond& respond);

struct Command {
  std::string_view name;
  std::string_view usage;    // as fetchctl writes it: "show NAME [recent K]"
  std::string_view summary;  // one line
  Access access;
  std::span<const std::string_view> keys;  // the args keys it accepts; any other is bad_request
  Handler handler;
};

// Every command, in the order `help` lists them.
std::span<const Command> commands();
// Exact match; nullptr when there is none.
const Command* find_command(std::string_view name);

// Runs a parsed request: unknown_command, permission_denied (an admin command from a peer that is
// not), bad_request (an unknown args key), else the handler.
void dispatch(const Request& request, Context& context, const Respond& respond);

}  // namespace fetchd::control
