// The response parser on any bytes: it must never crash, and the outcome must not depend on how
// the bytes arrive — whole, split at points the fuzzer chooses, or one byte at a time.
//
// Input: one byte of options (HEAD or not; keep the body; small limits or the defaults; EOF at the
// end or not), two bytes of split seed, then the response bytes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/response_parser.h"

namespace {

using fetchd::http::ParsedResponse;
using fetchd::http::ParserLimits;
using fetchd::http::ResponseParser;

std::string describe(const fetchd::http::Headers& headers) {
  std::string out;
  for (const auto& header : headers)
    out.append(header.name).append(1, '\0').append(header.value).append(1, '\0');
  return out;
}

// Everything observable of a run, as one string.
std::string run(const std::vector<std::string_view>& pieces, bool eof, const ParserLimits& limits,
                bool head) {
  ResponseParser parser(limits, head);
  for (const auto piece : pieces)
    parser.feed(piece);
  if (eof)
    parser.finish();
  const ParsedResponse& r = parser.response();
  std::string out = std::to_string(static_cast<int>(parser.status())) + "|" +
                    parser.error().message() + "|" + parser.error_detail() + "|" +
                    std::to_string(parser.headers_complete()) + "|" +
                    std::to_string(r.version_major) + "." + std::to_string(r.version_minor) + "|" +
                    std::to_string(r.status) + "|" + r.reason + "|" + describe(r.headers) + "|" +
                    describe(r.trailers) + "|";
  for (int status : r.interim_statuses)
    out += std::to_string(status) + ",";
  out += "|" + std::to_string(r.body_bytes) + "|" + std::to_string(r.body_truncated) + "|" + r.body;
  if (r.body.size() > limits.max_body_bytes || r.body_bytes > limits.max_body_bytes)
    __builtin_trap();  // the body limit is a memory bound
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3)
    return 0;
  const std::uint8_t options = data[0];
  const unsigned seed = data[1] | (data[2] << 8);
  const std::string_view input(reinterpret_cast<const char*>(data + 3), size - 3);
  const bool head = (options & 1) != 0;
  const bool eof = (options & 2) != 0;
  ParserLimits limits;
  limits.keep_body = (options & 4) != 0;
  if ((options & 8) != 0) {
    limits.max_header_bytes = 64 + (options >> 4) * 16;
    limits.max_body_bytes = options >> 4;
  }

  const std::string whole = run({input}, eof, limits, head);

  // Split points chosen by the seed: a small linear congruential walk over the input.
  std::vector<std::string_view> pieces;
  std::size_t at = 0;
  unsigned state = seed;
  while (at < input.size()) {
    state = state * 1103515245u + 12345u;
    const std::size_t length = 1 + (state >> 16) % 17;
    pieces.push_back(input.substr(at, length));
    at += length;
  }
  if (run(pieces, eof, limits, head) != whole)
    __builtin_trap();

  pieces.clear();
  for (std::size_t i = 0; i < input.size(); ++i)
    pieces.push_back(input.substr(i, 1));
  if (run(pieces, eof, limits, head) != whole)
    __builtin_trap();
  return 0;
}
