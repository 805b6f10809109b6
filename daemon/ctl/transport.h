#pragma once

// One round trip over the control socket: connect, send one request line, read one reply line.
// Blocking, but the whole exchange is bounded by `timeout` (connect through SO_SNDTIMEO, the rest
// through poll() against one deadline), and the reply by `max_reply_bytes`.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace fetchd::ctl {

// A `list` of 10,000 targets is about 5 MB; this leaves room and still bounds memory.
inline constexpr std::size_t kMaxReplyBytes = std::size_t{64} * 1024 * 1024;

// The reply line without its newline. The error is a whole sentence for the operator: whether the
// socket is missing, permission was denied (and what to do about it), nothing listens on it, or the
// daemon did not answer in time.
Expected<std::string> exchange(const std::string& socket_path, std::string_view request_line,
                               std::chrono::milliseconds timeout,
                               std::size_t max_reply_bytes = kMaxReplyBytes);

}  // namespace fetchd::ctl
