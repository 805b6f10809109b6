// fetchctl: the control client of fetchd (docs/control-protocol.md).

#include <string>
#include <vector>

#include "ctl/cli.h"

int main(int argc, char** argv) {
  return fetchd::ctl::run(std::vector<std::string>(argv + 1, argv + argc));
}
