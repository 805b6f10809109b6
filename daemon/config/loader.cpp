#include "config/loader.h"

#include <array>
#include <map>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/quote.h"
#include "config/alerts.h"
#include "config/checker.h"
#include "config/documents.h"
#include "config/settings.h"
#include "config/targets.h"
#include "config/web_auth.h"

namespace fetchd::config {

namespace {

using nlohmann::json;

void read_schema(Checker& check, const json& member, const std::string& at, Config&) {
  check.string(member, at, false);
}

void read_settings_member(Checker& check, const json& member, const std::string& at,
                          Config& config) {
  read_settings(check, member, at, config.settings);
}

void read_defaults_member(Checker& check, const json& member, const std::string& at,
                          Config& config) {
  read_defaults(check, member, at, config.defaults);
}

// The targets are read once every file's defaults are merged (read_targets); here only their type.
void check_targets_member(Checker& check, const json& member, const std::string& at, Config&) {
  if (!member.is_array())
    check.fail(at, "expected an array of targets, found " + found(member));
}

void read_alerts_member(Checker& check, const json& member, const std::string& at, Config& config) {
  read_alerts(check, member, at, config.alerts);
}

constexpr std::array<KeyRule<Config>, 5> kTopKeys = {{
    {"$schema", read_schema, "the JSON Schema of the file, for editors"},
    {"settings", read_settings_member, "the daemon's settings"},
    {"defaults", read_defaults_member, "what every target inherits when it does not say"},
    {"targets", check_targets_member, "the targets: URL strings or target objects"},
    {"alerts", read_alerts_member, "where notifications of state changes go"},
}};

// Settings and defaults, merged in file order.
void read_settings_and_defaults(const std::vector<ParsedDocument>& parsed,
                                std::vector<ConfigError>& errors, Config& config) {
  for (const auto& doc : parsed) {
    Checker check(errors, doc.document->name);
    check.members(doc.root, "", std::span<const KeyRule<Config>>(kTopKeys), config);
  }
  config.defaults.target.fetch.keep_body = config.defaults.target.expect.needs_body();
}

// Targets, with the merged defaults.
void read_targets(const std::vector<ParsedDocument>& parsed, std::vector<ConfigError>& errors,
                  Config& config) {
  for (const auto& doc : parsed) {
    const auto targets = doc.root.find("targets");
    if (targets == doc.root.end() || !targets->is_array())
      continue;
    Checker check(errors, doc.document->name);
    for (std::size_t i = 0; i < targets->size(); ++i) {
      auto target =
          read_target_entry(check, (*targets)[i], config.defaults, "/targets/" + std::to_string(i));
      if (target)
        config.targets.push_back(std::move(*target));
    }
  }
}

// Names are unique over every file.
void check_unique_names(const std::vector<TargetConfig>& targets,
                        std::vector<ConfigError>& errors) {
  std::map<std::string, std::size_t> first_by_name;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const TargetConfig& target = targets[i];
    auto [it, inserted] = first_by_name.emplace(target.name, i);
    if (inserted)
      continue;
    const TargetConfig& first = targets[it->second];
    errors.push_back({target.source_file, target.source_pointer, 0, 0,
                      "duplicate target name " + quote(target.name) + ", first defined in " +
                          first.source_file + " at " + first.source_pointer});
  }
}

}  // namespace

Checked<TargetConfig> check_target(const nlohmann::json& value, const Defaults& defaults,
                                   const std::string& source, const std::string& pointer) {
  Checked<TargetConfig> out;
  Checker check(out.errors, source);
  out.value = read_target_entry(check, value, defaults, pointer, /*from_control=*/true);
  return out;
}

Expected<TargetConfig> parse_target(const nlohmann::json& value, const Defaults& defaults,
                                    const std::string& source) {
  auto checked = check_target(value, defaults, source);
  if (checked.errors.empty() && checked.value)
    return std::move(*checked.value);
  std::string message;
  for (const auto& error : checked.errors) {
    if (!message.empty())
      message += "; ";
    message += error.pointer.empty() ? error.message : error.pointer + ": " + error.message;
  }
  return Error{message};
}

Checked<Config> load_documents(const std::vector<Document>& documents) {
  Checked<Config> out;
  Config config;
  for (const auto& document : documents)
    config.files.push_back(document.name);
  // Syntax, duplicate keys, and the top-level shape of every document first.
  const auto parsed = parse_documents(documents, out.errors);
  read_settings_and_defaults(parsed, out.errors, config);
  read_web_auth(config.settings, out.errors);
  read_targets(parsed, out.errors, config);
  check_unique_names(config.targets, out.errors);
  place_errors(parsed, out.errors);
  if (out.errors.empty())
    out.value = std::move(config);
  return out;
}

Checked<Config> load_config(const std::filesystem::path& main_file) {
  auto documents = read_documents(main_file);
  if (!documents.errors.empty() || !documents.value)
    return {std::nullopt, std::move(documents.errors)};
  return load_documents(*documents.value);
}

}  // namespace fetchd::config
