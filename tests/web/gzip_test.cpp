// The streamed gzip of /metrics, inflated by a second implementation (zlib): every piece yields
// bytes that inflate to exactly that piece (the sync flush), and the whole is one gzip member with
// a trailer zlib accepts.

#include "web/gzip.h"

#include <array>
#include <optional>
#include <stdexcept>
#include <string>
#include <zlib.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include <gtest/gtest.h>

namespace fetchd::web {
namespace {

// Inflates a gzip stream fed in parts; `ended` tells whether the trailer (CRC and length) was
// reached and checked.
class Inflater {
 public:
  Inflater() {
    if (inflateInit2(&z_, 15 + 16) != Z_OK)
      throw std::runtime_error("inflateInit2");
  }
  ~Inflater() { inflateEnd(&z_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  std::string feed(const std::string& compressed) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));  // NOLINT
    z_.avail_in = static_cast<uInt>(compressed.size());
    std::string out;
    std::array<char, 4096> buffer{};
    while (z_.avail_in > 0 && !ended) {
      z_.next_out = reinterpret_cast<Bytef*>(buffer.data());
      z_.avail_out = static_cast<uInt>(buffer.size());
      const int status = inflate(&z_, Z_SYNC_FLUSH);
      if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR)
        throw std::runtime_error(std::string("inflate: ") + (z_.msg ? z_.msg : "error"));
      out.append(buffer.data(), buffer.size() - z_.avail_out);
      ended = status == Z_STREAM_END;
      if (status == Z_BUF_ERROR && z_.avail_out > 0)
        break;
    }
    return out;
  }
  bool ended = false;

 private:
  z_stream z_{};
};

std::string exposition_like(std::size_t lines, std::size_t seed) {
  std::string text;
  for (std::size_t i = 0; i < lines; ++i) {
    text += "probe_success{name=\"t" + std::to_string(seed * 100000 + i) + "\",group=\"g" +
            std::to_string(i % 10) + "\"} " + std::to_string((i * 7919 + seed) % 2) + "\n";
  }
  return text;
}

TEST(Gzip, EveryPieceInflatesToItselfAndTheStreamEndsWithAValidTrailer) {
  Gzip gzip;
  Inflater inflater;
  std::size_t compressed_bytes = 0;
  std::size_t plain_bytes = 0;
  for (std::size_t piece = 0; piece < 20; ++piece) {
    const auto plain = exposition_like(1500, piece);
    const auto compressed = gzip.compress(plain);
    ASSERT_FALSE(compressed.empty()) << "piece " << piece;
    EXPECT_EQ(inflater.feed(compressed), plain) << "piece " << piece;
    EXPECT_FALSE(inflater.ended);
    compressed_bytes += compressed.size();
    plain_bytes += plain.size();
  }
  EXPECT_EQ(inflater.feed(gzip.finish()), "");
  EXPECT_TRUE(inflater.ended);
  // The label sets repeat: a tenth is a loose bound on what level 1 gives such text.
  EXPECT_LT(compressed_bytes * 10, plain_bytes);
}

TEST(Gzip, EmptyPiecesAndAPieceLargerThanTheOutputBufferRoundTrip) {
  Gzip gzip;
  Inflater inflater;
  std::string inflated = inflater.feed(gzip.compress(""));
  // Incompressible bytes larger than any internal buffer: the output needs several rounds.
  std::string noise;
  std::uint32_t state = 12345;
  for (std::size_t i = 0; i < std::size_t{300} * 1024; ++i) {
    state = state * 1664525U + 1013904223U;
    noise += static_cast<char>(state >> 24);
  }
  inflated += inflater.feed(gzip.compress(noise));
  inflated += inflater.feed(gzip.compress(""));
  inflated += inflater.feed(gzip.finish());
  EXPECT_TRUE(inflater.ended);
  EXPECT_EQ(inflated, noise);
}

TEST(Gzip, AStreamFinishedAtOnceIsAnEmptyMember) {
  Gzip gzip;
  Inflater inflater;
  EXPECT_EQ(inflater.feed(gzip.finish()), "");
  EXPECT_TRUE(inflater.ended);
}

#if defined(__x86_64__)
// XINUSE (XGETBV with ECX=1) says which register states are not in their initial state; bit 2 is
// the upper halves of the YMM registers. Nullopt where the processor cannot say.
__attribute__((target("xsave"))) std::optional<bool> upper_vector_state_dirty() {
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  if (__get_cpuid_count(0xd, 1, &eax, &ebx, &ecx, &edx) == 0 || (eax & (1U << 2)) == 0)
    return std::nullopt;
  return (_xgetbv(1) & (1U << 2)) != 0;
}

// Regression (bench/scrape.sh): ISA-L's vector code returned with the upper halves of the YMM
// registers dirty, and every SSE instruction after it paid to merge them: the next scrape cost
// 2.3 times the CPU. compress() leaves them clean.
TEST(Gzip, LeavesTheUpperVectorStateClean) {
  Gzip gzip;
  const auto plain = exposition_like(1500, 1);
  const auto compressed = gzip.compress(plain);
  const auto dirty = upper_vector_state_dirty();
  if (!dirty)
    GTEST_SKIP() << "this processor does not report XINUSE";
  EXPECT_FALSE(*dirty);
  EXPECT_FALSE(compressed.empty());
}
#endif

}  // namespace
}  // namespace fetchd::web
