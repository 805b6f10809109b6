#pragma once

// `fetchd once URL...`: fetch every URL concurrently on one event loop, print each response's
// status line and header lines as they arrive (`<host> header > <line>`), then a timing summary;
// or, with
// --json, one JSON array of FetchResults. Exit status 0 when every fetch succeeded, 1 otherwise,
// 2 on a usage error.

#include <cstdio>
#include <string>
#include <vector>

namespace fetchd::once {

int run(const std::vector<std::string>& args);
void print_usage(std::FILE* out);

}  // namespace fetchd::once
