#include "support/silent_socket.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace fetchd::test {

SilentSocket::SilentSocket(Protocol protocol)
    : fd_(::socket(AF_INET, (protocol == Protocol::tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC,
                   0)) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), size) != 0 ||
      (protocol == Protocol::tcp && ::listen(fd_, 16) != 0) ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    if (fd_ >= 0)
      ::close(fd_);
    throw std::runtime_error("cannot bind a silent socket on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
}

SilentSocket::~SilentSocket() {
  ::close(fd_);
}

std::string SilentSocket::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::string SilentSocket::url() const {
  return "http://" + address() + "/";
}

bool SilentSocket::wait_for_arrival(std::chrono::milliseconds timeout) const {
  pollfd ready{.fd = fd_, .events = POLLIN, .revents = 0};
  return ::poll(&ready, 1, static_cast<int>(timeout.count())) == 1;
}

}  // namespace fetchd::test
