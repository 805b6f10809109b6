#include "web/gzip.h"

#include <array>
#include <isa-l/igzip_lib.h>
#include <stdexcept>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace fetchd::web {

namespace {

// ISA-L's AVX2 and AVX-512 code returns with the upper halves of the vector registers dirty (no
// VZEROUPPER), and from then on every SSE instruction of the thread pays to merge them: after one
// gzip scrape, the next scrape of 100,000 targets, gzip or not, took 1.45 s of CPU instead of
// 0.65 s (bench/scrape.sh), and so did the rest of the loop's work. Clearing them after each call
// costs nothing. Only where AVX exists: without it ISA-L runs its SSE code, and VZEROUPPER would
// be an invalid instruction.
#if defined(__x86_64__)
__attribute__((target("avx"))) void clear_upper_vector_state() {
  _mm256_zeroupper();
}
const bool kHasAvx = __builtin_cpu_supports("avx") != 0;
#endif

int deflate(isal_zstream& z) {
  const int status = isal_deflate(&z);
#if defined(__x86_64__)
  if (kHasAvx)
    clear_upper_vector_state();
#endif
  return status;
}

}  // namespace

struct Gzip::Stream {
  isal_zstream z{};
};

Gzip::Gzip() : stream_(std::make_unique<Stream>()), level_buffer_(ISAL_DEF_LVL1_DEFAULT) {
  auto& z = stream_->z;
  isal_deflate_init(&z);
  z.level = 1;
  z.level_buf = level_buffer_.data();
  z.level_buf_size = static_cast<std::uint32_t>(level_buffer_.size());
  z.gzip_flag = IGZIP_GZIP;
  z.flush = SYNC_FLUSH;
}

Gzip::~Gzip() = default;

std::string Gzip::compress(std::string_view input) {
  return run(input, false);
}

std::string Gzip::finish() {
  return run({}, true);
}

std::string Gzip::run(std::string_view input, bool last) {
  auto& z = stream_->z;
  // igzip's interface is not const-correct; it does not write to the input.
  z.next_in = reinterpret_cast<std::uint8_t*>(const_cast<char*>(input.data()));  // NOLINT
  z.avail_in = static_cast<std::uint32_t>(input.size());
  z.end_of_stream = last ? 1 : 0;
  std::string out;
  std::array<char, std::size_t{16} * 1024> buffer{};
  // Done when igzip returns with room to spare in the output (so nothing of the flush is held
  // back) and, last, has written the trailer.
  const auto flushed = [&z, last] {
    return z.avail_in == 0 && z.avail_out > 0 && (!last || z.internal_state.state == ZSTATE_END);
  };
  do {
    z.next_out = reinterpret_cast<std::uint8_t*>(buffer.data());
    z.avail_out = static_cast<std::uint32_t>(buffer.size());
    if (deflate(z) != COMP_OK)
      throw std::logic_error("igzip: isal_deflate refused its stream");
    out.append(buffer.data(), buffer.size() - z.avail_out);
  } while (!flushed());
  return out;
}

}  // namespace fetchd::web
