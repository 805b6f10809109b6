// fetchd: entry point. Picks the mode and wires the parts; nothing else knows about it.

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/version.h"
#include "once/once.h"

namespace {

void print_usage(std::FILE* out) {
  std::fprintf(
      out,
      "fetchd %s — HTTP(S) probe daemon\n"
      "usage: fetchd once [options] URL...   fetch URLs concurrently and print the headers\n"
      "       fetchd --version\n\n",
      fetchd::kVersion);
  fetchd::once::print_usage(out);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_usage(stderr);
    return 2;
  }
  if (args[0] == "--version") {
    std::printf("fetchd %s\n", fetchd::kVersion);
    return 0;
  }
  if (args[0] == "--help" || args[0] == "-h") {
    print_usage(stdout);
    return 0;
  }
  if (args[0] == "once")
    return fetchd::once::run({args.begin() + 1, args.end()});
  std::fprintf(stderr, "fetchd: unknown mode \"%s\"\n", args[0].c_str());
  print_usage(stderr);
  return 2;
}
