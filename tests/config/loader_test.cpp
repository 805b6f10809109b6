#include "config/loader.h"

#include <utility>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/errors_of.h"
#include "support/temp_dir.h"

namespace fetchd::config {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

Checked<Config> load_text(const std::string& text) {
  return load_documents({{"fetchd.json", text}});
}

std::string target_doc(const std::string& members) {
  return R"({"targets": [{"url": "http://a.test/", )" + members + "}]}";
}

TEST(Loader, EachBadValueGivesItsExactMessage) {
  const struct {
    std::string document;
    std::string error;
  } cases[] = {
      // durations
      {target_doc(R"("interval": 12)"),
       R"(/targets/0/interval: expected a duration like "30s", found 12)"},
      {target_doc(R"("interval": "30x")"),
       R"(/targets/0/interval: expected a duration like "30s", found "30x": unknown unit "x" (use ms, s, m or h))"},
      {target_doc(R"("interval": "1.5s")"),
       R"(/targets/0/interval: expected a duration like "30s", found "1.5s": fractions are not supported (write "1500ms" for 1.5s))"},
      {target_doc(R"("interval": "10ms")"),
       R"(/targets/0/interval: expected a duration from 100ms to 24h, found "10ms")"},
      {target_doc(R"("timeout": "0s")"),
       R"(/targets/0/timeout: expected a duration from 10ms to 10m, found "0s")"},
      // keys
      {target_doc(R"("intervall": "30s")"),
       R"(/targets/0/intervall: unknown key "intervall" (did you mean "interval"?))"},
      {target_doc(R"("colour": "red")"),
       "/targets/0/colour: unknown key \"colour\" (expected one of: name, url, interval, timeout, "
       "method, headers, body, body_file, labels, enabled, tls, ip, max_redirects, max_body_bytes, "
       "max_header_bytes, down_after, up_after, expect)"},
      {R"({"targets": [{"name": "a"}]})", R"(/targets/0: missing "url")"},
      {R"({"targets": [12]})", "/targets/0: expected a URL string or a target object, found 12"},
      {R"({"targets": [null]})",
       "/targets/0: expected a URL string or a target object, found null"},
      {R"({"targets": {}})", "/targets: expected an array of targets, found an empty object"},
      {R"({"target": []})", R"(/target: unknown key "target" (did you mean "targets"?))"},
      {R"({"_comment": 5})", "/_comment: expected a string or an array of strings, found 5"},
      {R"({"targets": [], "targets": []})",
       "/targets: duplicate key (an object may have each key once)"},
      // name and URL
      {target_doc(R"("name": "a b")"),
       R"(/targets/0/name: expected a name of letters, digits, '.', '_' and '-' (at most 128, not starting with '-'), found "a b")"},
      {target_doc(R"("name": "-x")"),
       R"(/targets/0/name: expected a name of letters, digits, '.', '_' and '-' (at most 128, not starting with '-'), found "-x")"},
      {R"({"targets": [{"url": "ftp://a.test/"}]})",
       R"(/targets/0/url: invalid URL "ftp://a.test/": scheme must be http or https)"},
      {R"({"targets": ["http://a.test/#x y"]})",
       R"(/targets/0: invalid URL "http://a.test/#x y": contains a space, control or non-ASCII character)"},
      {R"({"targets": [{"url": 5}]})", "/targets/0/url: expected a URL string, found 5"},
      // request
      {target_doc(R"("method": "DELETE")"),
       R"(/targets/0/method: expected "GET", "HEAD", "POST" or "PUT", found "DELETE")"},
      {target_doc(R"("method": "get")"),
       R"(/targets/0/method: expected "GET", "HEAD", "POST" or "PUT", found "get")"},
      {target_doc(R"("body": "x")"),
       "/targets/0: a request body needs method POST or PUT, found GET"},
      {target_doc(R"("method": "POST", "body": 5)"),
       "/targets/0/body: expected the body as a string, found 5"},
      {target_doc(R"("method": "POST", "body": "x", "body_file": "/etc/passwd")"),
       R"(/targets/0: give either "body" or "body_file", not both)"},
      {target_doc(R"("method": "POST", "body_file": "/nonexistent/body.json")"),
       R"(/targets/0/body_file: cannot read body_file "/nonexistent/body.json": No such file or directory)"},
      {target_doc(R"("method": "POST", "body_file": "/")"),
       R"(/targets/0/body_file: body_file "/" is not a regular file)"},
      {target_doc(R"("method": "PUT", "body": ")" + std::string(http::kMaxRequestBody + 1, 'x') +
                  "\""),
       "/targets/0: a request body may have at most 1 MiB, found 1048577 bytes"},
      {target_doc(R"("ip": "v4")"),
       R"(/targets/0/ip: expected "any", "ipv4" or "ipv6", found "v4")"},
      {target_doc(R"("headers": {"Connection": "x"})"),
       R"(/targets/0/headers/Connection: header "Connection" is managed by fetchd and cannot be set)"},
      {target_doc(R"("headers": {"X-A": "a\r\nX-B: 1"})"),
       R"(/targets/0/headers/X-A: header "X-A" has a control character in its value)"},
      {target_doc(R"("headers": {"X A": "1"})"),
       R"(/targets/0/headers/X A: header name "X A" is not a valid token)"},
      {target_doc(R"("headers": {"X-A": 1})"),
       "/targets/0/headers/X-A: expected a string, found 1"},
      {target_doc(R"("headers": ["X-A"])"),
       "/targets/0/headers: expected an object, found an array"},
      {target_doc(R"("labels": {"1x": "a"})"),
       R"(/targets/0/labels/1x: expected a label name of letters, digits and '_' (at most 64, not starting with a digit or "__"), found "1x")"},
      {target_doc(R"("labels": {"team": 5})"),
       "/targets/0/labels/team: expected a string, found 5"},
      {target_doc(R"("labels": {"team": "a\u0007"})"),
       R"(/targets/0/labels/team: expected a string without control characters, found "a\u0007")"},
      {target_doc(R"("enabled": "yes")"),
       R"(/targets/0/enabled: expected true or false, found "yes")"},
      {target_doc(R"("tls": {"verfy": true})"),
       R"(/targets/0/tls/verfy: unknown key "verfy" (did you mean "verify"?))"},
      {target_doc(R"("tls": {"ca_file": ""})"),
       R"(/targets/0/tls/ca_file: expected a non-empty string, found "")"},
      {target_doc(R"("tls": {"server_name": "a b"})"),
       R"(/targets/0/tls/server_name: TLS server name "a b" is not a valid host name)"},
      {target_doc(R"("max_redirects": 21)"),
       "/targets/0/max_redirects: expected an integer from 0 to 20, found 21"},
      {target_doc(R"("max_redirects": 1.5)"),
       "/targets/0/max_redirects: expected an integer from 0 to 20, found 1.5"},
      {target_doc(R"("max_body_bytes": -1)"),
       "/targets/0/max_body_bytes: expected an integer from 0 to 67108864, found -1"},
      {target_doc(R"("max_header_bytes": 100)"),
       "/targets/0/max_header_bytes: expected an integer from 1024 to 1048576, found 100"},
      {target_doc(R"("max_header_bytes": 18446744073709551615)"),
       "/targets/0/max_header_bytes: expected an integer from 1024 to 1048576, found "
       "18446744073709551615"},
      {target_doc(R"("down_after": 0)"),
       "/targets/0/down_after: expected an integer from 1 to 100, found 0"},
      // expectations
      {target_doc(R"("expect": {"status": []})"),
       "/targets/0/expect/status: expected at least one status code, found an empty array"},
      {target_doc(R"("expect": {"status": ["2xx", 600]})"),
       R"(/targets/0/expect/status/1: expected a status code from 100 to 599, a range like "200-299" or a class like "2xx", found 600)"},
      {target_doc(R"("expect": {"status": "299-200"})"),
       R"(/targets/0/expect/status: expected a status code from 100 to 599, a range like "200-299" or a class like "2xx", found "299-200")"},
      {target_doc(R"("expect": {"body_regex": "(a"})"),
       R"(/targets/0/expect/body_regex: expected a regular expression (ECMAScript, no back-references), found "(a": Mismatched '(' and ')' in regular expression)"},
      {target_doc(R"("expect": {"body_regex": "(a)\\1"})"),
       R"(/targets/0/expect/body_regex: expected a regular expression (ECMAScript, no back-references), found "(a)\\1": Unexpected back-reference in polynomial mode.)"},
      {target_doc(R"("expect": {"headers": {"X-Cache": false}})"),
       "/targets/0/expect/headers/X-Cache: expected true (present) or a string (equal to), found "
       "false"},
      {target_doc(R"("expect": {"cert_days": -1})"),
       "/targets/0/expect/cert_days: expected an integer from 0 to 3650, found -1"},
      {target_doc(R"("expect": {"max_latency": "0ms"})"),
       R"(/targets/0/expect/max_latency: expected a duration from 1ms to 10m, found "0ms")"},
      {target_doc(R"("expect": {"body": "x"})"),
       R"(/targets/0/expect/body: unknown key "body" (expected one of: status, body_contains, body_regex, headers, max_latency, cert_days))"},
      {target_doc(R"("method": "HEAD", "expect": {"body_contains": "x"})"),
       R"(/targets/0: a body expectation needs a response body, which method "HEAD" has not)"},
      // alerts
      {R"({"alerts": {"alertmanager": {"resend_interval": "1m"}}})",
       R"(/alerts/alertmanager: missing "urls", e.g. ["http://127.0.0.1:9093"])"},
      {R"({"alerts": {"alertmanager": {"urls": ["http://127.0.0.1:9093/api"]}}})",
       R"(/alerts/alertmanager/urls/0: expected the Alertmanager's base URL (no path: fetchd adds /api/v2/alerts), found "http://127.0.0.1:9093/api")"},
      {R"({"alerts": {"alertmanager": {"urls": []}}})",
       R"(/alerts/alertmanager/urls: expected an array of 1 to 8 Alertmanager URLs like "http://127.0.0.1:9093", found an empty array)"},
      {R"({"alerts": {"alertmanager": {"urls": ["http://am:9093"], "resend_interval": "100ms"}}})",
       R"(/alerts/alertmanager/resend_interval: expected a duration from 1s to 1h, found "100ms")"},
      {R"({"alerts": {"pagerduty": {}}})",
       R"(/alerts/pagerduty: unknown key "pagerduty" (expected one of: alertmanager, webhooks, commands, storm_threshold, max_commands))"},
      {R"({"alerts": {"webhooks": [{"name": "a", "url": "http://h.test/", "body": "{\"t\": \"{nmae}\"}"}]}})",
       R"(/alerts/webhooks/0/body: unknown placeholder "{nmae}" at byte 7 of the body; known: {id}, {kind}, {name}, {state}, {previous}, {since}, {reason}, {url}, {status}, {summary}, {fetchd_host}, {labels.NAME} (write {{ for a literal brace))"},
      {R"({"alerts": {"webhooks": [{"name": "a", "url": "http://h.test/", "headers": {"Content-Type": "application/json"}, "body": "{\"t\": {status}}"}]}})",
       R"(/alerts/webhooks/0/body: the body is sent as application/json, but once filled in it is not JSON: [json.exception.parse_error.101] parse error at line 1, column 7: syntax error while parsing value - invalid literal; last read: '"t": s' (placeholders belong inside JSON strings))"},
      {R"({"alerts": {"webhooks": [{"name": "a", "url": "http://h.test/", "headers": {"Content-Type": "text/plain"}}]}})",
       R"(/alerts/webhooks/0/headers: fetchd's default body is JSON, but Content-Type is "text/plain"; give a "body" template for it)"},
      {R"({"alerts": {"webhooks": [{"url": "http://h.test/"}]}})",
       R"(/alerts/webhooks/0: missing "name")"},
      {R"({"alerts": {"webhooks": [{"name": "a", "url": "http://h.test/"}, {"name": "a", "url": "http://i.test/"}]}})",
       R"(/alerts/webhooks/1/name: another webhook is named "a")"},
      {R"({"alerts": {"webhooks": [{"name": "a", "url": "http://h.test/", "headers_file": "/nonexistent/h.json"}]}})",
       R"(/alerts/webhooks/0/headers_file: cannot read headers_file "/nonexistent/h.json": No such file or directory)"},
      {R"({"alerts": {"webhooks": [{"name": "a", "url": "http://h.test/", "match": {"labels_regex": {"env": "(prod"}}}]}})",
       R"(/alerts/webhooks/0/match/labels_regex/env: expected a regular expression (ECMAScript, no back-references), found "(prod": Mismatched '(' and ')' in regular expression)"},
      {R"({"alerts": {"webhooks": [{"name": "a", "url": "http://h.test/", "match": {"label": {}}}]}})",
       R"(/alerts/webhooks/0/match/label: unknown key "label" (did you mean "labels"?))"},
      {R"({"alerts": {"commands": [{"name": "c", "argv": ["notify-send"]}]}})",
       R"(/alerts/commands/0/argv/0: expected the program's absolute path (no shell and no PATH search), found "notify-send")"},
      {R"({"alerts": {"commands": [{"name": "c", "argv": ["/bin/true"], "timeout": "1h"}]}})",
       R"(/alerts/commands/0/timeout: expected a duration from 100ms to 10m, found "1h")"},
      {R"({"alerts": {"storm_threshold": -1}})",
       R"(/alerts/storm_threshold: expected an integer from 0 to 1000000, found -1)"},
      // defaults and settings
      {R"({"defaults": {"url": "http://a.test/"}})",
       R"(/defaults/url: "url" cannot be set in defaults)"},
      {R"({"defaults": {"interval": "1d"}})",
       R"(/defaults/interval: expected a duration like "30s", found "1d": unknown unit "d" (use ms, s, m or h))"},
      {R"({"settings": {"socket_mode": 660}})",
       R"(/settings/socket_mode: expected an octal mode string like "0660" (permission bits only), found 660 (JSON numbers are decimal: write the mode as a string))"},
      {R"({"settings": {"socket_mode": "0968"}})",
       R"(/settings/socket_mode: expected an octal mode string like "0660" (permission bits only), found "0968")"},
      {R"({"settings": {"socket_mode": "4755"}})",
       R"(/settings/socket_mode: expected an octal mode string like "0660" (permission bits only), found "4755")"},
      {R"({"settings": {"socket_group": "wheel group"}})",
       R"(/settings/socket_group: expected a group name or number, found "wheel group")"},
      {R"({"settings": {"admin_group": "-x"}})",
       R"(/settings/admin_group: expected a group name or number, found "-x")"},
      {R"({"settings": {"max_clients": 0}})",
       "/settings/max_clients: expected an integer from 1 to 10000, found 0"},
      {R"({"settings": {"max_clients": "64"}})",
       R"(/settings/max_clients: expected an integer from 1 to 10000, found "64")"},
      {R"({"settings": {"control_socket": ")" + std::string(108, 'a') + R"("}})",
       "/settings/control_socket: expected a socket path of at most 107 bytes, found 108 bytes"},
      {R"({"settings": {"log_level": "verbose"}})",
       R"(/settings/log_level: expected "trace", "debug", "info", "warning" or "error", found "verbose")"},
      {R"({"settings": {"dns_servers": ["127.0.0.1:53", "dns.example"]}})",
       R"(/settings/dns_servers/1: expected an IP address with an optional port ("192.0.2.1", "192.0.2.1:53", "[2001:db8::1]:53"), found "dns.example")"},
      {R"({"settings": {"dns_servers": "127.0.0.1"}})",
       R"(/settings/dns_servers: expected an array of server addresses, found "127.0.0.1")"},
      {R"({"settings": {"history_length": 0}})",
       "/settings/history_length: expected an integer from 1 to 10000, found 0"},
      {R"({"settings": {"max_in_flight": "256"}})",
       R"(/settings/max_in_flight: expected an integer from 1 to 100000, found "256")"},
      {R"({"settings": {"statedir": "x"}})",
       R"(/settings/statedir: unknown key "statedir" (did you mean "state_dir"?))"},
      {R"({"settings": []})", "/settings: expected an object, found an empty array"},
      {"[]",
       R"(: expected an object with "settings", "defaults" and "targets", found an empty array)"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(errors_of(c.document), c.error) << c.document;
  }
}

TEST(Loader, ReportsEveryErrorNotJustTheFirst) {
  const std::string document = R"({
    "settings": {"history_length": 0, "log_level": "loud"},
    "targets": ["http://ok.test/", {"url": "http://a.test/", "interval": 5}, 7]
  })";
  EXPECT_EQ(errors_of(document),
            "/settings/history_length: expected an integer from 1 to 10000, found 0\n"
            "/settings/log_level: expected \"trace\", \"debug\", \"info\", \"warning\" or "
            "\"error\", found \"loud\"\n"
            "/targets/1/interval: expected a duration like \"30s\", found 5\n"
            "/targets/2: expected a URL string or a target object, found 7");
}

TEST(Loader, ErrorsCarryFileLineAndColumn) {
  const std::string document =
      "{\n"
      "  \"targets\": [\n"
      "    \"http://ok.test/\",\n"
      "    {\"url\": \"http://a.test/\", \"interval\": 12}\n"
      "  ]\n"
      "}\n";
  auto loaded = load_documents({{"conf.d/10-api.json", document}});
  ASSERT_EQ(loaded.errors.size(), 1u);
  const ConfigError& error = loaded.errors[0];
  EXPECT_EQ(error.file, "conf.d/10-api.json");
  EXPECT_EQ(error.pointer, "/targets/1/interval");
  EXPECT_EQ(error.line, 4);
  EXPECT_EQ(error.column, 31);
  EXPECT_EQ(error.to_string(),
            "conf.d/10-api.json:4:31: /targets/1/interval: expected a duration like \"30s\", "
            "found 12");
  EXPECT_FALSE(loaded);
  EXPECT_FALSE(loaded.value);
  EXPECT_EQ(loaded.error_text(), error.to_string() + "\n");
}

TEST(Loader, ToStringLeavesOutWhatIsUnknown) {
  EXPECT_EQ((ConfigError{"a.json", "", 0, 0, "cannot read: x"}).to_string(),
            "a.json: cannot read: x");
  EXPECT_EQ((ConfigError{"a.json", "/x", 0, 0, "m"}).to_string(), "a.json: /x: m");
  EXPECT_EQ((ConfigError{"", "/x", 0, 0, "m"}).to_string(), "/x: m");
  EXPECT_EQ((ConfigError{"a.json", "", 2, 3, "m"}).to_string(), "a.json:2:3: m");
}

TEST(Loader, SyntaxErrorsGiveLineAndColumn) {
  const struct {
    std::string text;
    int line;
    int column;
    std::string message;
  } cases[] = {
      {"{\n  \"targets\": [\n    \"http://a.test/\"\n    \"http://b.test/\"\n  ]\n}\n", 4, 5,
       "invalid JSON: syntax error while parsing array - unexpected string literal; expected ']'"},
      {"{\n  \"settings\": {\"log_level\": \"info\",}\n}", 2, 36,
       "invalid JSON: syntax error while parsing object key - unexpected '}'; expected string "
       "literal"},
      {"{\"targets\": [\n", 2, 1,
       "invalid JSON: syntax error while parsing value - unexpected end of input; expected '[', "
       "'{', or a literal"},
      {"", 1, 1,
       "invalid JSON: syntax error while parsing value - unexpected end of input; expected '[', "
       "'{', or a literal"},
      {"{\"a\xc3\xa9\": tru}", 1, 11,
       "invalid JSON: syntax error while parsing value - invalid literal; last read: "
       "'\"a\xc3\xa9\": tru}'"},
      {"{\"a\": \"x\\\"y\" \"b\": 1}", 1, 14,
       "invalid JSON: syntax error while parsing object - unexpected string literal; expected '}'"},
      {"{\"a\": 12 13}", 1, 10,
       "invalid JSON: syntax error while parsing object - unexpected number literal; expected '}'"},
      // nlohmann throws out_of_range, not parse_error, for these: once an uncaught exception.
      {"{\"settings\": {\n  \"timeout\": 1e400}}", 2, 14,
       "invalid JSON: number overflow parsing '1e400'"},
  };
  for (const auto& c : cases) {
    auto loaded = load_text(c.text);
    ASSERT_EQ(loaded.errors.size(), 1u) << c.text;
    EXPECT_EQ(loaded.errors[0].line, c.line) << c.text;
    EXPECT_EQ(loaded.errors[0].column, c.column) << c.text;
    EXPECT_EQ(loaded.errors[0].pointer, "") << c.text;
    EXPECT_EQ(loaded.errors[0].message, c.message) << c.text;
  }
}

TEST(Loader, UnknownKeyIsPlacedAtTheKey) {
  auto loaded =
      load_text("{\"targets\": [\n  {\"url\": \"http://a.test/\",\n   \"intervall\": \"5s\"}]}");
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].to_string(),
            "fetchd.json:3:4: /targets/0/intervall: unknown key \"intervall\" (did you mean "
            "\"interval\"?)");
}

TEST(Loader, DuplicateNamesAcrossFilesNameBothPlaces) {
  auto loaded =
      load_documents({{"fetchd.json", R"({"targets": [{"name": "api", "url": "http://a.test/"}]})"},
                      {"conf.d/10-api.json",
                       "{\"targets\": [\n  \"http://x.test/\",\n  {\"name\": \"api\", \"url\": "
                       "\"http://b.test/\"}\n]}"}});
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].to_string(),
            "conf.d/10-api.json:3:3: /targets/1: duplicate target name \"api\", first defined in "
            "fetchd.json at /targets/0");
}

TEST(Loader, DerivedNamesFollowTheHostAndPort) {
  auto loaded = load_text(R"({"targets": [
      "http://www.163.com/", "https://www.sina.com.cn/news", "http://127.0.0.1:8080/x",
      "https://[::1]:8443/", "http://[2001:db8::1]/", "HTTP://WWW.Sohu.COM/"]})");
  ASSERT_TRUE(loaded) << loaded.error_text();
  std::vector<std::string> names;
  for (const auto& target : loaded.value->targets)
    names.push_back(target.name);
  EXPECT_EQ(names, (std::vector<std::string>{"www.163.com", "www.sina.com.cn", "127.0.0.1-8080",
                                             "__1-8443", "2001_db8__1", "www.sohu.com"}));
}

TEST(Loader, DerivedNamesThatCollideAreAnError) {
  EXPECT_EQ(errors_of(R"({"targets": ["http://www.163.com/", "http://www.163.com/news"]})"),
            "/targets/1: duplicate target name \"www.163.com\", first defined in fetchd.json at "
            "/targets/0");
  // The fix: name one of them.
  EXPECT_EQ(errors_of(R"({"targets": ["http://www.163.com/",
      {"name": "163-news", "url": "http://www.163.com/news"}]})"),
            "");
}

TEST(Loader, ReadsTheControlSocketSettings) {
  auto loaded = load_text(R"({"settings": {"control_socket": "/tmp/x.sock", "socket_mode": "600",
                                           "socket_group": "adm", "max_clients": 500,
                                           "admin_group": "4242"}})");
  ASSERT_TRUE(loaded) << loaded.error_text();
  const Settings& settings = loaded.value->settings;
  EXPECT_EQ(settings.control_socket, "/tmp/x.sock");
  EXPECT_EQ(settings.socket_mode, 0600u);
  EXPECT_EQ(settings.socket_group, "adm");
  EXPECT_EQ(settings.max_clients, 500u);
  EXPECT_EQ(settings.admin_group, "4242");
}

TEST(Loader, AnEmptyDocumentIsAValidConfigWithTheDefaults) {
  auto loaded = load_text("{}");
  ASSERT_TRUE(loaded) << loaded.error_text();
  const Config& config = *loaded.value;
  EXPECT_TRUE(config.targets.empty());
  EXPECT_EQ(config.settings, Settings{});
  EXPECT_EQ(config.settings.control_socket, "/run/fetchd/control.sock");
  EXPECT_EQ(config.settings.socket_mode, 0660u);
  EXPECT_EQ(config.settings.state_dir, "/var/lib/fetchd");
  EXPECT_EQ(config.settings.history_length, 100u);
  EXPECT_EQ(config.settings.max_in_flight, 256u);
  EXPECT_EQ(config.settings.log_level, LogLevel::info);
  EXPECT_EQ(config.settings.max_clients, 64u);
  EXPECT_EQ(config.settings.admin_group, "");
  EXPECT_EQ(config.files, std::vector<std::string>{"fetchd.json"});
}

TEST(Loader, ReadsEveryTargetOption) {
  auto loaded = load_text(R"({"targets": [{
      "_comment": ["shown", "twice"],
      "name": "api.v2_x", "url": "https://api.test:8443/health?x=1",
      "interval": "1m30s", "timeout": "2500ms", "method": "GET",
      "headers": {"Authorization": "Bearer t", "User-Agent": "probe"},
      "labels": {"team": "core", "env": "prod"}, "enabled": false,
      "tls": {"verify": false, "ca_file": "ca.pem", "server_name": "api.internal"},
      "ip": "ipv6", "max_redirects": 5, "max_body_bytes": 0, "max_header_bytes": 2048,
      "down_after": 3, "up_after": 2,
      "expect": {"status": [200, "301-302", "4xx"], "body_contains": "ok", "body_regex": "^\\{",
                 "headers": {"Content-Type": "application/json", "ETag": true},
                 "max_latency": "750ms", "cert_days": 21}}]})");
  ASSERT_TRUE(loaded) << loaded.error_text();
  ASSERT_EQ(loaded.value->targets.size(), 1u);
  const TargetConfig& t = loaded.value->targets[0];
  EXPECT_EQ(t.name, "api.v2_x");
  EXPECT_EQ(t.fetch.url.to_string(), "https://api.test:8443/health?x=1");
  EXPECT_EQ(t.interval, milliseconds(90'000));
  EXPECT_EQ(t.fetch.timeout, milliseconds(2'500));
  EXPECT_EQ(t.fetch.method, http::Method::get);
  EXPECT_EQ(t.fetch.headers,
            (http::Headers{{"Authorization", "Bearer t"}, {"User-Agent", "probe"}}));
  EXPECT_EQ(t.labels, (std::map<std::string, std::string>{{"env", "prod"}, {"team", "core"}}));
  EXPECT_FALSE(t.enabled);
  EXPECT_FALSE(t.fetch.tls.verify_peer);
  EXPECT_EQ(t.fetch.tls.ca_file, "ca.pem");
  EXPECT_EQ(t.fetch.tls.server_name, "api.internal");
  EXPECT_EQ(t.fetch.family, http::AddressFamily::ipv6);
  EXPECT_EQ(t.fetch.max_redirects, 5);
  EXPECT_EQ(t.fetch.max_body_bytes, 0u);
  EXPECT_EQ(t.fetch.max_header_bytes, 2048u);
  EXPECT_TRUE(t.fetch.keep_body);  // a body expectation needs the bytes
  EXPECT_EQ(t.down_after, 3);
  EXPECT_EQ(t.up_after, 2);
  EXPECT_EQ(t.expect.status, (std::vector<StatusRange>{{200, 200}, {301, 302}, {400, 499}}));
  EXPECT_EQ(t.expect.body_contains, "ok");
  ASSERT_TRUE(t.expect.body_regex);
  EXPECT_EQ(t.expect.body_regex->pattern(), "^\\{");
  EXPECT_EQ(t.expect.headers, (std::vector<HeaderExpectation>{{"Content-Type", "application/json"},
                                                              {"ETag", std::nullopt}}));
  EXPECT_EQ(t.expect.max_latency, milliseconds(750));
  EXPECT_EQ(t.expect.min_cert_days, 21);
  EXPECT_EQ(t.source_file, "fetchd.json");
  EXPECT_EQ(t.source_pointer, "/targets/0");
}

TEST(Loader, UrlStringTargetsTakeTheDefaults) {
  auto loaded = load_text(R"({"targets": ["http://a.test/"]})");
  ASSERT_TRUE(loaded) << loaded.error_text();
  const TargetConfig& t = loaded.value->targets[0];
  EXPECT_EQ(t.interval, std::chrono::seconds(30));
  EXPECT_EQ(t.fetch.timeout, std::chrono::seconds(10));
  EXPECT_TRUE(t.enabled);
  EXPECT_FALSE(t.fetch.keep_body);
  EXPECT_EQ(t.expect.status, (std::vector<StatusRange>{{200, 399}}));
  EXPECT_EQ(t.down_after, 1);
  EXPECT_EQ(t.up_after, 1);
}

TEST(Loader, TargetsMergeOverDefaultsByTheDocumentedRule) {
  auto loaded = load_text(R"({
    "defaults": {"interval": "10s", "headers": {"X-Team": "core", "Accept": "*/*"},
                 "labels": {"team": "core", "env": "prod"}, "tls": {"verify": false},
                 "expect": {"status": "2xx", "headers": {"Server": true}, "max_latency": "1s"}},
    "targets": [
      "http://plain.test/",
      {"url": "https://own.test/", "interval": "1m", "headers": {"x-team": "edge"},
       "labels": {"env": "staging", "site": "own"}, "tls": {"ca_file": "ca.pem"},
       "expect": {"status": [200, 204], "headers": {"Via": "1.1 proxy"}}}]})");
  ASSERT_TRUE(loaded) << loaded.error_text();
  const TargetConfig& plain = loaded.value->targets[0];
  EXPECT_EQ(plain.interval, std::chrono::seconds(10));
  EXPECT_EQ(plain.fetch.headers, (http::Headers{{"Accept", "*/*"}, {"X-Team", "core"}}));
  EXPECT_FALSE(plain.fetch.tls.verify_peer);
  EXPECT_EQ(plain.expect.status, (std::vector<StatusRange>{{200, 299}}));

  const TargetConfig& own = loaded.value->targets[1];
  EXPECT_EQ(own.interval, std::chrono::minutes(1));
  // Headers merge by name, case-insensitively: the target's value replaces the default's.
  EXPECT_EQ(own.fetch.headers, (http::Headers{{"Accept", "*/*"}, {"X-Team", "edge"}}));
  EXPECT_EQ(own.labels, (std::map<std::string, std::string>{
                            {"env", "staging"}, {"site", "own"}, {"team", "core"}}));
  // tls merges key by key.
  EXPECT_FALSE(own.fetch.tls.verify_peer);
  EXPECT_EQ(own.fetch.tls.ca_file, "ca.pem");
  // expect merges key by key; the status list replaces; expect.headers merge by name.
  EXPECT_EQ(own.expect.status, (std::vector<StatusRange>{{200, 200}, {204, 204}}));
  EXPECT_EQ(own.expect.max_latency, std::chrono::seconds(1));
  EXPECT_EQ(own.expect.headers,
            (std::vector<HeaderExpectation>{{"Server", std::nullopt}, {"Via", "1.1 proxy"}}));
}

TEST(Loader, MergedLimitsAreCheckedOnTheWholeTarget) {
  json defaults_labels = json::object();
  json target_labels = json::object();
  for (int i = 0; i < 20; ++i) {
    defaults_labels["d" + std::to_string(i)] = "x";
    target_labels["t" + std::to_string(i)] = "x";
  }
  const json document = {{"defaults", {{"labels", defaults_labels}}},
                         {"targets", {{{"url", "http://a.test/"}, {"labels", target_labels}}}}};
  EXPECT_EQ(errors_of(document.dump()),
            "/targets/0/labels: expected at most 32 labels (with the defaults'), found 40");
}

TEST(Loader, DropInsOverrideSettingsAndDefaultsAndAddTargets) {
  auto loaded = load_documents({
      {"fetchd.json", R"({"settings": {"history_length": 50, "log_level": "debug"},
                         "defaults": {"interval": "10s", "labels": {"a": "main"}},
                         "targets": ["http://main.test/"]})"},
      {"conf.d/10-a.json", R"({"settings": {"history_length": 70},
                              "defaults": {"labels": {"b": "drop-in"}},
                              "targets": ["http://a.test/"]})"},
      {"conf.d/20-b.json", R"({"settings": {"history_length": 90},
                              "defaults": {"interval": "20s"}})"},
  });
  ASSERT_TRUE(loaded) << loaded.error_text();
  const Config& config = *loaded.value;
  EXPECT_EQ(config.settings.history_length, 90u);         // the last file wins
  EXPECT_EQ(config.settings.log_level, LogLevel::debug);  // untouched keys stay
  ASSERT_EQ(config.targets.size(), 2u);
  for (const auto& target : config.targets) {
    // The merged defaults apply to every file's targets.
    EXPECT_EQ(target.interval, std::chrono::seconds(20)) << target.name;
    EXPECT_EQ(target.labels, (std::map<std::string, std::string>{{"a", "main"}, {"b", "drop-in"}}));
  }
  EXPECT_EQ(config.targets[0].source_file, "fetchd.json");
  EXPECT_EQ(config.targets[1].source_file, "conf.d/10-a.json");
  EXPECT_EQ(config.defaults.target.interval, std::chrono::seconds(20));
  EXPECT_EQ(config.files,
            (std::vector<std::string>{"fetchd.json", "conf.d/10-a.json", "conf.d/20-b.json"}));
}

TEST(Loader, TargetsKnowTheirFileAndPointer) {
  auto loaded = load_documents({
      {"fetchd.json", R"({"targets": ["http://a.test/", {"url": "http://b.test/"}]})"},
      {"conf.d/10-a.json", R"({"targets": [{"name": "c", "url": "http://c.test/"},
                                           "http://d.test/"]})"},
  });
  ASSERT_TRUE(loaded) << loaded.error_text();
  const auto& targets = loaded.value->targets;
  ASSERT_EQ(targets.size(), 4u);
  const std::pair<std::string, std::string> expected[] = {{"fetchd.json", "/targets/0"},
                                                          {"fetchd.json", "/targets/1"},
                                                          {"conf.d/10-a.json", "/targets/0"},
                                                          {"conf.d/10-a.json", "/targets/1"}};
  for (std::size_t i = 0; i < targets.size(); ++i) {
    EXPECT_EQ(targets[i].source_file, expected[i].first) << targets[i].name;
    EXPECT_EQ(targets[i].source_pointer, expected[i].second) << targets[i].name;
  }
}

TEST(Loader, ErrorsFromSeveralFilesAreAllReported) {
  auto loaded = load_documents({{"fetchd.json", "{\"targets\": [5]}"},
                                {"conf.d/a.json", "{\"targets\": ["},
                                {"conf.d/b.json", "{\"settings\": {\"log_level\": 1}}"}});
  std::vector<std::string> lines;
  for (const auto& error : loaded.errors)
    lines.push_back(error.to_string());
  EXPECT_EQ(
      lines,
      (std::vector<std::string>{
          "conf.d/a.json:1:14: invalid JSON: syntax error while parsing value - unexpected "
          "end of input; expected '[', '{', or a literal",
          "conf.d/b.json:1:15: /settings/log_level: expected \"trace\", \"debug\", \"info\", "
          "\"warning\" or \"error\", found 1",
          "fetchd.json:1:14: /targets/0: expected a URL string or a target object, found 5"}));
}

class LoaderFiles : public ::testing::Test {
 protected:
  test::TempDir dir_{"fetchd-config"};
  std::filesystem::path main_ = dir_.path() / "fetchd.json";
  std::filesystem::path conf_d_ = dir_.path() / "conf.d";
};

TEST_F(LoaderFiles, ReadsDropInsInByteOrderAndSkipsOtherFiles) {
  test::write_file(main_, R"({"targets": ["http://main.test/"]})");
  std::filesystem::create_directory(conf_d_);
  test::write_file(conf_d_ / "20-b.json", R"({"targets": ["http://b.test/"]})");
  test::write_file(conf_d_ / "10-a.json", R"({"targets": ["http://a.test/"]})");
  test::write_file(conf_d_ / "B-upper.json", R"({"targets": ["http://upper.test/"]})");
  test::write_file(conf_d_ / "README", "not json");
  test::write_file(conf_d_ / "30-c.json.disabled", "not json");
  test::write_file(conf_d_ / ".#10-a.json", "an editor's lock file");
  std::filesystem::create_directory(conf_d_ / "sub.json");
  auto loaded = load_config(main_);
  ASSERT_TRUE(loaded) << loaded.error_text();
  std::vector<std::string> names;
  for (const auto& target : loaded.value->targets)
    names.push_back(target.name);
  EXPECT_EQ(names, (std::vector<std::string>{"main.test", "a.test", "b.test", "upper.test"}));
  EXPECT_EQ(loaded.value->files,
            (std::vector<std::string>{main_.string(), (conf_d_ / "10-a.json").string(),
                                      (conf_d_ / "20-b.json").string(),
                                      (conf_d_ / "B-upper.json").string()}));
}

TEST_F(LoaderFiles, DuplicateNameNamesBothFiles) {
  test::write_file(main_, R"({"targets": [{"name": "api", "url": "http://a.test/"}]})");
  std::filesystem::create_directory(conf_d_);
  test::write_file(conf_d_ / "10-api.json",
                   R"({"targets": [{"name": "api", "url": "http://b.test/"}]})");
  auto loaded = load_config(main_);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].to_string(),
            (conf_d_ / "10-api.json").string() +
                ":1:14: /targets/0: duplicate target name \"api\", first defined in " +
                main_.string() + " at /targets/0");
}

TEST_F(LoaderFiles, MissingMainFileIsAnError) {
  auto loaded = load_config(main_);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].to_string(),
            main_.string() + ": cannot read: No such file or directory");
}

TEST_F(LoaderFiles, MissingConfDIsFine) {
  test::write_file(main_, "{}");
  EXPECT_TRUE(load_config(main_));
}

TEST_F(LoaderFiles, ConfDThatIsAFileIsAnError) {
  test::write_file(main_, "{}");
  test::write_file(conf_d_, "");
  auto loaded = load_config(main_);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].to_string(), conf_d_.string() + ": cannot read: Not a directory");
}

TEST(LoaderTarget, ParsesARuntimeTargetWithTheConfigDefaults) {
  auto config = load_text(R"({"defaults": {"interval": "5s", "labels": {"team": "core"}}})");
  ASSERT_TRUE(config);
  auto target = parse_target(json::parse(R"({"name": "rt", "url": "http://rt.test/"})"),
                             config.value->defaults, "runtime");
  ASSERT_TRUE(target) << target.error().message;
  EXPECT_EQ(target->name, "rt");
  EXPECT_EQ(target->interval, std::chrono::seconds(5));
  EXPECT_EQ(target->labels.at("team"), "core");
  EXPECT_EQ(target->source_file, "runtime");
  EXPECT_EQ(target->source_pointer, "");

  auto from_url = parse_target(json("http://www.douban.com/"), config.value->defaults, "runtime");
  ASSERT_TRUE(from_url) << from_url.error().message;
  EXPECT_EQ(from_url->name, "www.douban.com");
}

TEST(LoaderTarget, RuntimeErrorsAreRelativeToTheObject) {
  auto target =
      parse_target(json::parse(R"({"url": "http://rt.test/", "interval": "fast", "methd": "GET"})"),
                   Defaults{}, "runtime");
  ASSERT_FALSE(target);
  EXPECT_EQ(target.error().message,
            "/interval: expected a duration like \"30s\", found \"fast\": expected a number at "
            "\"fast\"; /methd: unknown key \"methd\" (did you mean \"method\"?)");
  auto not_object = parse_target(json::array(), Defaults{}, "runtime");
  ASSERT_FALSE(not_object);
  EXPECT_EQ(not_object.error().message,
            "expected a URL string or a target object, found an empty array");

  auto checked = check_target(json::parse(R"({"url": 1})"), Defaults{}, "add", "/target");
  ASSERT_EQ(checked.errors.size(), 1u);
  EXPECT_EQ(checked.errors[0].to_string(), "add: /target/url: expected a URL string, found 1");
}

TEST(LoaderTarget, ABodyFileIsReadFromConfigurationFilesButRefusedFromTheControlSocket) {
  test::TempDir dir("fetchd-body");
  const auto body = dir.path() / "body.json";
  test::write_file(body, "{\"alert\": \"test\"}\n");
  const std::string target = R"({"name": "hook", "url": "http://hook.test/", "method": "POST", )"
                             R"("body_file": ")" +
                             body.string() + R"("})";
  auto config = load_text(R"({"targets": [)" + target + "]}");
  ASSERT_TRUE(config.value) << config.errors.at(0).to_string();
  EXPECT_EQ(config.value->targets.at(0).fetch.body, "{\"alert\": \"test\"}\n");

  auto runtime = parse_target(json::parse(target), Defaults{}, "runtime");
  ASSERT_FALSE(runtime);
  EXPECT_EQ(runtime.error().message,
            "/body_file: body_file is not accepted through the control socket (it would read a "
            "file of the daemon's disk); send the body itself as \"body\"");
  auto with_body = parse_target(
      json::parse(R"({"url": "http://hook.test/", "method": "POST", "body": "a=1\nb=2"})"),
      Defaults{}, "runtime");
  ASSERT_TRUE(with_body) << with_body.error().message;
  EXPECT_EQ(with_body->fetch.body, "a=1\nb=2");
}

TEST(Loader, AlertsGoToTheAlertmanagersOfTheLastFileThatNamesThem) {
  auto loaded = load_documents(
      {{"fetchd.json",
        R"({"alerts": {"alertmanager": {"urls": ["http://127.0.0.1:9093"], "labels": {"a": "1"}}}})"},
       {"conf.d/10-am.json",
        R"({"alerts": {"alertmanager": {"urls": ["http://[::1]:9093/", "https://am.test"],
                                        "resend_interval": "30s"}}})"}});
  ASSERT_TRUE(loaded.value) << loaded.errors.at(0).to_string();
  const auto& alertmanager = loaded.value->alerts.alertmanager;
  ASSERT_TRUE(alertmanager);
  ASSERT_EQ(alertmanager->urls.size(), 2u);
  EXPECT_EQ(alertmanager->urls[0].to_string(), "http://[::1]:9093/");
  EXPECT_EQ(alertmanager->urls[1].to_string(), "https://am.test/");
  EXPECT_EQ(alertmanager->resend_interval, std::chrono::seconds(30));
  EXPECT_TRUE(alertmanager->labels.empty());
  EXPECT_FALSE(load_text("{}").value->alerts.alertmanager);
}

TEST(Loader, WebhooksAndCommandsAreRead) {
  test::TempDir dir("fetchd-webhooks");
  const auto headers = dir.path() / "headers.json";
  test::write_file(headers, R"({"Authorization": "Bearer s3cret"})");
  auto loaded = load_text(R"({"alerts": {"storm_threshold": 0, "max_commands": 2,
      "webhooks": [
        {"name": "slack", "url": "https://hooks.test/x", "headers_file": ")" +
                          headers.string() + R"(",
         "body": "{\"text\": \"{summary} {labels.team}\"}",
         "match": {"names": ["a", "b"], "labels": {"env": "prod"},
                   "labels_regex": {"team": "core|edge"}},
         "repeat_interval": "1h", "max_age": "10m"},
        {"name": "ntfy", "url": "http://ntfy.test/alerts", "method": "PUT", "body": "{name} is {state}"}],
      "commands": [{"name": "page", "argv": ["/usr/local/bin/page", "--urgent"], "timeout": "5s"}]}})");
  ASSERT_TRUE(loaded.value) << loaded.errors.at(0).to_string();
  const auto& alerts = loaded.value->alerts;
  EXPECT_EQ(alerts.storm_threshold, 0u);
  EXPECT_EQ(alerts.max_commands, 2u);
  ASSERT_EQ(alerts.webhooks.size(), 2u);
  const auto& slack = alerts.webhooks[0];
  EXPECT_EQ(slack.route.name, "slack");
  EXPECT_EQ(slack.content_type, "application/json");
  ASSERT_TRUE(slack.body);
  EXPECT_EQ(slack.body->escape(), BodyEscape::json);
  EXPECT_EQ(slack.route.repeat_interval, std::chrono::hours(1));
  EXPECT_EQ(slack.route.max_age, std::chrono::minutes(10));
  EXPECT_EQ(slack.route.match.names, (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(slack.route.match.labels_regex.contains("team"));
  EXPECT_TRUE(slack.route.match.labels_regex.at("team").search("edge"));
  EXPECT_FALSE(slack.route.match.labels_regex.at("team").search("core-2"));
  EXPECT_EQ(slack.headers, (http::Headers{{"Authorization", "Bearer s3cret"},
                                          {"Content-Type", "application/json"}}));
  const auto& ntfy = alerts.webhooks[1];
  EXPECT_EQ(ntfy.method, http::Method::put);
  EXPECT_EQ(ntfy.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(ntfy.body->escape(), BodyEscape::none);
  ASSERT_EQ(alerts.commands.size(), 1u);
  EXPECT_EQ(alerts.commands[0].argv, (std::vector<std::string>{"/usr/local/bin/page", "--urgent"}));
  EXPECT_EQ(alerts.commands[0].route.timeout, std::chrono::seconds(5));
  EXPECT_EQ(load_text("{}").value->alerts.storm_threshold, 20u);
}

TEST(LoaderTarget, NamesAreChecked) {
  EXPECT_TRUE(is_valid_target_name("a"));
  EXPECT_TRUE(is_valid_target_name("www.163.com"));
  EXPECT_TRUE(is_valid_target_name("_x-1.2"));
  EXPECT_TRUE(is_valid_target_name(std::string(128, 'a')));
  EXPECT_FALSE(is_valid_target_name(""));
  EXPECT_FALSE(is_valid_target_name("-a"));
  EXPECT_FALSE(is_valid_target_name("a/b"));
  EXPECT_FALSE(is_valid_target_name("a b"));
  EXPECT_FALSE(is_valid_target_name("\xc3\xa9"));
  EXPECT_FALSE(is_valid_target_name(std::string(129, 'a')));
}

}  // namespace
}  // namespace fetchd::config
