#pragma once

// The control protocol's constants that fetchctl shares with the daemon, in one place: this header
// includes nothing of the daemon (no Asio, no JSON), so daemon/ctl, which links none of the daemon,
// can include it too.

#include <cstddef>
#include <string_view>

namespace fetchd::control {

// Where the daemon listens and fetchctl connects unless told otherwise (control_socket,
// --socket, FETCHD_SOCKET); packaging/fetchd.socket and the man pages name it too.
inline constexpr std::string_view kDefaultSocketPath = "/run/fetchd/control.sock";
// A request line, its newline included.
inline constexpr std::size_t kMaxRequestLine = std::size_t{64} * 1024;

}  // namespace fetchd::control
