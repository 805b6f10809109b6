// The request-head parser on any bytes: never a crash, and a result that does not depend on how
// much of the input has arrived. A prefix needs more bytes or gives the outcome of the whole input;
// once the head is complete (head_bytes, within the input and the limit), every longer input gives
// the same head, and what is accepted is clean.
//
// A parsed head's Authorization field goes to the listener's credential check too (web/auth.h):
// never a crash, and only the one Basic and the one Bearer credential configured are accepted.
//
// Input: one byte of options (bit 7: a small head limit, 16 + 4 * bits 0-6; all of it seeds the
// choice of prefixes), then the request bytes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "common/http_text.h"
#include "common/sha256.h"
#include "web/auth.h"
#include "web/request_parser.h"

namespace {

using fetchd::web::ParsedHead;
using fetchd::web::ParseOutcome;
using fetchd::web::RequestParseError;

bool is_tchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

// What a parsed head may hold: the bytes the rules let through, no more.
void check_head(const ParsedHead& parsed, std::size_t input_size, std::size_t limit) {
  const auto& r = parsed.request;
  if (parsed.head_bytes == 0 || parsed.head_bytes > input_size || parsed.head_bytes > limit)
    __builtin_trap();
  if (r.method.empty() || r.target.empty() || r.path.empty() || r.fields.size() > 100)
    __builtin_trap();
  for (const char c : r.method) {
    if (!is_tchar(c))
      __builtin_trap();
  }
  for (const char c : r.target) {
    if (c == ' ' || is_control(c) || static_cast<unsigned char>(c) >= 0x80)
      __builtin_trap();
  }
  if (r.version_minor != 0 && r.version_minor != 1)
    __builtin_trap();
  int hosts = 0;
  for (const auto& [name, value] : r.fields) {
    if (name.empty())
      __builtin_trap();
    for (const char c : name) {
      if (!is_tchar(c) || (c >= 'A' && c <= 'Z'))
        __builtin_trap();
    }
    for (const char c : value) {
      if (c != '\t' && is_control(c))
        __builtin_trap();
    }
    if (!value.empty() && (value.front() == ' ' || value.front() == '\t' || value.back() == ' ' ||
                           value.back() == '\t'))
      __builtin_trap();
    if (name == "transfer-encoding")
      __builtin_trap();  // always refused
    hosts += name == "host" ? 1 : 0;
  }
  if (hosts > 1 || (r.version_minor == 1 && hosts == 0))
    __builtin_trap();
  if (!r.field("host") != (hosts == 0))
    __builtin_trap();
}

// base64("user:pass") and a token: what the dictionary offers the fuzzer to find.
void check_authorization(const fetchd::web::Request& request) {
  static const fetchd::config::WebAuth auth = [] {
    fetchd::config::WebAuth credentials;
    credentials.basic.push_back(fetchd::sha256("user:pass"));
    credentials.bearer.push_back(fetchd::sha256("t0ken"));
    return credentials;
  }();
  const auto field = request.field("authorization");
  if (!fetchd::web::authorized(auth, field))
    return;
  const std::string_view value = *field;
  const auto space = value.find(' ');
  std::string scheme(value.substr(0, space));
  for (auto& c : scheme)
    c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  const auto credentials = fetchd::trim_ows(value.substr(space + 1));
  if (!(scheme == "basic" && credentials == "dXNlcjpwYXNz") &&
      !(scheme == "bearer" && credentials == "t0ken"))
    __builtin_trap();
}

void check_error(const RequestParseError& error) {
  if (error.detail.empty())
    __builtin_trap();
  for (const char c : error.detail) {
    if (is_control(c) || static_cast<unsigned char>(c) >= 0x80)
      __builtin_trap();  // the detail goes to the log as it is: printable ASCII only
  }
}

// The outcome of a prefix of `size` bytes, given the outcome of the whole input.
void check_prefix(std::string_view input, std::size_t size, std::size_t limit,
                  const ParseOutcome& whole) {
  const auto outcome = fetchd::web::parse_request_head(input.substr(0, size), limit);
  const auto* head = std::get_if<ParsedHead>(&whole);
  if (head && size >= head->head_bytes) {
    if (outcome != whole)
      __builtin_trap();
    return;
  }
  if (std::holds_alternative<std::monostate>(outcome)) {
    if (size >= limit)
      __builtin_trap();  // never waits for more than the limit
    return;
  }
  if (outcome != whole)
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  const std::uint8_t options = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t limit = (options & 0x80) != 0 ? 16 + std::size_t{options & 0x7fU} * 4 : 8192;

  const auto whole = fetchd::web::parse_request_head(input, limit);
  if (const auto* head = std::get_if<ParsedHead>(&whole)) {
    check_head(*head, input.size(), limit);
    check_authorization(head->request);
    // The head alone is the same head; one byte less needs more.
    check_prefix(input, head->head_bytes, limit, whole);
    if (!std::holds_alternative<std::monostate>(
            fetchd::web::parse_request_head(input.substr(0, head->head_bytes - 1), limit)))
      __builtin_trap();
  } else if (const auto* error = std::get_if<RequestParseError>(&whole)) {
    check_error(*error);
    // Whatever follows a fault, it is the same fault.
    const std::string longer = std::string(input) + "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    if (fetchd::web::parse_request_head(longer, limit) != whole)
      __builtin_trap();
  } else if (input.size() >= limit) {
    __builtin_trap();
  }

  // Prefixes: every one of a short input, a few chosen by the options byte of a longer one.
  if (input.size() <= 128) {
    for (std::size_t prefix = 0; prefix < input.size(); ++prefix)
      check_prefix(input, prefix, limit, whole);
    return 0;
  }
  unsigned state = options;
  for (int i = 0; i < 4; ++i) {
    state = state * 1103515245U + 12345U;
    check_prefix(input, (state >> 8) % (input.size() + 1), limit, whole);
  }
  return 0;
}
