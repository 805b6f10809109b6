#pragma once

// A loopback socket that never answers, for timeouts: over TCP it listens and never accepts (a
// connection sits in the kernel's backlog, a fetch of it runs until its deadline); over UDP it
// never reads (a DNS question to it gets no reply, not a refusal).

#include <chrono>
#include <cstdint>
#include <string>

namespace fetchd::test {

class SilentSocket {
 public:
  enum class Protocol { tcp, udp };

  // Binds 127.0.0.1 on an ephemeral port; throws std::runtime_error if it cannot.
  explicit SilentSocket(Protocol protocol);
  ~SilentSocket();
  SilentSocket(const SilentSocket&) = delete;
  SilentSocket& operator=(const SilentSocket&) = delete;

  std::uint16_t port() const { return port_; }
  // "127.0.0.1:<port>" (a DNS server address), "http://127.0.0.1:<port>/" (a target).
  std::string address() const;
  std::string url() const;
  // Something arrived (a connection in the backlog, a datagram), left unanswered; false when
  // `timeout` passes first.
  bool wait_for_arrival(std::chrono::milliseconds timeout) const;

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace fetchd::test
