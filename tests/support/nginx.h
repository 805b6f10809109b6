#pragma once

// A real nginx (/usr/sbin/nginx) for end-to-end fetches: plain HTTP and HTTPS (the test PKI's
// `valid` leaf) on ephemeral 127.0.0.1 ports, from a private temp prefix. nginx runs as a child
// process group; a watchdog process kills that group if the test process dies without cleaning up.
//
// Served: /index.html (and /) of exactly 1024 bytes, /big.bin of 3 MiB, /redirect (302 to /),
// /nocontent (204). Other files may be added under docroot(). Requests are logged (access_log()).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "support/temp_dir.h"

namespace fetchd::test {

class NginxServer {
 public:
  static constexpr std::size_t kIndexSize = 1024;
  static constexpr std::size_t kBigSize = 3 * 1024 * 1024;
  // The exact contents served as /index.html and /big.bin.
  static std::string index_html();
  static std::string big_bin();

  // Returns once both ports accept connections. Throws std::runtime_error with nginx's error.log
  // if nginx does not get there within 10 s (three attempts with fresh ports when a port was taken
  // between choosing and binding it).
  NginxServer();
  // SIGTERM, then SIGKILL to the whole group after 5 s; reaps nginx and removes the prefix.
  ~NginxServer();
  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;

  std::uint16_t http_port() const { return http_port_; }
  std::uint16_t https_port() const { return https_port_; }
  // "http://127.0.0.1:<http_port><path>", or https and https_port() when `tls`.
  std::string url(std::string_view path, bool tls = false) const;
  std::filesystem::path docroot() const { return prefix_.path() / "html"; }
  // "<epoch seconds.ms> <request URI>" per request served, written as each is answered.
  std::filesystem::path access_log() const { return prefix_.path() / "access.log"; }

 private:
  bool start_once();  // false: nginx exited or did not get ready in time; see error.log
  void terminate();   // idempotent

  TempDir prefix_{"fetchd-nginx"};
  std::uint16_t http_port_ = 0;
  std::uint16_t https_port_ = 0;
  pid_t master_ = -1;  // also the process group id of nginx and the watchdog
  pid_t watchdog_ = -1;
  int master_fd_ = -1;  // pidfd of master_: readable once it exits
  int lifeline_ = -1;   // write end of a pipe; the watchdog acts when it reads EOF from it
};

}  // namespace fetchd::test
