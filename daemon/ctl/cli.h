#pragma once

// fetchctl from the command line to the exit status: parse, build the request, one round trip,
// print the reply for people (or as-is with --json), map the outcome to an exit code (options.h).

#include <string>
#include <vector>

namespace fetchd::ctl {

// `args` excludes argv[0]. Reads FETCHD_SOCKET and NO_COLOR, writes stdout and stderr.
int run(const std::vector<std::string>& args);

}  // namespace fetchd::ctl
