#include "http/response_parser.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <utility>

#include "common/http_text.h"
#include "common/quote.h"

namespace fetchd::http {

namespace {

class ParseErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "http.parse"; }
  std::string message(int value) const override {
    switch (static_cast<ParseError>(value)) {
      case ParseError::bad_status_line:
        return "malformed status line";
      case ParseError::bad_header:
        return "malformed header field";
      case ParseError::fold_without_field:
        return "whitespace before the first header field";
      case ParseError::bad_content_length:
        return "invalid Content-Length";
      case ParseError::conflicting_content_length:
        return "conflicting Content-Length values";
      case ParseError::bad_transfer_encoding:
        return "invalid Transfer-Encoding";
      case ParseError::bad_chunk:
        return "malformed chunked body";
      case ParseError::headers_too_large:
        return "header section too large";
      case ParseError::unexpected_eof:
        return "connection closed before the response was complete";
    }
    return "unknown HTTP parse error";
  }
};

// Character classes of RFC 9110 5.6.2 (tchar) and 5.5 (field-vchar, SP and HTAB; also what a reason
// phrase may hold). One table lookup per byte keeps validation cheap on the hot path.
enum : unsigned char { kToken = 1, kText = 2 };

constexpr std::array<unsigned char, 256> kCharClass = [] {
  std::array<unsigned char, 256> table{};
  for (int c = 0x21; c < 0x7f; ++c)
    table[c] |= kText;
  for (int c = 0x80; c < 0x100; ++c)
    table[c] |= kText;
  table[' '] |= kText;
  table['\t'] |= kText;
  for (int c = '0'; c <= '9'; ++c)
    table[c] |= kToken;
  for (int c = 'a'; c <= 'z'; ++c)
    table[c] |= kToken;
  for (int c = 'A'; c <= 'Z'; ++c)
    table[c] |= kToken;
  for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~"))
    table[c] |= kToken;
  return table;
}();

bool all_of_class(std::string_view text, unsigned char cls) {
  return std::all_of(text.begin(), text.end(),
                     [cls](char c) { return kCharClass[static_cast<unsigned char>(c)] & cls; });
}

}  // namespace

const std::error_category& parse_error_category() {
  static const ParseErrorCategory category;
  return category;
}

std::error_code make_error_code(ParseError error) {
  return {static_cast<int>(error), parse_error_category()};
}

ResponseParser::ResponseParser(ParserLimits limits, bool response_to_head)
    : limits_(limits), response_to_head_(response_to_head) {}

bool ResponseParser::headers_complete() const {
  return headers_complete_;
}

ResponseParser::Status ResponseParser::fail(ParseError error, std::string detail) {
  status_ = Status::error;
  error_ = make_error_code(error);
  error_detail_ = std::move(detail);
  return status_;
}

ResponseParser::Status ResponseParser::feed(std::string_view bytes) {
  const char* pos = bytes.data();
  const char* const end = pos + bytes.size();
  while (pos != end && status_ == Status::need_more) {
    switch (state_) {
      case State::status_line:
      case State::header_line:
      case State::chunk_size_line:
      case State::trailer_line: {
        std::string_view line;
        if (next_line(pos, end, line)) {
          on_line(line);
          line_.clear();
        }
        break;
      }
      case State::body_length:
      case State::chunk_data: {
        const auto size = static_cast<std::size_t>(
            std::min<std::uint64_t>(remaining_, static_cast<std::size_t>(end - pos)));
        remaining_ -= size;
        if (!add_body(pos, size))
          break;
        pos += size;
        if (remaining_ == 0) {
          if (state_ == State::body_length) {
            complete();
          } else {
            state_ = State::chunk_data_cr;
          }
        }
        break;
      }
      case State::body_until_close: {
        const auto size = static_cast<std::size_t>(end - pos);
        add_body(pos, size);
        pos = end;
        break;
      }
      case State::chunk_data_cr:
      case State::chunk_data_lf: {
        // Exactly CRLF (RFC 9112 7.1): a lone LF here would let a chunk size one too large pass,
        // its CR counted as data. Lines (status, fields, chunk sizes) may end in a lone LF (2.2).
        const char c = *pos++;
        if (c == '\r' && state_ == State::chunk_data_cr) {
          state_ = State::chunk_data_lf;
        } else if (c == '\n' && state_ == State::chunk_data_lf) {
          state_ = State::chunk_size_line;
        } else {
          fail(ParseError::bad_chunk,
               "expected CRLF after chunk data, got " + quote_bytes({&c, 1}));
        }
        break;
      }
    }
  }
  return status_;
}

// Yields the next complete line without its terminator (LF or CRLF). A line that arrives in one
// piece is a view into the caller's bytes; only a line split across feed() calls is copied, and
// never beyond its limit. The limit is checked on bytes buffered so far as well as on complete
// lines, and a partial line over it implies the complete line is over it too, so the error does not
// depend on how the bytes were split.
bool ResponseParser::next_line(const char*& pos, const char* end, std::string_view& line) {
  const bool in_chunk_line = state_ == State::chunk_size_line;
  // Head and trailer sections share one budget across their lines; a chunk size line has its own.
  const std::size_t budget =
      limits_.max_header_bytes - (in_chunk_line ? std::size_t{0} : section_bytes_);
  const auto* newline = static_cast<const char*>(std::memchr(pos, '\n', end - pos));
  const auto taken = static_cast<std::size_t>((newline ? newline + 1 : end) - pos);
  const std::size_t line_bytes = line_.size() + taken;
  if (line_bytes > budget) {
    const auto limit = std::to_string(limits_.max_header_bytes);
    switch (state_) {
      case State::chunk_size_line:
        fail(ParseError::bad_chunk, "chunk size line exceeds " + limit + " bytes");
        break;
      case State::trailer_line:
        fail(ParseError::headers_too_large, "trailer section exceeds " + limit + " bytes");
        break;
      default:
        fail(ParseError::headers_too_large, "header section exceeds " + limit + " bytes");
        break;
    }
    return false;
  }
  if (!newline) {
    line_.append(pos, taken);
    pos = end;
    return false;
  }
  if (!in_chunk_line)
    section_bytes_ += line_bytes;
  if (line_.empty()) {
    line = {pos, taken - 1};
  } else {
    line_.append(pos, taken - 1);
    line = line_;
  }
  pos = newline + 1;
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  return true;
}

void ResponseParser::on_line(std::string_view line) {
  switch (state_) {
    case State::status_line:
      on_status_line(line);
      break;
    case State::header_line:
      if (line.empty()) {
        on_head_end();
      } else {
        add_field(line, response_.headers);
      }
      break;
    case State::chunk_size_line:
      on_chunk_size_line(line);
      break;
    case State::trailer_line:
      if (line.empty()) {
        complete();
      } else {
        add_field(line, response_.trailers);
      }
      break;
    default:
      break;
  }
}

// status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4). The SP before an
// empty reason is also accepted when missing: servers do omit it and nothing is ambiguous then.
void ResponseParser::on_status_line(std::string_view line) {
  // Empty lines before a status line are skipped (they count against the head's limit): servers
  // send an extra CRLF after a 100 Continue, as a server skips one before a request line (2.2).
  if (line.empty())
    return;
  const bool well_formed = line.size() >= 12 && line.substr(0, 5) == "HTTP/" && is_digit(line[5]) &&
                           line[6] == '.' && is_digit(line[7]) && line[8] == ' ' &&
                           is_digit(line[9]) && is_digit(line[10]) && is_digit(line[11]) &&
                           (line.size() == 12 || line[12] == ' ');
  if (!well_formed) {
    fail(ParseError::bad_status_line, "malformed status line " + quote_bytes(line));
    return;
  }
  if (line[5] != '1') {
    fail(ParseError::bad_status_line,
         "unsupported HTTP version in status line " + quote_bytes(line));
    return;
  }
  const int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  // 600-999 are invalid but in use (RFC 9110 15): kept as they are, which no expectation of a
  // success matches; below 100 nothing can be framed.
  if (status < 100) {
    fail(ParseError::bad_status_line,
         "status code out of range in status line " + quote_bytes(line));
    return;
  }
  const auto reason = line.size() > 13 ? line.substr(13) : std::string_view{};
  if (!all_of_class(reason, kText)) {
    fail(ParseError::bad_status_line, "control character in status line " + quote_bytes(line));
    return;
  }
  response_.version_major = line[5] - '0';
  response_.version_minor = line[7] - '0';
  response_.status = status;
  response_.reason.assign(reason);
  state_ = State::header_line;
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 5).
void ResponseParser::add_field(std::string_view line, Headers& fields) {
  if (is_ows(line.front())) {
    unfold(line, fields);
    return;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    fail(ParseError::bad_header, "field line without a colon " + quote_bytes(line));
    return;
  }
  const auto name = line.substr(0, colon);
  if (!name.empty() && is_ows(name.back())) {
    fail(ParseError::bad_header, "whitespace before the colon in field line " + quote_bytes(line));
    return;
  }
  if (name.empty() || !all_of_class(name, kToken)) {
    fail(ParseError::bad_header, "invalid field name in field line " + quote_bytes(line));
    return;
  }
  const auto value = trim_ows(line.substr(colon + 1));
  if (!all_of_class(value, kText)) {
    fail(ParseError::bad_header, "control character in field value " + quote_bytes(line));
    return;
  }
  fields.push_back({std::string(name), std::string(value)});
}

// obs-fold = OWS CRLF RWS (RFC 9112 5.2): a user agent replaces each with SP, so the line continues
// the previous field's value. Without a previous field it is whitespace before the first field
// line, which 2.2 lets a recipient reject.
void ResponseParser::unfold(std::string_view line, Headers& fields) {
  if (fields.empty()) {
    fail(ParseError::fold_without_field,
         "field line starts with whitespace before any field " + quote_bytes(line));
    return;
  }
  const auto continuation = trim_ows(line);
  if (!all_of_class(continuation, kText)) {
    fail(ParseError::bad_header, "control character in field value " + quote_bytes(line));
    return;
  }
  if (continuation.empty())
    return;
  std::string& value = fields.back().value;
  if (!value.empty())
    value += ' ';
  value.append(continuation);
}

void ResponseParser::on_head_end() {
  const int status = response_.status;
  // 101 Switching Protocols ends HTTP/1.1 on this connection, so there is no later response to wait
  // for; we never ask for an upgrade, so it is reported as the final (bodiless) response.
  if (status >= 100 && status < 200 && status != 101) {
    response_.interim_statuses.push_back(status);
    response_.headers.clear();
    response_.reason.clear();
    state_ = State::status_line;
    return;
  }
  headers_complete_ = true;
  if (response_to_head_ || status == 101 || status == 204 || status == 304) {
    complete();
    return;
  }

  // Transfer-Encoding overrides Content-Length (RFC 9112 6.3 item 3).
  if (!frame_by_transfer_encoding())
    frame_by_content_length();
}

// Transfer codings (RFC 9112 6.1): chunked at most once and only as the final coding, in the list
// of all Transfer-Encoding fields together; none at all in an HTTP/1.0 response.
bool ResponseParser::frame_by_transfer_encoding() {
  bool has_transfer_encoding = false;
  bool chunked_seen = false;
  bool final_chunked = false;
  for (const auto& header : response_.headers) {
    if (!iequals(header.name, "Transfer-Encoding"))
      continue;
    has_transfer_encoding = true;
    const bool ok = for_each_element(header.value, [&](std::string_view element) {
      if (element.empty())
        return true;  // RFC 9110 5.6.1.2: empty list elements are ignored
      const auto coding = trim_ows(element.substr(0, element.find(';')));
      if (coding.empty() || !all_of_class(coding, kToken)) {
        fail(ParseError::bad_transfer_encoding, "invalid transfer coding " + quote_bytes(element));
        return false;
      }
      const bool chunked = iequals(coding, "chunked");
      if (chunked && chunked_seen) {
        fail(ParseError::bad_transfer_encoding, "chunked applied more than once");
        return false;
      }
      chunked_seen = chunked_seen || chunked;
      final_chunked = chunked;
      return true;
    });
    if (!ok)
      return true;
  }
  if (!has_transfer_encoding)
    return false;
  if (response_.version_minor == 0) {
    fail(ParseError::bad_transfer_encoding, "Transfer-Encoding in an HTTP/1.0 response");
    return true;
  }
  if (chunked_seen && !final_chunked) {
    fail(ParseError::bad_transfer_encoding, "chunked is not the final transfer coding");
    return true;
  }
  // A response whose final coding is not chunked is delimited by the connection closing
  // (RFC 9112 6.3 item 4); an error would lose responses that are merely compressed.
  state_ = final_chunked ? State::chunk_size_line : State::body_until_close;
  return true;
}

void ResponseParser::frame_by_content_length() {
  bool has_content_length = false;
  std::uint64_t length = 0;
  for (const auto& header : response_.headers) {
    if (!iequals(header.name, "Content-Length"))
      continue;
    const bool ok = for_each_element(header.value, [&](std::string_view element) {
      std::uint64_t value = 0;
      if (element.empty() || !std::all_of(element.begin(), element.end(), is_digit)) {
        fail(ParseError::bad_content_length,
             "Content-Length is not a decimal number " + quote_bytes(header.value));
        return false;
      }
      for (char c : element) {
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
          fail(ParseError::bad_content_length,
               "Content-Length too large " + quote_bytes(header.value));
          return false;
        }
        value = value * 10 + digit;
      }
      if (has_content_length && value != length) {
        fail(ParseError::conflicting_content_length,
             "Content-Length values differ: " + std::to_string(length) + " and " +
                 std::to_string(value));
        return false;
      }
      has_content_length = true;
      length = value;
      return true;
    });
    if (!ok)
      return;
  }
  if (!has_content_length) {
    state_ = State::body_until_close;
    return;
  }
  if (length == 0) {
    complete();
    return;
  }
  if (limits_.keep_body) {
    response_.body.reserve(
        static_cast<std::size_t>(std::min<std::uint64_t>(length, limits_.max_body_bytes)));
  }
  length_ = remaining_ = length;
  state_ = State::body_length;
}

// chunk-size [ chunk-ext ] CRLF (RFC 9112 7.1); extensions are skipped but must be printable.
void ResponseParser::on_chunk_size_line(std::string_view line) {
  std::uint64_t size = 0;
  std::size_t i = 0;
  for (; i < line.size(); ++i) {
    const char c = line[i];
    int digit;
    if (is_digit(c)) {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      break;
    }
    if (size > (std::numeric_limits<std::uint64_t>::max() >> 4)) {
      fail(ParseError::bad_chunk, "chunk size too large " + quote_bytes(line));
      return;
    }
    size = (size << 4) | static_cast<std::uint64_t>(digit);
  }
  // BWS only before a ';' (7.1.1): "5  " with nothing after is malformed.
  auto rest = line.substr(i);
  while (!rest.empty() && is_ows(rest.front()))
    rest.remove_prefix(1);
  if (i == 0 || (rest.empty() && i != line.size()) || (!rest.empty() && rest.front() != ';') ||
      !all_of_class(rest, kText)) {
    fail(ParseError::bad_chunk, "malformed chunk size line " + quote_bytes(line));
    return;
  }
  if (size == 0) {
    section_bytes_ = 0;
    state_ = State::trailer_line;
    return;
  }
  length_ = remaining_ = size;
  state_ = State::chunk_data;
}

// Counts (and keeps) body bytes up to max_body_bytes; a byte beyond that ends the response as
// truncated. Returns false then.
bool ResponseParser::add_body(const char* data, std::size_t size) {
  const std::size_t room = limits_.max_body_bytes - response_.body_bytes;
  const bool truncated = size > room;
  if (truncated)
    size = room;
  response_.body_bytes += size;
  if (limits_.keep_body)
    response_.body.append(data, size);
  if (truncated) {
    response_.body_truncated = true;
    complete();
  }
  return !truncated;
}

ResponseParser::Status ResponseParser::finish() {
  if (status_ != Status::need_more)
    return status_;
  switch (state_) {
    case State::status_line:
      if (line_.empty()) {
        return fail(ParseError::unexpected_eof, "connection closed before the status line");
      }
      // Whatever arrived cannot become a status line: say so rather than blame the close, e.g.
      // for a TLS alert received over plain HTTP.
      if (std::string_view(line_).substr(0, 5) !=
          std::string_view("HTTP/").substr(0, line_.size())) {
        return fail(ParseError::bad_status_line, "malformed status line " + quote_bytes(line_));
      }
      return fail(ParseError::unexpected_eof, "connection closed in the status line");
    case State::header_line:
      return fail(ParseError::unexpected_eof, "connection closed in the header section");
    case State::body_length:
      return fail(ParseError::unexpected_eof, "connection closed in the body after " +
                                                  std::to_string(length_ - remaining_) + " of " +
                                                  std::to_string(length_) + " bytes");
    case State::body_until_close:
      complete();
      return status_;
    case State::chunk_size_line:
      return fail(ParseError::unexpected_eof, "connection closed in a chunk size line");
    case State::chunk_data:
      return fail(ParseError::unexpected_eof, "connection closed in a chunk after " +
                                                  std::to_string(length_ - remaining_) + " of " +
                                                  std::to_string(length_) + " bytes");
    case State::chunk_data_cr:
    case State::chunk_data_lf:
      return fail(ParseError::unexpected_eof, "connection closed before the CRLF after chunk data");
    case State::trailer_line:
      return fail(ParseError::unexpected_eof, "connection closed in the trailer section");
  }
  return status_;
}

}  // namespace fetchd::http
