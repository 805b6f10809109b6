#include "control/session.h"

#include <algorithm>

#include "control/protocol.h"

namespace fetchd::control {

namespace {

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

}  // namespace

Session::Session(Backend& backend, WatchHub& watches, bool admin)
    : watches_(watches), context_{backend, admin, [this](WatchFilter filter) {
                                    watching_ = true;
                                    return watches_.start(std::move(filter),
                                                          exchange_->reserve_live());
                                  }} {}

net::Consumed Session::receive(std::string_view input, net::Exchange& exchange) {
  exchange_ = &exchange;
  if (watching_)
    return {input.size(), false};
  const auto newline = input.find('\n', std::min(scanned_, input.size()));
  if (newline == std::string_view::npos && input.size() < kMaxRequestLine) {
    scanned_ = input.size();
    return {};
  }
  scanned_ = 0;
  if (newline == std::string_view::npos || newline >= kMaxRequestLine) {
    // The line cannot end within the limit: refuse it without reading the rest, then close.
    exchange.reserve()(format_failure(
        nullptr,
        {std::string(code::request_too_large),
         "request line over " + std::to_string(kMaxRequestLine) + " bytes; closing the connection",
         {}}));
    return {input.size(), true};
  }
  handle_line(input.substr(0, newline), exchange);
  return {newline + 1, false};
}

void Session::handle_line(std::string_view line, net::Exchange& exchange) {
  if (is_blank(line))
    return;
  auto parsed = parse_request(line);
  auto reply = exchange.reserve();
  if (parsed.error)
    return reply(format_failure(parsed.request.id, *parsed.error));
  dispatch(parsed.request, context_,
           [reply = std::move(reply), id = parsed.request.id](Outcome outcome) {
             reply(outcome.failure ? format_failure(id, *outcome.failure)
                                   : format_result(id, outcome.result));
           });
}

std::string busy_reply() {
  return format_failure(
      nullptr, {std::string(code::busy), "too many control connections; try again later", {}});
}

}  // namespace fetchd::control
