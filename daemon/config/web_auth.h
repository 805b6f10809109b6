#pragma once

// settings.web_auth_file (internal to the loader): the credentials the metrics listener accepts,
// a JSON file of its own so that the secrets can be readable by fetchd alone while the main
// configuration stays world-readable:
//
//   {"basic_auth": {"prometheus": "a password"}, "bearer_tokens": ["a token", "the next one"]}
//
// Both keys are optional, but at least one credential must be given. User names are non-empty and
// without ':' (RFC 7617 2); passwords are non-empty; tokens are RFC 6750 b64token characters.
// Several tokens let a new one be rolled out before the old one is withdrawn. The file must not be
// readable or writable by other users (mode o-rwx), as ssh insists for its keys.

#include <string>
#include <vector>

#include "config/config.h"
#include "config/loader.h"

namespace fetchd::config {

// Reads settings.web_auth_file into settings.web_auth; problems go to `errors`, placed at their
// line and column in the file. Nothing to do when web_auth_file is empty.
void read_web_auth(Settings& settings, std::vector<ConfigError>& errors);

}  // namespace fetchd::config
