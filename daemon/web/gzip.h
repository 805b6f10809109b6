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

  // Compressed bytes for `input` so far (possibly none: zlib buffers).
  std::string compress(std::string_view input);
  // The rest, and the gzip trailer. Call once, last.
  std::string finish();

 private:
  std::string run(std::string_view input, int flush);
  struct Stream;
  std::unique_ptr<Stream> stream_;
};

}  // namespace fetchd::web
