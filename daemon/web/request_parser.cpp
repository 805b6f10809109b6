#include "web/request_parser.h"

#include <algorithm>
#include <array>
#include <limits>
#include <string>

#include "common/http_text.h"
#include "common/quote.h"

namespace fetchd::web {

namespace {

constexpr std::size_t kMaxLeadingEmptyLines = 4;
constexpr std::size_t kMaxFields = 100;

// Character classes, one table lookup per byte: tchar (RFC 9110 5.6.2); field-vchar, SP and HTAB
// (5.5); what a request-target may hold here (visible ASCII); unreserved and sub-delims of RFC 3986
// (a reg-name without its pct-encoding, and most of an IP-literal).
enum : unsigned char { kToken = 1, kFieldText = 2, kTargetChar = 4, kHostChar = 8 };

constexpr std::array<unsigned char, 256> kCharClass = [] {
  std::array<unsigned char, 256> table{};
  for (int c = 0x21; c < 0x7f; ++c)
    table[c] |= kFieldText | kTargetChar;
  for (int c = 0x80; c < 0x100; ++c)
    table[c] |= kFieldText;
  table[' '] |= kFieldText;
  table['\t'] |= kFieldText;
  for (int c = '0'; c <= '9'; ++c)
    table[c] |= kToken | kHostChar;
  for (int c = 'a'; c <= 'z'; ++c)
    table[c] |= kToken | kHostChar;
  for (int c = 'A'; c <= 'Z'; ++c)
    table[c] |= kToken | kHostChar;
  for (const unsigned char c : std::string_view("!#$%&'*+-.^_`|~"))
    table[c] |= kToken;
  for (const unsigned char c : std::string_view("-._~!$&'()*+,;="))
    table[c] |= kHostChar;
  return table;
}();

bool is(char c, unsigned char cls) {
  return (kCharClass[static_cast<unsigned char>(c)] & cls) != 0;
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
char to_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i]))
      return false;
  }
  return true;
}

constexpr std::string_view kHex = "0123456789abcdef";

// A peer's bytes for a detail: quoted, cut short, and every byte but printable ASCII escaped (DEL
// and obs-text too), so that a detail is always one printable line.

std::string byte_name(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte > 0x20 && byte < 0x7f)
    return std::string{'\'', c, '\''};
  if (c == ' ')
    return "SP";
  if (c == '\t')
    return "HTAB";
  return std::string("0x") + kHex[byte >> 4] + kHex[byte & 0xf];
}

RequestParseError malformed(std::string detail) {
  return {RequestError::malformed, std::move(detail)};
}

// A byte that does not belong where it is. A CR there is one that no LF follows: a line's own CR
// terminator never reaches the checks (see line_at).
RequestParseError bad_byte(char c, std::string_view where) {
  if (c == '\r')
    return malformed("CR not followed by LF in " + std::string(where));
  return malformed("invalid character " + byte_name(c) + " in " + std::string(where));
}

// reg-name = *( unreserved / pct-encoded / sub-delims ) (RFC 3986 3.2.2), here non-empty.
bool valid_reg_name(std::string_view name) {
  if (name.empty())
    return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%') {
      if (i + 2 >= name.size() || !is_hex(name[i + 1]) || !is_hex(name[i + 2]))
        return false;
      i += 2;
    } else if (!is(name[i], kHostChar)) {
      return false;
    }
  }
  return true;
}

// uri-host [ ":" port ] (RFC 9110 7.2), the host a reg-name (IPv4 addresses included) or an
// IP-literal in brackets, the port *DIGIT.
bool valid_host(std::string_view value) {
  std::string_view port;
  if (!value.empty() && value.front() == '[') {
    const auto close = value.find(']');
    if (close == std::string_view::npos || close == 1)
      return false;
    for (const char c : value.substr(1, close - 1)) {
      if (!is(c, kHostChar) && c != ':' && c != '%')
        return false;
    }
    const auto rest = value.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return false;
      port = rest.substr(1);
    }
  } else {
    const auto colon = value.find(':');
    if (!valid_reg_name(value.substr(0, colon)))
      return false;
    if (colon != std::string_view::npos)
      port = value.substr(colon + 1);
  }
  return std::all_of(port.begin(), port.end(), is_digit);
}

// One line of the head in the bytes looked at: its text without the terminator, whether the LF has
// arrived, and where the next line starts. A CR just before the LF is the terminator; one at the
// very end of the bytes is left out too, since its LF may be next (if another byte comes instead,
// the CR is inside the text and the checks reject it).
struct Line {
  std::string_view text;
  bool complete = false;
  std::size_t next = 0;
};

Line line_at(std::string_view bytes, std::size_t pos) {
  const auto lf = bytes.find('\n', pos);
  Line line;
  line.complete = lf != std::string_view::npos;
  line.next = line.complete ? lf + 1 : bytes.size();
  line.text = bytes.substr(pos, (line.complete ? lf : bytes.size()) - pos);
  if (!line.text.empty() && line.text.back() == '\r')
    line.text.remove_suffix(1);
  return line;
}

// One call's parse: the checks run left to right over the bytes, so the first fault in the input
// is the one reported, whatever follows it. A line still arriving is checked as far as it goes;
// what needs the whole line (its end, a field's meaning) waits for its LF.
class HeadParser {
 public:
  HeadParser(std::string_view input, std::size_t max_head_bytes)
      : bytes_(input.substr(0, max_head_bytes)),
        window_full_(input.size() >= max_head_bytes),
        max_head_bytes_(max_head_bytes) {}

  ParseOutcome run();

 private:
  using Check = std::optional<RequestParseError>;

  ParseOutcome need_more() const;
  Check request_line(std::string_view line, bool complete);
  Check target_form(std::string_view method, std::string_view target);
  Check field_line(std::string_view line, bool complete);
  Check on_field(const std::string& name, std::string_view value);
  Check content_length(std::string_view value);
  Check end_of_head();

  std::string_view bytes_;  // at most max_head_bytes of the input: all that is looked at
  bool window_full_;
  std::size_t max_head_bytes_;
  Request request_;
  std::size_t host_fields_ = 0;
  bool has_content_length_ = false;
};

ParseOutcome HeadParser::run() {
  std::size_t pos = 0;
  for (std::size_t empty_lines = 0;; ++empty_lines) {
    if (pos == bytes_.size())
      return need_more();
    const char c = bytes_[pos];
    if (c != '\r' && c != '\n')
      break;
    if (empty_lines == kMaxLeadingEmptyLines) {
      return malformed("more than " + std::to_string(kMaxLeadingEmptyLines) +
                       " empty lines before the request line");
    }
    if (c == '\r') {
      if (pos + 1 == bytes_.size())
        return need_more();
      if (bytes_[pos + 1] != '\n')
        return bad_byte('\r', "an empty line before the request line");
      ++pos;
    }
    ++pos;
  }

  Line line = line_at(bytes_, pos);
  if (auto error = request_line(line.text, line.complete))
    return std::move(*error);
  if (!line.complete)
    return need_more();

  while (true) {
    line = line_at(bytes_, line.next);
    if (line.text.empty()) {
      if (!line.complete)
        return need_more();
      if (auto error = end_of_head())
        return std::move(*error);
      return ParsedHead{std::move(request_), line.next};
    }
    if (auto error = field_line(line.text, line.complete))
      return std::move(*error);
    if (!line.complete)
      return need_more();
  }
}

ParseOutcome HeadParser::need_more() const {
  if (window_full_) {
    return RequestParseError{RequestError::head_too_large,
                             "request head exceeds " + std::to_string(max_head_bytes_) + " bytes"};
  }
  return std::monostate{};
}

// request-line = method SP request-target SP HTTP-version (RFC 9112 3). `line` is not empty: it
// starts with a byte other than CR and LF.
HeadParser::Check HeadParser::request_line(std::string_view line, bool complete) {
  std::size_t i = 0;
  while (i < line.size() && is(line[i], kToken))
    ++i;
  if (i == line.size()) {
    if (complete)
      return malformed("request line without a target: " + quote_bytes(line));
    return std::nullopt;
  }
  if (line[i] != ' ')
    return bad_byte(line[i], "the method");
  if (i == 0)
    return malformed("request line starts with SP");
  const auto method = line.substr(0, i);

  const std::size_t target_start = i + 1;
  std::size_t j = target_start;
  while (j < line.size() && is(line[j], kTargetChar))
    ++j;
  if (j == line.size()) {
    if (!complete)
      return std::nullopt;
    if (j == target_start)
      return malformed("request line without a target: " + quote_bytes(line));
    return malformed("request line without an HTTP version (HTTP/0.9): " + quote_bytes(line));
  }
  if (line[j] != ' ')
    return bad_byte(line[j], "the request target");
  if (j == target_start)
    return malformed("empty request target (more than one SP after the method)");
  const auto target = line.substr(target_start, j - target_start);
  if (auto error = target_form(method, target))
    return error;

  // HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive (2.3), checked as far as it has come.
  const auto version = line.substr(j + 1);
  constexpr std::string_view kPattern = "HTTP/D.D";  // D: a digit
  for (std::size_t k = 0; k < version.size(); ++k) {
    const char c = version[k];
    if (k >= kPattern.size())
      return bad_byte(c, "the request line after the HTTP version");
    const bool ok = kPattern[k] == 'D' ? is_digit(c) : c == kPattern[k];
    if (!ok)
      return malformed("invalid HTTP version " + quote_bytes(version.substr(0, k + 1)));
    if (k == 5 && c != '1') {
      return RequestParseError{RequestError::version_not_supported,
                               "unsupported HTTP version " + quote_bytes(version.substr(0, k + 1))};
    }
  }
  if (!complete)
    return std::nullopt;
  if (version.size() < kPattern.size()) {
    return malformed(version.empty() ? "request line without an HTTP version"
                                     : "truncated HTTP version " + quote_bytes(version));
  }
  request_.method.assign(method);
  request_.target.assign(target);
  request_.version_minor = version[7] == '0' ? 0 : 1;  // 1.x beyond 1.1 is read as 1.1
  return std::nullopt;
}

// Sets the path of an origin-form, absolute-form or asterisk-form target (RFC 9112 3.2).
HeadParser::Check HeadParser::target_form(std::string_view method, std::string_view target) {
  if (target == "*") {
    if (method != "OPTIONS")
      return malformed("asterisk-form target \"*\" with a method other than OPTIONS");
    request_.path = "*";
    return std::nullopt;
  }
  if (target.front() == '/') {
    request_.path.assign(target.substr(0, target.find('?')));
    return std::nullopt;
  }
  const auto colon = target.find(':');
  const auto scheme = target.substr(0, colon);
  if (colon == std::string_view::npos || !(iequals(scheme, "http") || iequals(scheme, "https")) ||
      target.substr(colon, 3) != "://") {
    return malformed("request target not in origin, absolute (http, https) or asterisk form: " +
                     quote_bytes(target));
  }
  const auto rest = target.substr(colon + 3);
  const auto authority_end = rest.find_first_of("/?");
  const auto authority = rest.substr(0, authority_end);
  if (authority.find('@') != std::string_view::npos)
    return malformed("userinfo in the request target: " + quote_bytes(target));
  if (!valid_host(authority))
    return malformed("invalid host in the request target: " + quote_bytes(target));
  std::string_view path;
  if (authority_end != std::string_view::npos) {
    path = rest.substr(authority_end);
    path = path.substr(0, path.find('?'));
  }
  request_.path.assign(path.empty() ? std::string_view("/") : path);
  return std::nullopt;
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 5). `line` is not empty.
HeadParser::Check HeadParser::field_line(std::string_view line, bool complete) {
  if (request_.fields.size() == kMaxFields) {
    return RequestParseError{RequestError::head_too_large,
                             "more than " + std::to_string(kMaxFields) + " field lines"};
  }
  if (is_ows(line.front())) {
    // obs-fold (5.2) or, before any field, whitespace after the request line (2.2): rejected.
    return malformed(request_.fields.empty()
                         ? "whitespace at the start of the first field line"
                         : "obs-fold: field line starting with whitespace after field " +
                               quote_bytes(request_.fields.back().first));
  }
  std::size_t i = 0;
  while (i < line.size() && is(line[i], kToken))
    ++i;
  if (i == line.size()) {
    if (complete)
      return malformed("field line without a colon: " + quote_bytes(line));
    return std::nullopt;
  }
  if (line[i] != ':') {
    if (is_ows(line[i]))
      return malformed("field name with whitespace before colon: " +
                       quote_bytes(line.substr(0, i)));
    return bad_byte(line[i], "a field name");
  }
  if (i == 0)
    return malformed("field line with an empty name");
  const auto name = line.substr(0, i);
  for (std::size_t j = i + 1; j < line.size(); ++j) {
    if (!is(line[j], kFieldText))
      return bad_byte(line[j], "the value of field " + quote_bytes(name));
  }
  if (!complete)
    return std::nullopt;

  std::string lower(name);
  for (char& c : lower)
    c = to_lower(c);
  const auto value = trim_ows(line.substr(i + 1));
  request_.fields.emplace_back(std::move(lower), value);
  const auto& field = request_.fields.back();
  return on_field(field.first, field.second);
}

// What a field means for the parse itself, checked as soon as its line is complete.
HeadParser::Check HeadParser::on_field(const std::string& name, std::string_view value) {
  if (name == "host") {
    // 3.2: a request with more than one Host field line, or an invalid one, gets a 400.
    if (++host_fields_ > 1)
      return malformed("more than one Host field");
    if (!value.empty() && !valid_host(value))
      return malformed("invalid Host field value " + quote_bytes(value));
  } else if (name == "content-length") {
    return content_length(value);
  } else if (name == "transfer-encoding") {
    return RequestParseError{RequestError::body_not_supported,
                             "Transfer-Encoding in a request: " + quote_bytes(value)};
  }
  return std::nullopt;
}

// Content-Length = 1*DIGIT (RFC 9110 8.6); a list of equal values, or equal values in several
// fields, is one value (RFC 9112 6.3 item 5 lets a recipient accept them).
HeadParser::Check HeadParser::content_length(std::string_view value) {
  Check error;
  for_each_element(value, [&](std::string_view element) {
    if (element.empty()) {
      error = malformed("empty element in Content-Length " + quote_bytes(value));
      return false;
    }
    std::size_t length = 0;
    for (const char c : element) {
      if (!is_digit(c)) {
        error = malformed("Content-Length is not a decimal number: " + quote_bytes(value));
        return false;
      }
      const auto digit = static_cast<std::size_t>(c - '0');
      if (length > (std::numeric_limits<std::size_t>::max() - digit) / 10) {
        error = malformed("Content-Length too large: " + quote_bytes(value));
        return false;
      }
      length = length * 10 + digit;
    }
    if (has_content_length_ && length != request_.content_length) {
      error = malformed("Content-Length values differ: " + std::to_string(request_.content_length) +
                        " and " + std::to_string(length));
      return false;
    }
    has_content_length_ = true;
    request_.content_length = length;
    return true;
  });
  return error;
}

HeadParser::Check HeadParser::end_of_head() {
  if (request_.version_minor != 0 && host_fields_ == 0)
    return malformed("HTTP/1.1 request without a Host field");
  // Connection options (RFC 9110 7.6.1, RFC 9112 9.3): tokens, compared case-insensitively.
  bool close = false;
  bool keep_alive = false;
  for (const auto& [name, value] : request_.fields) {
    if (name != "connection")
      continue;
    for_each_element(value, [&](std::string_view option) {
      close = close || iequals(option, "close");
      keep_alive = keep_alive || iequals(option, "keep-alive");
      return true;
    });
  }
  request_.keep_alive = !close && (request_.version_minor != 0 || keep_alive);
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> Request::field(std::string_view lowercase_name) const {
  for (const auto& [name, value] : fields) {
    if (name == lowercase_name)
      return value;
  }
  return std::nullopt;
}

int status_of(RequestError error) {
  switch (error) {
    case RequestError::malformed:
      return 400;
    case RequestError::head_too_large:
      return 431;
    case RequestError::body_not_supported:
      return 501;
    case RequestError::version_not_supported:
      return 505;
  }
  return 400;
}

std::string_view reason_of(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

ParseOutcome parse_request_head(std::string_view input, std::size_t max_head_bytes) {
  return HeadParser(input, max_head_bytes).run();
}

}  // namespace fetchd::web
