// fetchd's response parser as a command, for comparing it with other parsers (h11, llhttp's test
// cases): each file named on the command line is parsed as one response, its bytes fed whole and
// then end of input, and one JSON line per file says what the parser made of it.
//
//   fetchd_parse_response [--head] FILE...
//   {"file": "...", "outcome": "complete"|"error"|"incomplete", "error": "bad_chunk",
//    "detail": "...", "version": "1.1", "status": 200, "reason": "OK", "headers": [["Name", "v"]],
//    "trailers": [...], "interim": [100], "body": "<latin-1 as UTF-8>"}
//
// Bodies and values are bytes; they are written as code points U+0000-U+00FF (latin-1), so every
// input survives the trip through JSON unchanged.

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/response_parser.h"

namespace {

using fetchd::http::ParseError;
using fetchd::http::ResponseParser;
using nlohmann::json;

std::string latin1(std::string_view bytes) {
  std::string out;
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80) {
      out += c;
    } else {
      out += static_cast<char>(0xC0 | (byte >> 6));
      out += static_cast<char>(0x80 | (byte & 0x3F));
    }
  }
  return out;
}

json fields(const fetchd::http::Headers& headers) {
  json out = json::array();
  for (const auto& header : headers)
    out.push_back({latin1(header.name), latin1(header.value)});
  return out;
}

const char* error_name(std::error_code error) {
  switch (static_cast<ParseError>(error.value())) {
    case ParseError::bad_status_line:
      return "bad_status_line";
    case ParseError::bad_header:
      return "bad_header";
    case ParseError::fold_without_field:
      return "fold_without_field";
    case ParseError::bad_content_length:
      return "bad_content_length";
    case ParseError::conflicting_content_length:
      return "conflicting_content_length";
    case ParseError::bad_transfer_encoding:
      return "bad_transfer_encoding";
    case ParseError::bad_chunk:
      return "bad_chunk";
    case ParseError::headers_too_large:
      return "headers_too_large";
    case ParseError::unexpected_eof:
      return "unexpected_eof";
  }
  return "unknown";
}

json parse(const std::string& bytes, bool head) {
  ResponseParser parser({.keep_body = true}, head);
  parser.feed(bytes);
  parser.finish();
  json out;
  switch (parser.status()) {
    case ResponseParser::Status::complete:
      out["outcome"] = "complete";
      break;
    case ResponseParser::Status::error:
      out["outcome"] = "error";
      out["error"] = error_name(parser.error());
      out["detail"] = parser.error_detail();
      break;
    case ResponseParser::Status::need_more:
      out["outcome"] = "incomplete";
      break;
  }
  const auto& response = parser.response();
  if (parser.headers_complete()) {
    out["version"] =
        std::to_string(response.version_major) + "." + std::to_string(response.version_minor);
    out["status"] = response.status;
    out["reason"] = latin1(response.reason);
    out["headers"] = fields(response.headers);
    out["trailers"] = fields(response.trailers);
    out["body"] = latin1(response.body);
    out["body_truncated"] = response.body_truncated;
  }
  out["interim"] = response.interim_statuses;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  bool head = false;
  int status = 0;
  for (const auto& arg : args) {
    if (arg == "--head") {
      head = true;
      continue;
    }
    std::ifstream file(arg, std::ios::binary);
    if (!file) {
      std::cerr << "fetchd_parse_response: cannot read " << arg << "\n";
      status = 2;
      continue;
    }
    const std::string bytes((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
    json line = parse(bytes, head);
    line["file"] = arg;
    std::cout << line.dump() << "\n";
  }
  return status;
}
