#pragma once

// Checking a request's Authorization field (RFC 9110 11.6.2) against the credentials of
// settings.web_auth_file: "Basic" with base64 of user:password (RFC 7617) or "Bearer" with a token
// (RFC 6750). Scheme names compare case-insensitively; the credentials exactly.

#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace fetchd::web {

// True when `authorization` (the field's value; nullopt when absent) carries credentials that
// `auth` accepts.
bool authorized(const config::WebAuth& auth, std::optional<std::string_view> authorization);

// The WWW-Authenticate field lines of a 401 for `auth`, each ending in CRLF.
std::string challenges(const config::WebAuth& auth);

}  // namespace fetchd::web
