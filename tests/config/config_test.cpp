#include "config/config.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/expectations.h"
#include "config/loader.h"
#include "config/settings.h"
#include "config/targets.h"
#include "support/temp_dir.h"

namespace fetchd::config {
namespace {

using nlohmann::json;

const std::filesystem::path kRepo =
    std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
const std::filesystem::path kShippedConfig = kRepo / "config" / "fetchd.json";
const std::filesystem::path kSchema = kRepo / "config" / "fetchd.schema.json";

TargetConfig target_from(const std::string& text) {
  auto target = parse_target(json::parse(text), Defaults{}, "test");
  EXPECT_TRUE(target) << target.error().message;
  return target ? *target : TargetConfig{};
}

TEST(Config, SameSettingsTellsChangedFromUnchanged) {
  const std::string base = R"({"name": "a", "url": "http://a.test/", "labels": {"x": "1"}})";
  const TargetConfig a = target_from(base);
  TargetConfig moved = a;
  moved.source_file = "conf.d/other.json";
  moved.source_pointer = "/targets/9";
  EXPECT_TRUE(same_settings(a, a));
  EXPECT_TRUE(same_settings(a, moved));
  EXPECT_TRUE(same_settings(a, target_from(base)));

  const char* changed[] = {
      R"({"name": "b", "url": "http://a.test/", "labels": {"x": "1"}})",
      R"({"name": "a", "url": "http://a.test/x", "labels": {"x": "1"}})",
      R"({"name": "a", "url": "http://a.test/", "labels": {"x": "2"}})",
      R"({"name": "a", "url": "http://a.test/", "labels": {"x": "1"}, "interval": "31s"})",
      R"({"name": "a", "url": "http://a.test/", "labels": {"x": "1"}, "timeout": "9s"})",
      R"({"name": "a", "url": "http://a.test/", "labels": {"x": "1"}, "method": "HEAD"})",
      R"({"name": "a", "url": "http://a.test/", "labels": {"x": "1"}, "headers": {"A": "b"}})",
      R"({"name": "a", "url": "http://a.test/", "labels": {"x": "1"}, "enabled": false})",
      R"({"name": "a", "url": "http://a.test/", "labels": {"x": "1"}, "tls": {"verify": false}})",
      R"({"name": "a", "url": "http://a.test/", "labels": {"x": "1"}, "ip": "ipv4"})",
      R"({"name": "a", "url": "http://a.test/", "labels": {"x": "1"}, "max_redirects": 1})",
      R"({"name": "a", "url": "http://a.test/", "labels": {"x": "1"}, "up_after": 2})",
      R"({"name": "a", "url": "http://a.test/", "labels": {"x": "1"}, "expect": {"status": 200}})",
      R"({"name": "a", "url": "http://a.test/", "labels": {"x": "1"},
          "expect": {"body_regex": "a"}})",
  };
  for (const char* text : changed) {
    EXPECT_FALSE(same_settings(a, target_from(text))) << text;
  }
  EXPECT_FALSE(
      same_settings(target_from(R"({"url": "http://a.test/", "expect": {"body_regex": "a"}})"),
                    target_from(R"({"url": "http://a.test/", "expect": {"body_regex": "b"}})")));
}

TEST(Config, ToJsonReadsBackTheSameTarget) {
  const TargetConfig original = target_from(R"({
      "name": "api", "url": "https://api.test:8443/health?x=1", "interval": "1m30s",
      "timeout": "2500ms", "method": "GET", "headers": {"Authorization": "Bearer t"},
      "labels": {"team": "core"}, "enabled": false,
      "tls": {"verify": false, "ca_file": "ca.pem", "server_name": "api.internal"},
      "ip": "ipv6", "max_redirects": 5, "max_body_bytes": 4096, "max_header_bytes": 2048,
      "down_after": 3, "up_after": 2,
      "expect": {"status": [200, "301-302"], "body_contains": "ok", "body_regex": "^\\{",
                 "headers": {"Content-Type": "application/json", "ETag": true},
                 "max_latency": "750ms", "cert_days": 21}})");
  const json shown = to_json(original);
  EXPECT_EQ(shown["interval"], "1m30s");
  EXPECT_EQ(shown["expect"]["status"], json::parse(R"([200, "301-302"])"));
  const TargetConfig again = target_from(shown.dump());
  EXPECT_TRUE(same_settings(original, again)) << shown.dump(2);

  const TargetConfig plain = target_from(R"("http://www.163.com/")");
  EXPECT_TRUE(same_settings(plain, target_from(to_json(plain).dump()))) << to_json(plain).dump();
}

TEST(Config, LogLevelNames) {
  EXPECT_EQ(to_string(LogLevel::trace), "trace");
  EXPECT_EQ(to_string(LogLevel::debug), "debug");
  EXPECT_EQ(to_string(LogLevel::info), "info");
  EXPECT_EQ(to_string(LogLevel::warning), "warning");
  EXPECT_EQ(to_string(LogLevel::error), "error");
}

TEST(ConfigShipped, ExamplesLoadCleanly) {
  auto loaded = load_config(kShippedConfig);
  ASSERT_TRUE(loaded) << loaded.error_text();
  const Config& config = *loaded.value;
  std::vector<std::string> names;
  for (const auto& target : config.targets)
    names.push_back(target.name);
  EXPECT_EQ(names, (std::vector<std::string>{"fetchd-self", "www.sina.com.cn", "www.sohu.com",
                                             "www.163.com", "douban", "www.163.com-https",
                                             "www.sohu.com-https"}));
  // The one target a machine offline still has: fetchd's own readiness endpoint.
  EXPECT_EQ(config.targets[0].fetch.url.to_string(),
            "http://" + config.settings.web_listen.at(0) + "/-/ready");
  EXPECT_EQ(config.files.size(), 2u);
  EXPECT_EQ(config.settings.control_socket, "run/control.sock");
  EXPECT_EQ(config.settings.state_dir, "run/state");
  for (const auto& target : config.targets) {
    EXPECT_EQ(target.labels.at("lesson"), "async-io") << target.name;
  }
}

// ---- the JSON Schema, checked with Python's jsonschema (Debian: python3-jsonschema) -----------

int run(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

bool have_jsonschema() {
  return run("python3 -c 'import jsonschema; jsonschema.Draft202012Validator' >/dev/null 2>&1") ==
         0;
}

// The documents the schema rejects, each with its first error ("path: message"), from one run of
// Python's jsonschema over all of them; nullopt when the check itself could not run.
std::optional<std::map<std::string, std::string>> schema_rejects(
    const std::vector<std::filesystem::path>& documents) {
  static const char* kScript =
      "import json, sys, jsonschema\n"
      "schema = json.load(open(sys.argv[1]))\n"
      "jsonschema.Draft202012Validator.check_schema(schema)\n"
      "validator = jsonschema.Draft202012Validator(schema)\n"
      "for path in sys.argv[2:]:\n"
      "    error = next(validator.iter_errors(json.load(open(path))), None)\n"
      "    if error is not None:\n"
      "        message = ' '.join(error.message.split())\n"
      "        print(path + '\\t/' + '/'.join(map(str, error.path)) + ': ' + message)\n"
      "print('done')\n";
  std::string command = "python3 -c " + shell_quote(kScript) + " " + shell_quote(kSchema.string());
  for (const auto& document : documents)
    command += " " + shell_quote(document.string());
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr)
    return std::nullopt;
  std::string output;
  char buffer[4096];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    output.append(buffer, got);
  const int status = ::pclose(pipe);
  if (status != 0 || output.size() < 5 || output.compare(output.size() - 5, 5, "done\n") != 0) {
    ADD_FAILURE() << "schema check failed to run:\n" << output;
    return std::nullopt;
  }
  std::map<std::string, std::string> rejected;
  std::size_t line_start = 0;
  while (line_start < output.size() - 5) {
    const std::size_t line_end = output.find('\n', line_start);
    const std::string line = output.substr(line_start, line_end - line_start);
    const std::size_t tab = line.find('\t');
    if (tab != std::string::npos)
      rejected[line.substr(0, tab)] = line.substr(tab + 1);
    line_start = line_end + 1;
  }
  return rejected;
}

#define REQUIRE_JSONSCHEMA()                                                              \
  if (!have_jsonschema()) {                                                               \
    GTEST_SKIP() << "Python's jsonschema module is missing: install the Debian package "  \
                    "python3-jsonschema (scripts/install-deps.sh --test should list it)"; \
  }

TEST(ConfigSchema, ShippedExamplesValidate) {
  REQUIRE_JSONSCHEMA();
  std::vector<std::filesystem::path> documents = {kShippedConfig};
  for (const auto& entry : std::filesystem::directory_iterator(kRepo / "config" / "conf.d")) {
    if (entry.path().extension() == ".json")
      documents.push_back(entry.path());
  }
  ASSERT_GE(documents.size(), 2u);
  const auto rejected = schema_rejects(documents);
  ASSERT_TRUE(rejected);
  for (const auto& [path, why] : *rejected)
    ADD_FAILURE() << path << ": " << why;
}

// Documents both the schema and the loader must judge the same way.
const struct {
  bool valid;
  std::string document;
} kAgreement[] = {
    {true, R"({})"},
    {true,
     R"({"$schema": "./fetchd.schema.json", "_comment": "x", "targets": ["http://a.test/"]})"},
    {true, R"({"targets": [{"url": "http://a.test/", "interval": "1m30s", "expect":
              {"status": "2xx", "headers": {"ETag": true, "Vary": "Accept"}}}]})"},
    {true, R"({"settings": {"socket_mode": "600", "dns_servers": ["[::1]:53", "127.0.0.1"]}})"},
    {true, R"({"defaults": {"labels": {"team": "core"}, "expect": {"status": [200, "301-302"]}}})"},
    {false, R"([])"},
    {false, R"({"target": []})"},
    {false, R"({"targets": [{"url": "http://a.test/", "intervall": "30s"}]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "interval": 30}]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "interval": "1.5s"}]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "interval": "30s1m"}]})"},
    {false, R"({"targets": [{"name": "a"}]})"},
    {false, R"({"targets": [{"name": "a b", "url": "http://a.test/"}]})"},
    {false, R"({"targets": ["ftp://a.test/"]})"},
    {false, R"({"targets": [12]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "method": "DELETE"}]})"},
    {true, R"({"targets": [{"url": "http://a.test/", "method": "POST", "body": "{\"a\": 1}\n"}]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "method": "POST", "body": 1}]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "tls": {"verfy": true}}]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "labels": {"team": 1}}]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "labels": {"__x": "1"}}]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "headers": {"X A": "1"}}]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "expect": {"status": []}}]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "expect": {"status": [600]}}]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "expect": {"headers": {"A": false}}}]})"},
    {false, R"({"targets": [{"url": "http://a.test/", "max_redirects": 21}]})"},
    {false, R"({"defaults": {"url": "http://a.test/"}})"},
    {false, R"({"defaults": {"name": "x"}})"},
    {true,
     R"({"settings": {"max_clients": 500, "admin_group": "fetchd-admin", "socket_group": "0"}})"},
    {false, R"({"settings": {"max_clients": 0}})"},
    {false, R"({"settings": {"admin_group": "a b"}})"},
    {false, R"({"settings": {"socket_mode": 660}})"},
    {false, R"({"settings": {"log_level": "verbose"}})"},
    {false, R"({"settings": {"history_length": 0}})"},
    {false, R"({"settings": {"stat_dir": "x"}})"},
    {false, R"({"_comment": 5})"},
};

TEST(ConfigSchema, SchemaAndLoaderAgree) {
  REQUIRE_JSONSCHEMA();
  test::TempDir dir("fetchd-schema");
  std::vector<std::filesystem::path> paths;
  for (const auto& c : kAgreement) {
    paths.push_back(dir.path() / ("doc" + std::to_string(paths.size()) + ".json"));
    test::write_file(paths.back(), c.document);
  }
  const auto rejected = schema_rejects(paths);
  ASSERT_TRUE(rejected);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const auto& c = kAgreement[i];
    auto loaded = load_documents({{paths[i].string(), c.document}});
    EXPECT_EQ(static_cast<bool>(loaded), c.valid) << c.document << "\n" << loaded.error_text();
    const auto schema_error = rejected->find(paths[i].string());
    EXPECT_EQ(schema_error == rejected->end(), c.valid)
        << c.document << "\n"
        << (schema_error == rejected->end() ? "schema accepts it" : schema_error->second);
  }
}

// The schema is the other list of the accepted keys: each object's properties are its key table's
// names, so neither can gain a key the other lacks.
template <class Value>
std::set<std::string> names_of(std::span<const KeyRule<Value>> rules) {
  std::set<std::string> names{"_comment"};  // every object takes one
  for (const auto& rule : rules) {
    EXPECT_FALSE(rule.doc.empty()) << rule.name;
    names.emplace(rule.name);
  }
  return names;
}

std::set<std::string> properties_of(const json& definition) {
  std::set<std::string> names;
  for (const auto& [name, property] : definition.at("properties").items())
    names.insert(name);
  return names;
}

TEST(ConfigSchema, PropertiesAreTheLoadersKeys) {
  const json schema = json::parse(std::ifstream(kSchema));
  const json& defs = schema.at("$defs");
  EXPECT_EQ(properties_of(defs.at("settings")), names_of(settings_keys()));
  EXPECT_EQ(properties_of(defs.at("expect")), names_of(expectation_keys()));
  EXPECT_EQ(properties_of(defs.at("tls")), names_of(tls_keys()));
  std::set<std::string> target = properties_of(defs.at("targetSettings"));
  target.merge(properties_of(defs.at("target")));
  EXPECT_EQ(target, names_of(target_keys()));
}

}  // namespace
}  // namespace fetchd::config
