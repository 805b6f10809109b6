#pragma once

// The control socket from fetchctl: one round trip (exchange), or a connection read line by line
// (watch, wait). Blocking, but bounded: connect by SO_SNDTIMEO, the rest by poll() against a
// deadline, a line by its maximum size.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace fetchd::ctl {

// A `list` of 10,000 targets is about 5 MB; this leaves room and still bounds memory.
inline constexpr std::size_t kMaxReplyBytes = std::size_t{64} * 1024 * 1024;

enum class ReadEnd { timeout, closed, closed_mid_line, too_large, failed };
struct ReadFailure {
  ReadEnd end;
  std::string message;
};

class Connection {
 public:
  using Clock = std::chrono::steady_clock;

  // Connects within `timeout` (a full listen queue is waited for that long). The error is as
  // exchange()'s.
  static Expected<Connection> open(const std::string& socket_path,
                                   std::chrono::milliseconds timeout);
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&&) = delete;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Sends `line` and a newline before `deadline`: true once sent; false when fetchd closed the
  // connection first (it may have said why: read it).
  Expected<bool> send_line(std::string_view line, Clock::time_point deadline) const;
  // The next line, without its newline, waiting until `deadline` at most.
  Expected<std::string, ReadFailure> read_line(Clock::time_point deadline,
                                               std::size_t max_bytes = kMaxReplyBytes);

 private:
  explicit Connection(int fd);
  int fd_;
  std::string pending_;  // received after the last line returned
};

// One round trip: connect, send one request line, read one reply line, all within `timeout`.
// The reply line without its newline. The error is a whole sentence for the operator: whether the
// socket is missing, permission was denied (and what to do about it), nothing listens on it, or the
// daemon did not answer in time.
Expected<std::string> exchange(const std::string& socket_path, std::string_view request_line,
                               std::chrono::milliseconds timeout,
                               std::size_t max_reply_bytes = kMaxReplyBytes);

}  // namespace fetchd::ctl
