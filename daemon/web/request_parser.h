#pragma once

// Strict HTTP/1.1 request-head parser (RFC 9112, RFC 9110) for the metrics listener. Bytes in, one
// result out; it knows nothing of sockets and keeps no state between calls: the caller passes
// everything received so far and gets "need more", a complete head, or an error.
//
// Decisions (each one a test in tests/web/request_parser_test.cpp):
// - Line ends: CRLF, or a lone LF (RFC 9112 2.2 allows a recipient to accept one), in the request
//   line, the field lines and the empty line that ends the head. A CR not followed by LF is
//   malformed wherever it is.
// - Up to 4 empty lines before the request line are skipped (2.2: at least one SHOULD be); a
//   fifth is malformed. They count towards head_bytes and the head limit.
// - Request line: method a token (case kept), one SP, a target of visible ASCII (0x21-0x7e), one
//   SP, exactly "HTTP/" DIGIT "." DIGIT. A major version other than 1 is version_not_supported as
//   soon as its digit is seen; HTTP/1.0 is version_minor 0, any other HTTP/1.x is treated as 1.1.
//   No version at all ("GET /", HTTP/0.9) is malformed.
// - Targets: origin-form ("/path?query"), absolute-form with scheme http or https (any case), a
//   non-empty authority and no userinfo (RFC 9110 4.2.4), and asterisk-form ("*") with OPTIONS
//   only (RFC 9112 3.2.4; its path is "*"). Authority-form (CONNECT) and anything else are
//   malformed. The path is kept as sent (no percent-decoding); the query is cut at the first '?'.
// - Fields: name a token directly followed by ':' (whitespace before it is malformed, 5.1), value
//   of VCHAR, obs-text, SP and HTAB, OWS trimmed; a line starting with SP or HTAB (obs-fold, or
//   whitespace before the first field) is malformed (5.2). At most 100 field lines: the first byte
//   of a 101st is head_too_large.
// - Host: more than one is malformed in any version, none is malformed in HTTP/1.1 (3.2); its
//   value must be empty or uri-host [":" port].
// - Content-Length: a comma list of decimal numbers, in one or several fields, all equal; an empty
//   element, a non-digit, differing values or a value beyond 64 bits is malformed.
// - Transfer-Encoding of any value (even with Content-Length) is body_not_supported: we accept no
//   request body with transfer codings (6.1), and without reading it the connection cannot go on.
// - Errors are reported in the order of the bytes: the first fault in the input decides, as soon
//   as the bytes that prove it have arrived (a field's value checks when its line ends, the Host
//   rule when the head ends). So a result never changes as more bytes arrive, except from need
//   more to a head or an error; and the detail names only bytes up to the fault.
// - The head (leading empty lines through the final empty line) may be max_head_bytes long; only
//   that many bytes are ever looked at, so each call is O(min(input size, max_head_bytes)).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace fetchd::web {

struct Request {
  std::string method;     // as sent, case-sensitive ("GET")
  std::string target;     // request-target as sent: origin-, absolute- or asterisk-form
  std::string path;       // target's path without query; absolute-form: its path, "/" if empty
  int version_minor = 1;  // HTTP/1.0 -> 0, HTTP/1.1 (and any other 1.x) -> 1
  // Names lowercased, values with OWS trimmed, in the order received, duplicates kept.
  std::vector<std::pair<std::string, std::string>> fields;
  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive" (and no
  // "close"). Options are tokens of comma lists, compared case-insensitively.
  bool keep_alive = true;
  std::size_t content_length = 0;  // body bytes that follow the head (the caller skips them)

  // First value of a field by lowercased name, or nullopt.
  std::optional<std::string_view> field(std::string_view lowercase_name) const;

  bool operator==(const Request&) const = default;
};

enum class RequestError {
  malformed,              // -> 400
  head_too_large,         // -> 431: head longer than the limit, or more than 100 field lines
  body_not_supported,     // -> 501: Transfer-Encoding present (RFC 9112 6.1)
  version_not_supported,  // -> 505: HTTP/2.0, HTTP/3, HTTP/0.9 ...; no version at all is malformed
};

struct RequestParseError {
  RequestError error;
  // For the log, printable ASCII: e.g. "field name with whitespace before colon: \"Host\"".
  std::string detail;
  bool operator==(const RequestParseError&) const = default;
};

int status_of(RequestError error);  // 400, 431, 501, 505
// Reason phrase for the statuses the web server sends (200, 400, 401, 404, 405, 408, 413, 431, 501,
// 503, 505); empty for any other (a status line may have an empty reason).
std::string_view reason_of(int status);

struct ParsedHead {
  Request request;
  std::size_t head_bytes;  // bytes of input consumed by the head (through the final CRLF CRLF)
  bool operator==(const ParsedHead&) const = default;
};

// Parses one request head from the front of `input`. Returns:
//  - ParsedHead when a complete head is at the front (bytes after it are not looked at);
//  - std::monostate when more bytes are needed: nothing so far is invalid and the input is still
//    shorter than max_head_bytes;
//  - RequestParseError otherwise, as soon as the bytes seen prove it; input of max_head_bytes or
//    more without the end of the head is head_too_large.
using ParseOutcome = std::variant<std::monostate /*need more*/, ParsedHead, RequestParseError>;
ParseOutcome parse_request_head(std::string_view input, std::size_t max_head_bytes = 8192);

}  // namespace fetchd::web
