#pragma once

// Loading and strict validation of the configuration: the main file plus the drop-ins conf.d/*.json
// beside it, or one target object (a runtime `add`). Pure functions of the text and the file
// system reads they make: safe to run off the loop thread. Never throws for a bad configuration;
// every problem found comes back as a ConfigError, and the loader goes on to find the others.
//
// Merge rule (as if every file were one document, main file first, then the drop-ins in byte
// order of their names):
//   - `settings`: key by key, a later file's value replaces an earlier one's;
//   - `defaults`: key by key as well; inside `headers`, `labels`, `tls`, `expect` and
//     `expect.headers` key by key too; everything else (`expect.status` included) replaces;
//   - `targets`: appended; the merged defaults apply to the targets of every file, and a target's
//     own keys merge over them by the same rule as above;
//   - names are unique over all files. A URL-string target is named after its host, with
//     "-<port>" when the port is not the scheme's default (IPv6 literal colons become '_'); two
//     targets with the same name, given or derived, are an error naming both places.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/expected.h"
#include "config/config.h"

namespace fetchd::config {

inline constexpr std::string_view kDefaultConfigPath = "/etc/fetchd/fetchd.json";

struct ConfigError {
  std::string file{};     // as named to the loader: "/etc/fetchd/conf.d/10-api.json"; may be empty
  std::string pointer{};  // JSON pointer to the offending value ("" for the whole document)
  int line = 0;           // 1-based; 0 when unknown (file unreadable)
  int column = 0;
  std::string message{};  // what was expected and what was found

  // "conf.d/10-api.json:12:19: /targets/2/interval: expected a duration like \"30s\", found 12";
  // parts that are empty are left out.
  std::string to_string() const;
  bool operator==(const ConfigError&) const = default;
};

// A value, or every error found. `T` is Config for a load.
template <class T>
struct Checked {
  std::optional<T> value{};
  std::vector<ConfigError> errors{};

  explicit operator bool() const { return errors.empty() && value.has_value(); }
  // All errors, one per line, for logs and --check-config.
  std::string error_text() const {
    std::string out;
    for (const auto& error : errors)
      out += error.to_string() + "\n";
    return out;
  }
};

// Reads `main_file` and `<its directory>/conf.d/*.json` (regular files or links to them; names
// starting with '.' are skipped; a missing conf.d is fine). Messages name a drop-in as
// `main_file.parent_path() / "conf.d" / name`.
Checked<Config> load_config(const std::filesystem::path& main_file);

// The same from text already in memory: `documents` are (name, text) in merge order, the first
// being the main file. For tests and for callers that read files themselves.
struct Document {
  std::string name{};
  std::string text{};
};
Checked<Config> load_documents(const std::vector<Document>& documents);

// One target, as a runtime `add` sends it (a URL string or an object, exactly as in `targets`),
// checked by the same code against the configuration's merged defaults. `source` becomes the
// target's source_file, and its source_pointer is "". The error message is every problem as
// "pointer: message", "; "-separated, pointers relative to the object ("/interval: expected a
// duration like \"30s\", found 5"; a problem with the whole object has no pointer part).
Expected<TargetConfig> parse_target(const nlohmann::json& value, const Defaults& defaults,
                                    const std::string& source);

// The same with the errors as values: `source` is their file, `pointer` prefixes their pointers
// (a request's "/target", or "/targets/3" of a state file) and is the target's source_pointer.
// Errors carry no line: the caller has no text.
Checked<TargetConfig> check_target(const nlohmann::json& value, const Defaults& defaults,
                                   const std::string& source, const std::string& pointer = "");

// True for names a target may have: [A-Za-z0-9._-], 1 to 128 characters, not starting with '-'.
bool is_valid_target_name(std::string_view name);

// The name a URL-string target gets (see the merge rule above).
std::string derive_target_name(const http::Url& url);

}  // namespace fetchd::config
