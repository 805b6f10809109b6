#pragma once

// The retry options of resolv.conf(5) (`options timeout:N attempts:N`, and the RES_OPTIONS
// environment variable after the file, as glibc reads them), so that fetchd waits for an unanswered
// name as long as the rest of the system does. c-ares is told the result explicitly instead of
// being left to its own defaults (5 s and 4 tries in c-ares 1.18, where glibc has 5 s and 2).

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

namespace fetchd::dns {

struct RetryOptions {
  std::chrono::milliseconds timeout{5000};  // per try; glibc's RES_TIMEOUT
  int attempts = 2;                         // tries per server; glibc's RES_DFLRETRY
  // Where they came from, for the start-up log: "defaults", "/etc/resolv.conf", "RES_OPTIONS",
  // "configuration".
  std::string source = "defaults";
};

// Applies the `timeout:` and `attempts:` of every `options` line of resolv.conf text, the last one
// winning, within glibc's bounds (timeout 1..30 s, attempts 1..5). Other options are left alone.
void apply_resolv_conf(std::string_view text, std::string_view source, RetryOptions& options);
// The same for RES_OPTIONS' value ("timeout:1 attempts:3").
void apply_res_options(std::string_view value, RetryOptions& options);

// The file (missing or unreadable: the defaults), then RES_OPTIONS from the environment.
RetryOptions system_retry_options(const std::filesystem::path& resolv_conf);

}  // namespace fetchd::dns
