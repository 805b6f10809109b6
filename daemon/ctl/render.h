#pragma once

// Human output of each command: a reply's `result` as lines and tables for people. Pure functions
// of the reply and a RenderContext (the current time, colour on or off); nothing here reads the
// clock, the terminal or the environment. A field missing or of an unexpected type prints as "-"
// instead of failing, so that a newer daemon's reply still renders; control characters from the
// daemon (a server's header values) print as "?" so that they cannot drive the terminal.

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "ctl/requests.h"

namespace fetchd::ctl {

struct RenderContext {
  std::chrono::system_clock::time_point now{};
  bool colour = false;  // colour STATE (stdout is a terminal and NO_COLOR is not set)
};

std::string render_version(const nlohmann::json& result, const Request& request,
                           const RenderContext& context);
// The daemon's `help`: USAGE, ACCESS, SUMMARY.
std::string render_commands(const nlohmann::json& result, const Request& request,
                            const RenderContext& context);
std::string render_status(const nlohmann::json& result, const Request& request,
                          const RenderContext& context);
// NAME STATE CODE LATENCY CHECKED FAILS, sorted by name; CODE is the HTTP status, or the failure's
// class when there is none ("dns").
std::string render_list(const nlohmann::json& result, const Request& request,
                        const RenderContext& context);
// The target, its latest result in full (`fetchd once`'s header lines, timings, TLS, error,
// expectation), its summary and recent results.
std::string render_show(const nlohmann::json& result, const Request& request,
                        const RenderContext& context);
std::string render_add(const nlohmann::json& result, const Request& request,
                       const RenderContext& context);
std::string render_remove(const nlohmann::json& result, const Request& request,
                          const RenderContext& context);
// Without --wait "fetch of NAME started"; with it, the result as show prints the latest.
std::string render_fetch(const nlohmann::json& result, const Request& request,
                         const RenderContext& context);
std::string render_reload(const nlohmann::json& result, const Request& request,
                          const RenderContext& context);

// "silence 3: web until 2026-12-07T12:00:00.000Z (in 2h)", and for labels how many targets
// it covers now.
std::string render_silence(const nlohmann::json& result, const Request& request,
                           const RenderContext& context);
// ID COVERS UNTIL LEFT COMMENT, by id; "no silences" when there are none.
std::string render_silences(const nlohmann::json& result, const Request& request,
                            const RenderContext& context);
std::string render_unsilence(const nlohmann::json& result, const Request& request,
                             const RenderContext& context);

// One event of watch for people: "12:00:01.204 web UP 200 0.4ms (was DOWN 3m12s: connect to
// 10.0.0.1:80: Connection refused)" (the time of day in UTC, as the daemon's times).
std::string render_event(const nlohmann::json& event, const RenderContext& context);

// A refusal for stderr: "fetchctl: not_found: no target named "x"" and one indented line per
// detail.
std::string render_error(const nlohmann::json& error);

}  // namespace fetchd::ctl
