#pragma once

// gzip of a streamed body with zlib (Debian's zlib1g): Prometheus asks for it on every scrape, and
// the exposition — the same label sets over and over — shrinks about tenfold. Level 1: the
// scrape's CPU matters more than the last few percent of bytes.

#include <memory>
#include <string>
#include <string_view>

namespace fetchd::web {

class Gzip {
 public:
  Gzip();
  ~Gzip();
  Gzip(const Gzip&) = delete;
  Gzip& operator=(const Gzip&) = delete;

  // Compressed bytes for `input`, flushed to a byte boundary (Z_SYNC_FLUSH): every piece of a
  // streamed body yields bytes, so the writer returns to the loop after each instead of feeding
  // zlib piece after piece until it emits something. Costs a few bytes per 64 KiB piece.
  std::string compress(std::string_view input);
  // The rest, and the gzip trailer. Call once, last.
  std::string finish();

 private:
  std::string run(std::string_view input, int flush);
  struct Stream;
  std::unique_ptr<Stream> stream_;
};

}  // namespace fetchd::web
