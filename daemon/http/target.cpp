#include "http/target.h"

#include <algorithm>
#include <array>

namespace fetchd::http {

namespace {

// Headers that would change how the response is framed or how the connection is used: fetchd owns
// these (it always sends Connection: close and never a request body).
constexpr std::array kReservedHeaders = {
    "Connection", "Content-Length", "Transfer-Encoding", "Upgrade", "TE", "Keep-Alive"};

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

std::string_view to_string(Method method) {
  switch (method) {
    case Method::head:
      return "HEAD";
    case Method::post:
      return "POST";
    case Method::put:
      return "PUT";
    case Method::get:
      break;
  }
  return "GET";
}

std::string_view to_string(AddressFamily family) {
  switch (family) {
    case AddressFamily::ipv4:
      return "ipv4";
    case AddressFamily::ipv6:
      return "ipv6";
    case AddressFamily::any:
      break;
  }
  return "any";
}

bool is_valid_header_name(std::string_view name) {
  return !name.empty() && std::ranges::all_of(name, is_tchar);
}

bool is_valid_header_value(std::string_view value) {
  return std::ranges::none_of(value, [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && c != '\t') || byte == 0x7f;
  });
}

Expected<Target> make_target(std::string_view url) {
  auto parsed = parse_url(url);
  if (!parsed)
    return parsed.error();
  Target target;
  target.url = std::move(parsed).value();
  return target;
}

Expected<Target> validate(Target target) {
  for (const auto& header : target.headers) {
    if (!is_valid_header_name(header.name)) {
      return Error{"header name \"" + header.name + "\" is not a valid token"};
    }
    if (!is_valid_header_value(header.value)) {
      return Error{"header \"" + header.name + "\" has a control character in its value"};
    }
    for (const char* reserved : kReservedHeaders) {
      if (iequals(header.name, reserved)) {
        return Error{"header \"" + header.name + "\" is managed by fetchd and cannot be set"};
      }
    }
  }
  if (!is_valid_header_value(target.tls.server_name) ||
      target.tls.server_name.find(' ') != std::string::npos) {
    return Error{"TLS server name \"" + target.tls.server_name + "\" is not a valid host name"};
  }
  if (target.timeout.count() <= 0)
    return Error{"timeout must be positive"};
  if (target.max_header_bytes < 1024)
    return Error{"max header bytes must be at least 1024"};
  if (target.max_redirects < 0 || target.max_redirects > 20) {
    return Error{"redirects must be between 0 and 20"};
  }
  if (!target.body.empty() && !sends_body(target.method)) {
    return Error{"a request body needs method POST or PUT, found " +
                 std::string(to_string(target.method))};
  }
  if (target.body.size() > kMaxRequestBody)
    return Error{"a request body may have at most 1 MiB, found " +
                 std::to_string(target.body.size()) + " bytes"};
  return target;
}

}  // namespace fetchd::http
