#include "http/url.h"

#include <charconv>

#include <asio/ip/address_v6.hpp>

namespace fetchd::http {

namespace {

bool is_forbidden_url_char(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte <= 0x20 || byte >= 0x7f;
}

bool is_host_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Error url_error(std::string_view text, std::string_view why) {
  return Error{"invalid URL \"" + std::string(text) + "\": " + std::string(why)};
}

}  // namespace

std::string Url::authority() const {
  std::string out = host_is_ipv6_literal ? "[" + host + "]" : host;
  if (!has_default_port())
    out += ":" + std::to_string(port);
  return out;
}

std::string Url::to_string() const {
  return scheme + "://" + authority() + target;
}

Expected<Url> parse_url(std::string_view text) {
  for (char c : text) {
    if (is_forbidden_url_char(c)) {
      return url_error(text, "contains a space, control or non-ASCII character");
    }
  }
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos)
    return url_error(text, "expected http:// or https://");
  Url url;
  url.scheme = lower(text.substr(0, scheme_end));
  if (url.scheme != "http" && url.scheme != "https") {
    return url_error(text, "scheme must be http or https");
  }
  std::string_view rest = text.substr(scheme_end + 3);
  // A fragment is never sent to the server.
  rest = rest.substr(0, rest.find('#'));
  const auto authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view path = authority_end == std::string_view::npos ? "" : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return url_error(text, "user information is not supported");
  }

  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos)
      return url_error(text, "unterminated IPv6 literal");
    const std::string literal(authority.substr(1, close - 1));
    std::error_code ec;
    asio::ip::make_address_v6(literal, ec);
    if (ec)
      return url_error(text, "invalid IPv6 literal");
    url.host = lower(literal);
    url.host_is_ipv6_literal = true;
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return url_error(text, "unexpected characters after IPv6 literal");
      port_text = after.substr(1);
      if (port_text.empty())
        return url_error(text, "empty port");
    }
  } else {
    const auto colon = authority.find(':');
    const auto host = authority.substr(0, colon);
    if (host.empty())
      return url_error(text, "missing host");
    for (char c : host) {
      if (!is_host_name_char(c))
        return url_error(text, "invalid character in host");
    }
    url.host = lower(host);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty())
        return url_error(text, "empty port");
    }
  }

  url.port = url.is_tls() ? 443 : 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return url_error(text, "port must be a number from 1 to 65535");
    }
    url.port = static_cast<std::uint16_t>(value);
  }

  if (path.empty()) {
    url.target = "/";
  } else if (path.front() == '?') {
    url.target = "/" + std::string(path);
  } else {
    url.target = std::string(path);
  }
  return url;
}

Expected<Url> Url::resolve_reference(std::string_view reference) const {
  const auto scheme_end = reference.find("://");
  const auto first_delimiter = reference.find_first_of("/?#");
  if (scheme_end != std::string_view::npos && scheme_end < first_delimiter) {
    return parse_url(reference);
  }
  if (reference.starts_with("//"))
    return parse_url(scheme + ":" + std::string(reference));
  for (char c : reference) {
    if (is_forbidden_url_char(c)) {
      return url_error(reference, "contains a space, control or non-ASCII character");
    }
  }
  Url resolved = *this;
  reference = reference.substr(0, reference.find('#'));
  if (reference.empty())
    return resolved;
  if (reference.front() == '/') {
    resolved.target = std::string(reference);
  } else if (reference.front() == '?') {
    resolved.target = target.substr(0, target.find('?')) + std::string(reference);
  } else {
    const auto path = std::string_view(target).substr(0, target.find('?'));
    resolved.target = std::string(path.substr(0, path.rfind('/') + 1)) + std::string(reference);
  }
  return resolved;
}

}  // namespace fetchd::http
