#pragma once

// One control connection's protocol, plugged into the net listener: newline-delimited requests of
// at most kMaxRequestLine bytes (longer: request_too_large, then close), parsed, dispatched to the
// command table, and answered in request order (docs/control-protocol.md, "Framing").

#include <cstddef>
#include <string>
#include <string_view>

#include "control/commands.h"
#include "control/watch.h"
#include "net/listener.h"

namespace fetchd::control {

class Session final : public net::Conversation {
 public:
  Session(Backend& backend, WatchHub& watches, bool admin);

  net::Consumed receive(std::string_view input, net::Exchange& exchange) override;

 private:
  void handle_line(std::string_view line, net::Exchange& exchange);

  WatchHub& watches_;
  Context context_;
  net::Exchange* exchange_ = nullptr;  // the session's, which owns this conversation
  bool watching_ = false;              // the rest of the input is ignored; closing ends it
  std::size_t scanned_ = 0;            // input[0, scanned_) holds no newline
};

// The line a connection over max_clients receives before it is closed.
std::string busy_reply();

}  // namespace fetchd::control
