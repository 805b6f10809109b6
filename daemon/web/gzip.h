#pragma once

// gzip of a streamed body with ISA-L's igzip (Debian's libisal2): Prometheus asks for it on every
// scrape, and the exposition — the same label sets over and over — shrinks about fifteenfold.
// Level 1, the fastest that matches: at 100,000 targets (245 MB) zlib's level 1 took 1.6 s of CPU,
// igzip's level 1 takes 0.15 s for a slightly smaller output (bench/scrape.sh; the commit that
// chose it has the figures).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fetchd::web {

class Gzip {
 public:
  Gzip();
  ~Gzip();
  Gzip(const Gzip&) = delete;
  Gzip& operator=(const Gzip&) = delete;

  // Compressed bytes for `input`, flushed to a byte boundary (a sync flush): every piece of a
  // streamed body yields bytes, so the writer returns to the loop after each instead of feeding
  // the compressor piece after piece until it emits something. Costs a few bytes per piece.
  std::string compress(std::string_view input);
  // The rest, and the gzip trailer. Call once, last.
  std::string finish();

 private:
  std::string run(std::string_view input, bool last);
  struct Stream;
  std::unique_ptr<Stream> stream_;
  std::vector<std::uint8_t> level_buffer_;  // igzip's working memory for level 1
};

}  // namespace fetchd::web
