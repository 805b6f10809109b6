#pragma once

// The control protocol's codec (docs/control-protocol.md): one request per line in, one reply line
// out. Bytes in, values out: no sockets, no service, never throws for hostile input.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/protocol_limits.h"

namespace fetchd::control {

inline constexpr int kProtocolVersion = 1;
// Nesting of arrays and objects in a request; deeper is bad_request (replies echo `id`, and
// printing a deeply nested value recurses).
inline constexpr std::size_t kMaxRequestDepth = 32;

// The stable error codes.
namespace code {
inline constexpr std::string_view bad_request = "bad_request";
inline constexpr std::string_view unknown_command = "unknown_command";
inline constexpr std::string_view not_found = "not_found";
inline constexpr std::string_view invalid_target = "invalid_target";
inline constexpr std::string_view conflict = "conflict";
inline constexpr std::string_view other_shard = "other_shard";
inline constexpr std::string_view config_target = "config_target";
inline constexpr std::string_view permission_denied = "permission_denied";
inline constexpr std::string_view request_too_large = "request_too_large";
inline constexpr std::string_view busy = "busy";
inline constexpr std::string_view disabled = "disabled";
inline constexpr std::string_view cancelled = "cancelled";
inline constexpr std::string_view config_invalid = "config_invalid";
inline constexpr std::string_view io_error = "io_error";
inline constexpr std::string_view limit_exceeded = "limit_exceeded";
}  // namespace code

// An error reply's body.
struct Failure {
  std::string code{};
  std::string message{};
  std::vector<std::string> details{};
};

struct Request {
  nlohmann::json id = nullptr;  // echoed; null when absent
  std::string cmd{};
  nlohmann::json args = nlohmann::json::object();
};

// A request line (without its newline; a trailing '\r' is ignored). The id is kept even when the
// rest is wrong, so that the error reply can carry it.
struct Parsed {
  Request request{};
  std::optional<Failure> error{};  // bad_request
};
Parsed parse_request(std::string_view line);

// Reply lines, each ending in '\n'. Strings that are not valid UTF-8 (header values of a hostile
// server, say) are printed with U+FFFD in place of the bad bytes, so formatting never fails.
std::string format_result(const nlohmann::json& id, const nlohmann::json& result);
std::string format_failure(const nlohmann::json& id, const Failure& failure);

// JSON text of `value` as replies print it (one line, invalid UTF-8 replaced).
std::string dump(const nlohmann::json& value);

// The offset of the first byte that is not part of valid UTF-8 (overlong forms, surrogates and
// code points over U+10FFFF are invalid), or nullopt.
std::optional<std::size_t> invalid_utf8_at(std::string_view text);

}  // namespace fetchd::control
