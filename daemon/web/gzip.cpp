#include "web/gzip.h"

#include <array>
#include <stdexcept>
#include <zlib.h>

namespace fetchd::web {

namespace {
constexpr int kGzipWindow = 15 + 16;  // the largest window, with a gzip header and trailer
constexpr int kMemoryLevel = 8;
}  // namespace

struct Gzip::Stream {
  z_stream z{};
};

Gzip::Gzip() : stream_(std::make_unique<Stream>()) {
  if (deflateInit2(&stream_->z, 1, Z_DEFLATED, kGzipWindow, kMemoryLevel, Z_DEFAULT_STRATEGY) !=
      Z_OK)
    throw std::runtime_error("zlib: deflateInit2 failed");
}

Gzip::~Gzip() {
  deflateEnd(&stream_->z);
}

std::string Gzip::compress(std::string_view input) {
  return run(input, Z_SYNC_FLUSH);
}

std::string Gzip::finish() {
  return run({}, Z_FINISH);
}

std::string Gzip::run(std::string_view input, int flush) {
  auto& z = stream_->z;
  // zlib's interface is not const-correct; it does not write to the input.
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));  // NOLINT
  z.avail_in = static_cast<uInt>(input.size());
  std::string out;
  std::array<char, std::size_t{16} * 1024> buffer{};
  do {
    z.next_out = reinterpret_cast<Bytef*>(buffer.data());
    z.avail_out = static_cast<uInt>(buffer.size());
    const int status = deflate(&z, flush);
    if (status == Z_STREAM_ERROR)
      throw std::logic_error("zlib: deflate on a broken stream");
    out.append(buffer.data(), buffer.size() - z.avail_out);
  } while (z.avail_out == 0 || z.avail_in > 0);
  return out;
}

}  // namespace fetchd::web
