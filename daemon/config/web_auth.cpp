#include "config/web_auth.h"

#include <array>
#include <cstdio>
#include <span>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/read_file.h"
#include "config/checker.h"
#include "config/documents.h"

namespace fetchd::config {

namespace {

using nlohmann::json;

// RFC 6750 2.1's b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "="s.
bool is_b64token(std::string_view token) {
  std::size_t at = 0;
  while (at < token.size()) {
    const char c = token[at];
    const bool letter_or_digit =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!letter_or_digit && c != '-' && c != '.' && c != '_' && c != '~' && c != '+' && c != '/')
      break;
    ++at;
  }
  if (at == 0)
    return false;
  while (at < token.size() && token[at] == '=')
    ++at;
  return at == token.size();
}

void read_basic_auth(Checker& check, const json& member, const std::string& at, WebAuth& auth) {
  if (!check.object(member, at))
    return;
  for (const auto& [user, password] : member.items()) {
    const std::string user_at = at + pointer_token(user);
    if (user.empty() || user.find(':') != std::string::npos) {
      check.fail(user_at,
                 "expected a user name without ':' (RFC 7617), found " + found(json(user)));
      continue;
    }
    if (const auto* text = check.string(password, user_at, false))
      auth.basic.push_back(sha256(user + ":" + *text));
  }
}

void read_bearer_tokens(Checker& check, const json& member, const std::string& at, WebAuth& auth) {
  if (!member.is_array()) {
    check.fail(at, "expected an array of tokens, found " + found(member));
    return;
  }
  for (std::size_t i = 0; i < member.size(); ++i) {
    const std::string item_at = at + "/" + std::to_string(i);
    const auto* token = check.string(member[i], item_at, false);
    if (token == nullptr)
      continue;
    if (!is_b64token(*token)) {
      check.fail(item_at,
                 "expected a token of letters, digits and -._~+/ (then '=' padding, RFC 6750)");
      continue;
    }
    auth.bearer.push_back(sha256(*token));
  }
}

constexpr std::array<KeyRule<WebAuth>, 2> kWebAuthKeys = {{
    {"basic_auth", read_basic_auth, R"(user names and their passwords: {"user": "password"})"},
    {"bearer_tokens", read_bearer_tokens, "tokens accepted as Authorization: Bearer"},
}};

// A regular file (a FIFO or a device would block or never end the read) whose secrets are the
// daemon's (and its group's) alone: other users may neither read nor change them.
std::optional<std::string> file_problem(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    return std::nullopt;  // read_file says why
  if (!S_ISREG(info.st_mode))
    return "settings.web_auth_file is not a regular file";
  if ((info.st_mode & S_IRWXO) == 0)
    return std::nullopt;
  std::array<char, 8> mode{};
  std::snprintf(mode.data(), mode.size(), "%04o", static_cast<unsigned>(info.st_mode & 07777));
  return std::string("other users may read or change this file of secrets (mode ") + mode.data() +
         "): chmod o-rwx it";
}

}  // namespace

void read_web_auth(Settings& settings, std::vector<ConfigError>& errors) {
  settings.web_auth = {};
  const std::string& path = settings.web_auth_file;
  if (path.empty())
    return;
  if (auto problem = file_problem(path)) {
    errors.push_back({path, "", 0, 0, std::move(*problem)});
    return;
  }
  const auto text = read_file(path);
  if (!text) {
    errors.push_back(
        {path, "", 0, 0, "cannot read settings.web_auth_file: " + text.error().message});
    return;
  }
  const std::vector<Document> documents{{path, *text}};
  const auto parsed = parse_documents(documents, errors);
  if (parsed.empty())
    return;
  const std::size_t errors_before = errors.size();
  Checker check(errors, path);
  WebAuth auth;
  check.members(parsed.front().root, "", std::span<const KeyRule<WebAuth>>(kWebAuthKeys), auth);
  if (errors.size() == errors_before && !auth.enabled())
    check.fail("", "no credentials: give basic_auth users or bearer_tokens");
  place_errors(parsed, errors);
  if (errors.size() == errors_before)
    settings.web_auth = std::move(auth);
}

}  // namespace fetchd::config
