#include "http/response_parser.h"

#include <algorithm>
#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace fetchd::http {
namespace {

using namespace std::string_literals;
using Status = ResponseParser::Status;

// Everything a parser run can be observed by, so that runs can be compared as a whole.
struct Outcome {
  Status status = Status::need_more;
  std::error_code error;
  std::string detail;
  bool headers_complete = false;
  ParsedResponse response;
};

Outcome run(const std::vector<std::string_view>& pieces, bool eof, const ParserLimits& limits,
            bool head) {
  ResponseParser parser(limits, head);
  for (const auto piece : pieces) {
    const Status status = parser.feed(piece);
    EXPECT_EQ(status, parser.status());
  }
  if (eof) {
    const Status status = parser.finish();
    EXPECT_EQ(status, parser.status());
  }
  Outcome outcome;
  outcome.status = parser.status();
  outcome.error = parser.error();
  outcome.detail = parser.error_detail();
  outcome.headers_complete = parser.headers_complete();
  outcome.response = parser.take_response();
  return outcome;
}

Outcome run_whole(std::string_view input, bool eof, const ParserLimits& limits, bool head) {
  return run({input}, eof, limits, head);
}

std::string describe(const Headers& headers) {
  std::string out;
  for (const auto& header : headers)
    out += "[" + header.name + "]=[" + header.value + "] ";
  return out;
}

// A canonical text of an outcome: two runs agree exactly when their descriptions are equal, and a
// mismatch prints readably.
std::string describe(const Outcome& outcome) {
  const auto& r = outcome.response;
  std::string out = "status=" + std::to_string(static_cast<int>(outcome.status)) +
                    " error=" + outcome.error.message() + " detail=" + outcome.detail +
                    " headers_complete=" + std::to_string(outcome.headers_complete) +
                    "\nversion=" + std::to_string(r.version_major) + "." +
                    std::to_string(r.version_minor) + " code=" + std::to_string(r.status) +
                    " reason=[" + r.reason + "]\nheaders=" + describe(r.headers) +
                    "\ntrailers=" + describe(r.trailers) + "\ninterim=";
  for (int status : r.interim_statuses)
    out += std::to_string(status) + " ";
  out += "\nbody_bytes=" + std::to_string(r.body_bytes) +
         " truncated=" + std::to_string(r.body_truncated) + " body=[" + r.body + "]";
  return out;
}

// Every two-piece split and byte-at-a-time feeding must give exactly the one-piece outcome.
void expect_split_invariant(std::string_view input, bool eof, const ParserLimits& limits,
                            bool head) {
  const std::string whole = describe(run_whole(input, eof, limits, head));
  for (std::size_t split = 0; split <= input.size(); ++split) {
    const auto outcome = run({input.substr(0, split), input.substr(split)}, eof, limits, head);
    ASSERT_EQ(describe(outcome), whole) << "split at " << split;
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < input.size(); ++i) {
    bytes.push_back(input.substr(i, 1));
    bytes.push_back({});  // empty feeds change nothing
  }
  EXPECT_EQ(describe(run(bytes, eof, limits, head)), whole) << "byte at a time";
}

// ---------------------------------------------------------------------------------------------
// Valid responses

struct ValidCase {
  std::string name{};
  std::string input{};
  std::string after{};  // bytes following the response, to be ignored
  bool head = false;
  bool eof = false;  // finish() after the input
  std::size_t max_body_bytes = 1024 * 1024;
  int status = 200;
  int version_minor = 1;
  std::string reason = "OK";
  Headers headers{};
  Headers trailers{};
  std::vector<int> interim{};
  std::string body{};
  bool truncated = false;
};

void PrintTo(const ValidCase& c, std::ostream* out) {
  *out << c.name;
}

class ResponseParserValid : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ResponseParserValid, ParsesExactly) {
  const ValidCase& c = GetParam();
  const ParserLimits limits{.max_body_bytes = c.max_body_bytes, .keep_body = true};
  const auto outcome = run_whole(c.input + c.after, c.eof, limits, c.head);
  ASSERT_EQ(outcome.status, Status::complete) << outcome.detail;
  EXPECT_FALSE(outcome.error);
  EXPECT_EQ(outcome.detail, "");
  EXPECT_TRUE(outcome.headers_complete);
  const auto& r = outcome.response;
  EXPECT_EQ(r.version_major, 1);
  EXPECT_EQ(r.version_minor, c.version_minor);
  EXPECT_EQ(r.status, c.status);
  EXPECT_EQ(r.reason, c.reason);
  EXPECT_EQ(describe(r.headers), describe(c.headers));
  EXPECT_EQ(r.headers, c.headers);
  EXPECT_EQ(describe(r.trailers), describe(c.trailers));
  EXPECT_EQ(r.trailers, c.trailers);
  EXPECT_EQ(r.interim_statuses, c.interim);
  EXPECT_EQ(r.body, c.body);
  EXPECT_EQ(r.body_bytes, c.body.size());
  EXPECT_EQ(r.body_truncated, c.truncated);
}

TEST_P(ResponseParserValid, WithoutKeepBodyCountsOnly) {
  const ValidCase& c = GetParam();
  const ParserLimits limits{.max_body_bytes = c.max_body_bytes, .keep_body = false};
  const auto outcome = run_whole(c.input + c.after, c.eof, limits, c.head);
  ASSERT_EQ(outcome.status, Status::complete) << outcome.detail;
  EXPECT_EQ(outcome.response.body, "");
  EXPECT_EQ(outcome.response.body_bytes, c.body.size());
  EXPECT_EQ(outcome.response.body_truncated, c.truncated);
}

TEST_P(ResponseParserValid, SplitInvariant) {
  const ValidCase& c = GetParam();
  expect_split_invariant(c.input + c.after, c.eof,
                         {.max_body_bytes = c.max_body_bytes, .keep_body = true}, c.head);
}

// No response is complete before its last byte: a read-until-close body waits for EOF.
TEST_P(ResponseParserValid, NeedsEveryByte) {
  const ValidCase& c = GetParam();
  const ParserLimits limits{.max_body_bytes = c.max_body_bytes, .keep_body = true};
  if (c.eof) {
    EXPECT_EQ(run_whole(c.input, false, limits, c.head).status, Status::need_more);
  } else if (!c.truncated) {  // a truncated body completes before its framing ends
    const auto all_but_last = std::string_view(c.input).substr(0, c.input.size() - 1);
    EXPECT_EQ(run_whole(all_but_last, false, limits, c.head).status, Status::need_more);
  }
}

const ValidCase kValidCases[] = {
    {.name = "content_length",
     .input = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
     .headers = {{"Content-Type", "text/plain"}, {"Content-Length", "5"}},
     .body = "hello"},
    {.name = "content_length_zero",
     .input = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
     .headers = {{"content-length", "0"}}},
    {.name = "bytes_after_complete_ignored",
     .input = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
     .after = "HTTP/1.1 500 Nope\r\n\r\nxx",
     .headers = {{"Content-Length", "2"}},
     .body = "ok"},
    {.name = "chunked_extensions_trailers",
     .input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              "5;name=value\r\nhello\r\n"
              "7 ; a=\"q;x\" ;b\r\n, world\r\n"
              "A\r\n0123456789\r\n"
              "0\r\nX-Checksum: abc\r\nX-Other:  two \r\n\r\n",
     .headers = {{"Transfer-Encoding", "chunked"}},
     .trailers = {{"X-Checksum", "abc"}, {"X-Other", "two"}},
     .body = "hello, world0123456789"},
    {.name = "chunked_hex_sizes_and_leading_zeros",
     .input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
              "00000000000000000000001a\r\nabcdefghijklmnopqrstuvwxyz\r\n1\r\n!\r\n000\r\n\r\n",
     .headers = {{"Transfer-Encoding", "gzip, Chunked"}},
     .body = "abcdefghijklmnopqrstuvwxyz!"},
    {.name = "chunked_empty_body",
     .input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     .headers = {{"Transfer-Encoding", "chunked"}}},
    {.name = "transfer_encoding_wins_over_content_length",
     .input = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
              "3\r\nabc\r\n0\r\n\r\n",
     .headers = {{"Content-Length", "100"}, {"Transfer-Encoding", "chunked"}},
     .body = "abc"},
    {.name = "transfer_encoding_not_chunked_reads_until_close",
     .input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n"
              "3\r\nabc\r\n",
     .eof = true,
     .headers = {{"Transfer-Encoding", "gzip"}, {"Content-Length", "2"}},
     .body = "3\r\nabc\r\n"},
    {.name = "transfer_codings_over_several_fields_chunked_last",
     .input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: ,chunked\r\n\r\n"
              "1\r\nx\r\n0\r\n\r\n",
     .headers = {{"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", ",chunked"}},
     .body = "x"},
    {.name = "obs_fold_unfolded_to_one_space",
     .input = "HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b \r\n\tc\r\nX-Empty:\r\n d\r\n"
              "X-Blank-Fold: e\r\n \t \r\nContent-Length: 0\r\n\r\n",
     .headers =
         {{"X-Folded", "a b c"}, {"X-Empty", "d"}, {"X-Blank-Fold", "e"}, {"Content-Length", "0"}}},
    {.name = "obs_fold_in_trailers",
     .input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n 2\r\n\r\n",
     .headers = {{"Transfer-Encoding", "chunked"}},
     .trailers = {{"T", "1 2"}}},
    {.name = "empty_lines_before_status_line",
     .input = "\r\n\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
     .headers = {{"Content-Length", "0"}}},
    {.name = "extra_crlf_after_continue",
     .input = "HTTP/1.1 100 Continue\r\n\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
     .headers = {{"Content-Length", "0"}},
     .interim = {100}},
    {.name = "status_600_to_999_kept",
     .input = "HTTP/1.1 999 Custom\r\nContent-Length: 1\r\n\r\nx",
     .status = 999,
     .reason = "Custom",
     .headers = {{"Content-Length", "1"}},
     .body = "x"},
    {.name = "read_until_close",
     .input = "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nsome\r\nbody",
     .eof = true,
     .version_minor = 0,
     .headers = {{"Server", "x"}},
     .body = "some\r\nbody"},
    {.name = "read_until_close_empty", .input = "HTTP/1.1 200 OK\r\n\r\n", .eof = true},
    {.name = "head_with_content_length",
     .input = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
     .head = true,
     .headers = {{"Content-Length", "1234"}}},
    {.name = "head_with_chunked",
     .input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
     .head = true,
     .headers = {{"Transfer-Encoding", "chunked"}}},
    {.name = "no_content_body_ignored",
     .input = "HTTP/1.1 204 No Content\r\nDate: today\r\n\r\n",
     .after = "junk",
     .status = 204,
     .reason = "No Content",
     .headers = {{"Date", "today"}}},
    {.name = "not_modified_with_content_length",
     .input = "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 100\r\n\r\n",
     .status = 304,
     .reason = "Not Modified",
     .headers = {{"ETag", "\"x\""}, {"Content-Length", "100"}}},
    {.name = "continue_then_ok",
     .input = "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
              "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
     .headers = {{"Content-Length", "2"}},
     .interim = {100},
     .body = "ok"},
    {.name = "early_hints_continue_then_ok",
     .input = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
              "HTTP/1.1 100 Continue\r\n\r\n"
              "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
     .status = 201,
     .reason = "Created",
     .headers = {{"Content-Length", "0"}},
     .interim = {103, 100}},
    {.name = "continue_then_head_response",
     .input = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
     .head = true,
     .headers = {{"Content-Length", "5"}},
     .interim = {100}},
    {.name = "switching_protocols_is_final_bytes_after_ignored",
     .input = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
     .after = "\x81\x05hello",
     .status = 101,
     .reason = "Switching Protocols",
     .headers = {{"Upgrade", "websocket"}}},
    {.name = "duplicate_headers_order_and_case",
     .input = "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Case: One\r\nset-cookie: b=2\r\n"
              "SET-COOKIE: c=3\r\nContent-Length: 0\r\n\r\n",
     .headers = {{"Set-Cookie", "a=1"},
                 {"X-Case", "One"},
                 {"set-cookie", "b=2"},
                 {"SET-COOKIE", "c=3"},
                 {"Content-Length", "0"}}},
    {.name = "ows_trimming",
     .input = "HTTP/1.1 200 OK\r\nX-A:value\r\nX-B: \t spaced \t value \t \r\nX-Empty:\r\n"
              "X-Blank:   \r\nX-Token!#$%&'*+-.^_`|~: v\r\nContent-Length:  3 \r\n\r\nabc",
     .headers = {{"X-A", "value"},
                 {"X-B", "spaced \t value"},
                 {"X-Empty", ""},
                 {"X-Blank", ""},
                 {"X-Token!#$%&'*+-.^_`|~", "v"},
                 {"Content-Length", "3"}},
     .body = "abc"},
    {.name = "obs_text_in_reason_and_value",
     .input = "HTTP/1.1 200 \xc3\x9c\x62\x65r\r\nX-Utf8: gr\xc3\xbc\xc3\x9f\r\nContent-Length: "
              "0\r\n\r\n",
     .reason = "\xc3\x9c\x62\x65r",
     .headers = {{"X-Utf8", "gr\xc3\xbc\xc3\x9f"}, {"Content-Length", "0"}}},
    {.name = "empty_reason",
     .input = "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
     .reason = "",
     .headers = {{"Content-Length", "0"}}},
    {.name = "missing_reason_and_space",
     .input = "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n",
     .status = 404,
     .reason = "",
     .headers = {{"Content-Length", "0"}}},
    {.name = "reason_with_spaces_and_tab",
     .input = "HTTP/1.1 500 Internal  Server\tError \r\nContent-Length: 0\r\n\r\n",
     .status = 500,
     .reason = "Internal  Server\tError ",
     .headers = {{"Content-Length", "0"}}},
    {.name = "lf_only_lines",
     .input = "HTTP/1.1 200 OK\nContent-Length: 3\nX: y\n\nabc",
     .headers = {{"Content-Length", "3"}, {"X", "y"}},
     .body = "abc"},
    {.name = "lf_only_chunked",
     .input = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\r\n2;x\r\nde\r\n0\nT: 1\n\n",
     .headers = {{"Transfer-Encoding", "chunked"}},
     .trailers = {{"T", "1"}},
     .body = "abcde"},
    {.name = "equal_content_lengths",
     .input = "HTTP/1.1 200 OK\r\nContent-Length: 3, 3,3\r\nContent-Length: 003\r\n\r\nabc",
     .headers = {{"Content-Length", "3, 3,3"}, {"Content-Length", "003"}},
     .body = "abc"},
    {.name = "body_at_limit_not_truncated",
     .input = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd",
     .max_body_bytes = 4,
     .headers = {{"Content-Length", "4"}},
     .body = "abcd"},
    {.name = "content_length_body_truncated",
     .input = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
     .max_body_bytes = 4,
     .headers = {{"Content-Length", "10"}},
     .body = "0123",
     .truncated = true},
    {.name = "chunked_body_truncated",
     .input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n",
     .max_body_bytes = 4,
     .headers = {{"Transfer-Encoding", "chunked"}},
     .body = "abcd",
     .truncated = true},
    {.name = "until_close_body_truncated",
     .input = "HTTP/1.1 200 OK\r\n\r\nabcdefgh",
     .max_body_bytes = 4,
     .body = "abcd",
     .truncated = true},
    {.name = "zero_body_limit_truncated",
     .input = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
     .max_body_bytes = 0,
     .headers = {{"Content-Length", "1"}},
     .body = "",
     .truncated = true},
};

INSTANTIATE_TEST_SUITE_P(ResponseParser, ResponseParserValid, ::testing::ValuesIn(kValidCases),
                         [](const auto& test) { return test.param.name; });

// ---------------------------------------------------------------------------------------------
// Malformed, oversized and cut-off responses

struct ErrorCase {
  std::string name{};
  std::string input{};
  bool eof = false;
  std::size_t max_header_bytes = 64 * 1024;
  ParseError error{};
  std::string detail{};
};

void PrintTo(const ErrorCase& c, std::ostream* out) {
  *out << c.name;
}

class ResponseParserError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ResponseParserError, FailsExactly) {
  const ErrorCase& c = GetParam();
  const auto outcome = run_whole(c.input, c.eof, {.max_header_bytes = c.max_header_bytes}, false);
  EXPECT_EQ(outcome.status, Status::error);
  EXPECT_EQ(outcome.error, make_error_code(c.error));
  EXPECT_EQ(outcome.error, c.error);
  EXPECT_EQ(outcome.detail, c.detail);
}

TEST_P(ResponseParserError, SplitInvariant) {
  const ErrorCase& c = GetParam();
  expect_split_invariant(c.input, c.eof, {.max_header_bytes = c.max_header_bytes}, false);
}

TEST_P(ResponseParserError, LaterBytesAndEofChangeNothing) {
  const ErrorCase& c = GetParam();
  ResponseParser parser({.max_header_bytes = c.max_header_bytes}, false);
  parser.feed(c.input);
  if (c.eof)
    parser.finish();
  ASSERT_EQ(parser.status(), Status::error);
  EXPECT_EQ(parser.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), Status::error);
  EXPECT_EQ(parser.finish(), Status::error);
  EXPECT_EQ(parser.error(), c.error);
  EXPECT_EQ(parser.error_detail(), c.detail);
}

const std::string kChunkedHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
const std::string kOkHead = "HTTP/1.1 200 OK\r\n";

const ErrorCase kErrorCases[] = {
    {.name = "garbage_status_line",
     .input = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
     .error = ParseError::bad_status_line,
     .detail = "malformed status line \"SSH-2.0-OpenSSH_9.2p1 Debian-2\""},
    {.name = "binary_status_line_escaped",
     .input = "\x15\x03\x01\x00\x02\"\\\x0a"s,
     .error = ParseError::bad_status_line,
     .detail = "malformed status line \"\\x15\\x03\\x01\\x00\\x02\\\"\\\\\""},
    {.name = "long_status_line_truncated_in_detail",
     .input = std::string(100, 'A') + "\r\n",
     .error = ParseError::bad_status_line,
     .detail = "malformed status line \"" + std::string(64, 'A') + "\"..."},
    {.name = "tls_alert_then_close",
     .input = "\x15\x03\x03\x00\x02\x02\x28"s,
     .eof = true,
     .error = ParseError::bad_status_line,
     .detail = "malformed status line \"\\x15\\x03\\x03\\x00\\x02\\x02(\""},
    {.name = "whitespace_only_status_line",
     .input = " \r\nHTTP/1.1 200 OK\r\n\r\n",
     .error = ParseError::bad_status_line,
     .detail = "malformed status line \" \""},
    {.name = "endless_empty_lines_before_status_line",
     .input = std::string(100, '\n'),
     .max_header_bytes = 64,
     .error = ParseError::headers_too_large,
     .detail = "header section exceeds 64 bytes"},
    {.name = "lowercase_http_name",
     .input = "http/1.1 200 OK\r\n",
     .error = ParseError::bad_status_line,
     .detail = "malformed status line \"http/1.1 200 OK\""},
    {.name = "bad_version_format",
     .input = "HTTP/1.1x 200 OK\r\n",
     .error = ParseError::bad_status_line,
     .detail = "malformed status line \"HTTP/1.1x 200 OK\""},
    {.name = "bad_version_two_digits",
     .input = "HTTP/11 200 OK\r\n",
     .error = ParseError::bad_status_line,
     .detail = "malformed status line \"HTTP/11 200 OK\""},
    {.name = "unsupported_version",
     .input = "HTTP/2.0 200 OK\r\n",
     .error = ParseError::bad_status_line,
     .detail = "unsupported HTTP version in status line \"HTTP/2.0 200 OK\""},
    {.name = "two_spaces_before_status",
     .input = "HTTP/1.1  200 OK\r\n",
     .error = ParseError::bad_status_line,
     .detail = "malformed status line \"HTTP/1.1  200 OK\""},
    {.name = "four_digit_status",
     .input = "HTTP/1.1 2000 OK\r\n",
     .error = ParseError::bad_status_line,
     .detail = "malformed status line \"HTTP/1.1 2000 OK\""},
    {.name = "two_digit_status",
     .input = "HTTP/1.1 20 OK\r\n",
     .error = ParseError::bad_status_line,
     .detail = "malformed status line \"HTTP/1.1 20 OK\""},
    {.name = "status_below_100",
     .input = "HTTP/1.1 099 Low\r\n",
     .error = ParseError::bad_status_line,
     .detail = "status code out of range in status line \"HTTP/1.1 099 Low\""},
    {.name = "bare_cr_in_status_line",
     .input = "HTTP/1.1 200 O\rK\r\n",
     .error = ParseError::bad_status_line,
     .detail = "control character in status line \"HTTP/1.1 200 O\\x0dK\""},
    {.name = "cr_only_line_end",
     .input = "HTTP/1.1 200 OK\rContent-Length: 0\r\n",
     .error = ParseError::bad_status_line,
     .detail = "control character in status line \"HTTP/1.1 200 OK\\x0dContent-Length: 0\""},
    {.name = "header_without_colon",
     .input = kOkHead + "NoColon\r\n\r\n",
     .error = ParseError::bad_header,
     .detail = "field line without a colon \"NoColon\""},
    {.name = "space_before_colon",
     .input = kOkHead + "Name : v\r\n\r\n",
     .error = ParseError::bad_header,
     .detail = "whitespace before the colon in field line \"Name : v\""},
    {.name = "tab_before_colon",
     .input = kOkHead + "Name\t: v\r\n\r\n",
     .error = ParseError::bad_header,
     .detail = "whitespace before the colon in field line \"Name\\x09: v\""},
    {.name = "empty_field_name",
     .input = kOkHead + ": v\r\n\r\n",
     .error = ParseError::bad_header,
     .detail = "invalid field name in field line \": v\""},
    {.name = "separator_in_field_name",
     .input = kOkHead + "Na(me): v\r\n\r\n",
     .error = ParseError::bad_header,
     .detail = "invalid field name in field line \"Na(me): v\""},
    {.name = "whitespace_before_first_field",
     .input = kOkHead + "\tX: a\r\n\r\n",
     .error = ParseError::fold_without_field,
     .detail = "field line starts with whitespace before any field \"\\x09X: a\""},
    {.name = "whitespace_before_first_trailer_field",
     .input = kChunkedHead + "0\r\n T: 1\r\n\r\n",
     .error = ParseError::fold_without_field,
     .detail = "field line starts with whitespace before any field \" T: 1\""},
    {.name = "control_char_in_folded_value",
     .input = kOkHead + "X: a\r\n b\x01\r\n\r\n",
     .error = ParseError::bad_header,
     .detail = "control character in field value \" b\\x01\""},
    {.name = "control_char_in_value",
     .input = kOkHead + "X: a\x01"
                        "b\r\n\r\n",
     .error = ParseError::bad_header,
     .detail = "control character in field value \"X: a\\x01b\""},
    {.name = "nul_in_value",
     .input = kOkHead + "X: a\0b\r\n\r\n"s,
     .error = ParseError::bad_header,
     .detail = "control character in field value \"X: a\\x00b\""},
    {.name = "bare_cr_in_value",
     .input = kOkHead + "X: a\rb\r\n\r\n",
     .error = ParseError::bad_header,
     .detail = "control character in field value \"X: a\\x0db\""},
    {.name = "del_in_value",
     .input = kOkHead + "X: a\x7f\r\n\r\n",
     .error = ParseError::bad_header,
     .detail = "control character in field value \"X: a\\x7f\""},
    {.name = "conflicting_content_length_list",
     .input = kOkHead + "Content-Length: 5, 6\r\n\r\nhello",
     .error = ParseError::conflicting_content_length,
     .detail = "Content-Length values differ: 5 and 6"},
    {.name = "conflicting_content_length_repeated",
     .input = kOkHead + "Content-Length: 5\r\ncontent-length: 6\r\n\r\nhello",
     .error = ParseError::conflicting_content_length,
     .detail = "Content-Length values differ: 5 and 6"},
    {.name = "content_length_letters",
     .input = kOkHead + "Content-Length: abc\r\n\r\n",
     .error = ParseError::bad_content_length,
     .detail = "Content-Length is not a decimal number \"abc\""},
    {.name = "content_length_negative",
     .input = kOkHead + "Content-Length: -1\r\n\r\n",
     .error = ParseError::bad_content_length,
     .detail = "Content-Length is not a decimal number \"-1\""},
    {.name = "content_length_plus",
     .input = kOkHead + "Content-Length: +5\r\n\r\n",
     .error = ParseError::bad_content_length,
     .detail = "Content-Length is not a decimal number \"+5\""},
    {.name = "content_length_hex",
     .input = kOkHead + "Content-Length: 0x10\r\n\r\n",
     .error = ParseError::bad_content_length,
     .detail = "Content-Length is not a decimal number \"0x10\""},
    {.name = "content_length_empty",
     .input = kOkHead + "Content-Length:\r\n\r\n",
     .error = ParseError::bad_content_length,
     .detail = "Content-Length is not a decimal number \"\""},
    {.name = "content_length_empty_element",
     .input = kOkHead + "Content-Length: 5,\r\n\r\n",
     .error = ParseError::bad_content_length,
     .detail = "Content-Length is not a decimal number \"5,\""},
    {.name = "content_length_overflow",
     .input = kOkHead + "Content-Length: 18446744073709551616\r\n\r\n",
     .error = ParseError::bad_content_length,
     .detail = "Content-Length too large \"18446744073709551616\""},
    {.name = "chunked_twice",
     .input = kOkHead + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     .error = ParseError::bad_transfer_encoding,
     .detail = "chunked applied more than once"},
    {.name = "chunked_twice_not_adjacent",
     .input = kOkHead + "Transfer-Encoding: chunked, gzip, chunked\r\n\r\n",
     .error = ParseError::bad_transfer_encoding,
     .detail = "chunked applied more than once"},
    {.name = "chunked_twice_over_fields_not_adjacent",
     .input = kOkHead + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n",
     .error = ParseError::bad_transfer_encoding,
     .detail = "chunked applied more than once"},
    {.name = "chunked_not_final",
     .input = kOkHead + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
     .error = ParseError::bad_transfer_encoding,
     .detail = "chunked is not the final transfer coding"},
    {.name = "transfer_encoding_in_http_1_0",
     .input = "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
     .error = ParseError::bad_transfer_encoding,
     .detail = "Transfer-Encoding in an HTTP/1.0 response"},
    {.name = "invalid_transfer_coding",
     .input = kOkHead + "Transfer-Encoding: gz(ip), chunked\r\n\r\n",
     .error = ParseError::bad_transfer_encoding,
     .detail = "invalid transfer coding \"gz(ip)\""},
    {.name = "chunk_size_not_hex",
     .input = kChunkedHead + "zz\r\n",
     .error = ParseError::bad_chunk,
     .detail = "malformed chunk size line \"zz\""},
    {.name = "chunk_size_empty",
     .input = kChunkedHead + "\r\n",
     .error = ParseError::bad_chunk,
     .detail = "malformed chunk size line \"\""},
    {.name = "chunk_size_trailing_garbage",
     .input = kChunkedHead + "5x\r\nhello\r\n",
     .error = ParseError::bad_chunk,
     .detail = "malformed chunk size line \"5x\""},
    {.name = "chunk_size_trailing_whitespace_without_extension",
     .input = kChunkedHead + "5  \r\nhello\r\n",
     .error = ParseError::bad_chunk,
     .detail = "malformed chunk size line \"5  \""},
    {.name = "chunk_size_negative",
     .input = kChunkedHead + "-1\r\n",
     .error = ParseError::bad_chunk,
     .detail = "malformed chunk size line \"-1\""},
    {.name = "chunk_size_overflow",
     .input = kChunkedHead + "10000000000000000\r\n",
     .error = ParseError::bad_chunk,
     .detail = "chunk size too large \"10000000000000000\""},
    {.name = "chunk_extension_control_char",
     .input = kChunkedHead + "5;a\rb\r\nhello\r\n",
     .error = ParseError::bad_chunk,
     .detail = "malformed chunk size line \"5;a\\x0db\""},
    {.name = "missing_crlf_after_chunk_data",
     .input = kChunkedHead + "5\r\nhelloX\r\n0\r\n\r\n",
     .error = ParseError::bad_chunk,
     .detail = "expected CRLF after chunk data, got \"X\""},
    {.name = "lone_lf_after_chunk_data",
     .input = kChunkedHead + "5\r\nhello\n0\r\n\r\n",
     .error = ParseError::bad_chunk,
     .detail = "expected CRLF after chunk data, got \"\\x0a\""},
    {.name = "chunk_size_one_too_large_with_lone_lf",
     .input = kChunkedHead + "6\r\nhello\r\n0\r\n\r\n",
     .error = ParseError::bad_chunk,
     .detail = "expected CRLF after chunk data, got \"\\x0a\""},
    {.name = "cr_without_lf_after_chunk_data",
     .input = kChunkedHead + "5\r\nhello\rX",
     .error = ParseError::bad_chunk,
     .detail = "expected CRLF after chunk data, got \"X\""},
    {.name = "eof_before_anything",
     .input = "",
     .eof = true,
     .error = ParseError::unexpected_eof,
     .detail = "connection closed before the status line"},
    {.name = "eof_in_status_line",
     .input = "HTTP/1.1 20",
     .eof = true,
     .error = ParseError::unexpected_eof,
     .detail = "connection closed in the status line"},
    {.name = "eof_mid_headers",
     .input = kOkHead + "X: y\r\nContent-Le",
     .eof = true,
     .error = ParseError::unexpected_eof,
     .detail = "connection closed in the header section"},
    {.name = "eof_after_interim",
     .input = "HTTP/1.1 100 Continue\r\n\r\n",
     .eof = true,
     .error = ParseError::unexpected_eof,
     .detail = "connection closed before the status line"},
    {.name = "eof_mid_body",
     .input = kOkHead + "Content-Length: 10\r\n\r\nhello",
     .eof = true,
     .error = ParseError::unexpected_eof,
     .detail = "connection closed in the body after 5 of 10 bytes"},
    {.name = "eof_mid_chunk",
     .input = kChunkedHead + "a\r\nhello",
     .eof = true,
     .error = ParseError::unexpected_eof,
     .detail = "connection closed in a chunk after 5 of 10 bytes"},
    {.name = "eof_before_chunk_crlf",
     .input = kChunkedHead + "5\r\nhello\r",
     .eof = true,
     .error = ParseError::unexpected_eof,
     .detail = "connection closed before the CRLF after chunk data"},
    {.name = "eof_in_chunk_size_line",
     .input = kChunkedHead + "5\r\nhello\r\n",
     .eof = true,
     .error = ParseError::unexpected_eof,
     .detail = "connection closed in a chunk size line"},
    {.name = "eof_in_trailers",
     .input = kChunkedHead + "0\r\nT: 1\r\n",
     .eof = true,
     .error = ParseError::unexpected_eof,
     .detail = "connection closed in the trailer section"},
    {.name = "header_section_over_limit",
     .input = kOkHead + "X-Long: " + std::string(100, 'v') + "\r\n\r\n",
     .max_header_bytes = 64,
     .error = ParseError::headers_too_large,
     .detail = "header section exceeds 64 bytes"},
    {.name = "many_small_headers_over_limit",
     .input = kOkHead + "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\n\r\n",
     .max_header_bytes = 64,
     .error = ParseError::headers_too_large,
     .detail = "header section exceeds 64 bytes"},
    {.name = "interim_heads_count_against_limit",
     // 23 + 2 bytes of interim head, then 17 + 21 + 2 of the final one: 65 in all.
     .input = "HTTP/1.1 100 Continue\r\n\r\n" + kOkHead + "Content-Length: 000\r\n\r\n",
     .max_header_bytes = 64,
     .error = ParseError::headers_too_large,
     .detail = "header section exceeds 64 bytes"},
    {.name = "trailers_over_limit",
     .input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + std::string(60, 'T') +
              ": 1\r\n\r\n",
     .max_header_bytes = 64,
     .error = ParseError::headers_too_large,
     .detail = "trailer section exceeds 64 bytes"},
    {.name = "chunk_size_line_over_limit",
     .input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + std::string(70, 'e') +
              "\r\nhello\r\n0\r\n\r\n",
     .max_header_bytes = 64,
     .error = ParseError::bad_chunk,
     .detail = "chunk size line exceeds 64 bytes"},
    {.name = "error_in_final_head_after_interim",
     .input = "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
     .error = ParseError::bad_header,
     .detail = "field line without a colon \"Bad Header\""},
};

INSTANTIATE_TEST_SUITE_P(ResponseParser, ResponseParserError, ::testing::ValuesIn(kErrorCases),
                         [](const auto& test) { return test.param.name; });

// ---------------------------------------------------------------------------------------------
// Limits, state and the error category

// The head limit counts every byte up to and including the blank line: exactly at it passes.
TEST(ResponseParser, HeaderLimitIsInclusive) {
  const std::string input = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  const auto at_limit = run_whole(input, false, {.max_header_bytes = input.size()}, false);
  EXPECT_EQ(at_limit.status, Status::complete) << at_limit.detail;
  const auto over = run_whole(input, false, {.max_header_bytes = input.size() - 1}, false);
  EXPECT_EQ(over.status, Status::error);
  EXPECT_EQ(over.error, ParseError::headers_too_large);
  expect_split_invariant(input, false, {.max_header_bytes = input.size() - 1}, false);
}

// Feeds `prefix` and then `filler` in 1 KiB pieces (up to 8 MiB); the head limit must stop it
// within one piece of the limit, however long the peer keeps going.
std::size_t bytes_consumed_until_error(const std::string& prefix, char filler_byte,
                                       std::size_t limit) {
  ResponseParser parser({.max_header_bytes = limit}, false);
  EXPECT_EQ(parser.feed(prefix), Status::need_more);
  std::size_t fed = prefix.size();
  const std::string piece(1024, filler_byte);
  while (fed < 8 * 1024 * 1024 && parser.feed(piece) == Status::need_more)
    fed += piece.size();
  fed += piece.size();
  EXPECT_EQ(parser.status(), Status::error);
  EXPECT_EQ(parser.error(), ParseError::headers_too_large);
  EXPECT_EQ(parser.error_detail(), "header section exceeds " + std::to_string(limit) + " bytes");
  return fed;
}

TEST(ResponseParser, EndlessHeaderLineStopsAtLimit) {
  const std::size_t limit = 64 * 1024;
  const auto fed = bytes_consumed_until_error(kOkHead + "X-Endless: ", 'a', limit);
  EXPECT_GT(fed, limit);
  EXPECT_LE(fed, limit + 1024);
}

TEST(ResponseParser, EndlessStatusLineStopsAtLimit) {
  const std::size_t limit = 16 * 1024;
  const auto fed = bytes_consumed_until_error("HTTP/1.1 200 ", 'r', limit);
  EXPECT_GT(fed, limit);
  EXPECT_LE(fed, limit + 1024);
}

TEST(ResponseParser, EndlessHeaderLinesStopAtLimit) {
  const std::size_t limit = 64 * 1024;
  ResponseParser parser({.max_header_bytes = limit}, false);
  parser.feed(kOkHead);
  std::string piece;
  while (piece.size() < 1024)
    piece += "X-Many: header-value\r\n";  // 22 bytes a line
  std::size_t fed = kOkHead.size();
  while (fed < 8 * 1024 * 1024 && parser.feed(piece) == Status::need_more)
    fed += piece.size();
  fed += piece.size();
  EXPECT_EQ(parser.error(), ParseError::headers_too_large);
  EXPECT_GT(fed, limit);
  EXPECT_LE(fed, limit + piece.size());
  // Only complete lines within the limit were kept.
  EXPECT_EQ(parser.response().headers.size(), (limit - kOkHead.size()) / 22);
}

TEST(ResponseParser, HeadersCompleteOnlyForTheFinalHead) {
  ResponseParser parser({}, false);
  EXPECT_EQ(parser.feed("HTTP/1.1 100 Continue\r\n\r\n"), Status::need_more);
  EXPECT_FALSE(parser.headers_complete());
  EXPECT_EQ(parser.feed("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n"), Status::need_more);
  EXPECT_FALSE(parser.headers_complete());
  EXPECT_EQ(parser.feed("\r\nab"), Status::need_more);
  EXPECT_TRUE(parser.headers_complete());
  EXPECT_EQ(parser.response().status, 200);
  EXPECT_EQ(parser.response().body_bytes, 2u);
  EXPECT_EQ(parser.feed("cdEXTRA"), Status::complete);
  EXPECT_EQ(parser.response().body_bytes, 4u);
  EXPECT_EQ(parser.finish(), Status::complete);
  EXPECT_FALSE(parser.error());
}

TEST(ResponseParser, ReadUntilCloseCompletesOnlyAtFinish) {
  ResponseParser parser({.keep_body = true}, false);
  EXPECT_EQ(parser.feed("HTTP/1.1 200 OK\r\n\r\nabc"), Status::need_more);
  EXPECT_EQ(parser.feed("def"), Status::need_more);
  EXPECT_EQ(parser.finish(), Status::complete);
  EXPECT_EQ(parser.feed("ghi"), Status::complete);
  const ParsedResponse response = parser.take_response();
  EXPECT_EQ(response.body, "abcdef");
  EXPECT_EQ(response.body_bytes, 6u);
}

TEST(ResponseParser, LargeBodyKeptExactlyUpToLimit) {
  std::string body;
  for (int i = 0; body.size() < 300000; ++i)
    body += std::to_string(i) + ",";
  const std::string input =
      kOkHead + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  const std::size_t limit = 100000;
  ResponseParser parser({.max_body_bytes = limit, .keep_body = true}, false);
  Status status = Status::need_more;
  for (std::size_t pos = 0; pos < input.size() && status == Status::need_more; pos += 4096) {
    status = parser.feed(std::string_view(input).substr(pos, 4096));
  }
  EXPECT_EQ(status, Status::complete);
  EXPECT_TRUE(parser.response().body_truncated);
  EXPECT_EQ(parser.response().body_bytes, limit);
  EXPECT_EQ(parser.response().body, body.substr(0, limit));
}

TEST(ResponseParser, ErrorCategory) {
  const std::error_code error = ParseError::conflicting_content_length;
  EXPECT_EQ(error, make_error_code(ParseError::conflicting_content_length));
  EXPECT_STREQ(error.category().name(), "http.parse");
  EXPECT_EQ(&error.category(), &parse_error_category());
  EXPECT_EQ(error.message(), "conflicting Content-Length values");
  EXPECT_EQ(make_error_code(ParseError::unexpected_eof).message(),
            "connection closed before the response was complete");
  std::vector<std::string> messages;
  for (int value = static_cast<int>(ParseError::bad_status_line);
       value <= static_cast<int>(ParseError::unexpected_eof); ++value) {
    const auto message = make_error_code(static_cast<ParseError>(value)).message();
    EXPECT_FALSE(message.empty());
    EXPECT_EQ(std::count(messages.begin(), messages.end(), message), 0) << message;
    messages.push_back(message);
  }
  EXPECT_EQ(messages.size(), 9u);
}

}  // namespace
}  // namespace fetchd::http
