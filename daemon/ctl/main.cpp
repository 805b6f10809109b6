// fetchctl: the control client of fetchd (docs/control-protocol.md).

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "ctl/cli.h"

int main(int argc, char** argv) {
  // Expected failures are exit codes from run(); what escapes is out of memory or a bug, and ends
  // in one line rather than std::terminate's abort.
  try {
    return fetchd::ctl::run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fetchctl: %s\n", error.what());
  } catch (...) {
    std::fprintf(stderr, "fetchctl: an unknown exception\n");
  }
  return 1;
}
