#pragma once

// The one table of fetchctl's commands: name, usage, summary, option help, the function that turns
// the command's arguments into a protocol request, and the function that prints the reply for
// people. `fetchctl help`, `fetchctl COMMAND --help` and usage errors are all generated from it, so
// they cannot drift from what the commands accept.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"
#include "ctl/render.h"
#include "ctl/requests.h"

namespace fetchd::ctl {

using Builder = Expected<Request> (*)(const std::vector<std::string>& args);
using Renderer = std::string (*)(const nlohmann::json& result, const Request& request,
                                 const RenderContext& context);

struct Command {
  std::string_view name{};
  std::string_view usage{};    // after "fetchctl": "show NAME [--recent K]"
  std::string_view summary{};  // one line
  std::string_view details{};  // the options, one per line, for `fetchctl COMMAND --help`
  Builder build = nullptr;     // nullptr: answered locally (help)
  Renderer render = nullptr;   // nullptr for the streams (watch, wait): each event is rendered
};

std::span<const Command> commands();
// Exact match only, never a prefix.
const Command* find_command(std::string_view name);

// The whole usage: global options, every command with its summary, exit codes.
std::string usage_text();
// One command's usage, summary and options.
std::string command_help(const Command& command);
// "usage: fetchctl [OPTIONS] add NAME URL [OPTIONS]" and a line for each further form.
std::string usage_lines(const Command& command);

// The request line, without the newline. Throws nlohmann::json::type_error when an argument is not
// valid UTF-8.
std::string request_line(const Request& request, int id);

}  // namespace fetchd::ctl
