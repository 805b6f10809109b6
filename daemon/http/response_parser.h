#pragma once

// Incremental HTTP/1.1 response parser (RFC 9112). Bytes in, one parsed response out; it knows
// nothing of sockets. Feeding a response in one piece or one byte at a time gives the same result.
//
// Covers: status line (empty lines before it skipped, codes 100-999), header fields (token names,
// OWS trimmed, obs-fold unfolded to one SP, duplicates kept in order with original case), interim
// 1xx responses (skipped, their statuses remembered), body framing by chunked Transfer-Encoding
// (once, last, not in HTTP/1.0; extensions ignored, trailers kept), Content-Length (differing
// values are a protocol error), or read-until-close; no body for HEAD, 1xx, 204 and 304. A lone LF
// ends a line; chunk data must end in CRLF. docs/http-conformance.md lists each decision.
// Memory is bounded: the head (status line + fields, and trailers) by max_header_bytes, the body
// kept by max_body_bytes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "http/headers.h"

namespace fetchd::http {

enum class ParseError {
  bad_status_line = 1,
  bad_header,                  // not "token: value", or a control character in it
  fold_without_field,          // whitespace before the first field line: nothing to continue
  bad_content_length,          // not a decimal number
  conflicting_content_length,  // several Content-Length values that differ
  bad_transfer_encoding,       // malformed list, chunked twice or not last, or in HTTP/1.0
  bad_chunk,                   // malformed chunk size line or missing CRLF after chunk data
  headers_too_large,           // head or trailers over max_header_bytes
  unexpected_eof,              // the connection closed before the message was complete
};
const std::error_category& parse_error_category();
std::error_code make_error_code(ParseError error);

struct ParserLimits {
  std::size_t max_header_bytes = std::size_t{64} * 1024;
  std::size_t max_body_bytes =
      std::size_t{1024} * 1024;  // beyond this the body is marked truncated, parsing stops
  bool keep_body = false;        // copy body bytes (up to max_body_bytes) into `body`
};

struct ParsedResponse {
  int version_major = 0;
  int version_minor = 0;
  int status = 0;
  std::string reason;
  Headers headers;
  Headers trailers;
  std::vector<int> interim_statuses;  // 1xx responses skipped before this one
  std::size_t body_bytes = 0;  // body bytes received (decoded, when chunked), at most the limit
  bool body_truncated = false;
  std::string body;  // only with keep_body
};

class ResponseParser {
 public:
  enum class Status { need_more, complete, error };

  ResponseParser(ParserLimits limits, bool response_to_head);

  // Consumes bytes. Once complete or in error, further bytes are ignored.
  Status feed(std::string_view bytes);
  // The peer closed the connection: completes a read-until-close body, otherwise unexpected_eof
  // (unless already complete or in error).
  Status finish();

  Status status() const { return status_; }
  // True once the final (non-1xx) response's header section has been parsed.
  bool headers_complete() const;
  const ParsedResponse& response() const { return response_; }
  ParsedResponse take_response() { return std::move(response_); }
  std::error_code error() const { return error_; }
  // What was malformed, for people: e.g. "Content-Length values differ: 5 and 6".
  const std::string& error_detail() const { return error_detail_; }

 private:
  // Where the next byte belongs.
  enum class State : unsigned char {
    status_line,
    header_line,
    body_length,  // Content-Length body
    body_until_close,
    chunk_size_line,
    chunk_data,
    chunk_data_cr,  // the CRLF that ends chunk data
    chunk_data_lf,
    trailer_line,
  };

  Status fail(ParseError error, std::string detail);
  void complete() { status_ = Status::complete; }
  bool next_line(const char*& pos, const char* end, std::string_view& line);
  void on_line(std::string_view line);
  void on_status_line(std::string_view line);
  void add_field(std::string_view line, Headers& fields);
  void unfold(std::string_view line, Headers& fields);
  void on_head_end();
  // The body's framing, from Transfer-Encoding (false when there is none) or Content-Length.
  bool frame_by_transfer_encoding();
  void frame_by_content_length();
  void on_chunk_size_line(std::string_view line);
  bool add_body(const char* data, std::size_t size);

  ParserLimits limits_;
  bool response_to_head_;
  Status status_ = Status::need_more;
  State state_ = State::status_line;
  bool headers_complete_ = false;
  std::string line_;               // a line split across feed() calls, never longer than its limit
  std::size_t section_bytes_ = 0;  // head (across interim responses) or trailer bytes so far
  std::uint64_t length_ = 0;       // of the Content-Length body or the current chunk
  std::uint64_t remaining_ = 0;    // of length_
  ParsedResponse response_;
  std::error_code error_;
  std::string error_detail_;
};

}  // namespace fetchd::http

template <>
struct std::is_error_code_enum<fetchd::http::ParseError> : std::true_type {};
