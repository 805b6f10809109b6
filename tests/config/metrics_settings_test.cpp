// The settings of the metrics listener and of fleets, and the label-name rules they share with
// targets' labels: values read, and each bad value's exact message with its pointer.

#include <gtest/gtest.h>

#include "config/errors_of.h"
#include "config/loader.h"
#include "config/shard.h"

namespace fetchd::config {
namespace {

TEST(MetricsSettings, AreReadWithTheirDefaults) {
  auto defaults = load_documents({{"fetchd.json", "{}"}});
  ASSERT_TRUE(defaults) << defaults.error_text();
  const auto& plain = defaults.value->settings;
  EXPECT_TRUE(plain.web_listen.empty());
  EXPECT_EQ(plain.web_max_clients, 64u);
  EXPECT_EQ(plain.metrics_buckets.size(), 11u);
  EXPECT_EQ(plain.shard, (Shard{0, 1}));

  auto loaded = load_documents({{"fetchd.json", R"({"settings": {
      "web_listen": ["127.0.0.1:9516", "[::1]:9516", "/run/fetchd/web.sock"],
      "web_max_clients": 8, "instance_labels": {"location": "eu-west"},
      "metrics_buckets": [0.1, 1], "shard": {"index": 1, "count": 3}}})"}});
  ASSERT_TRUE(loaded) << loaded.error_text();
  const auto& settings = loaded.value->settings;
  EXPECT_EQ(settings.web_listen,
            (std::vector<std::string>{"127.0.0.1:9516", "[::1]:9516", "/run/fetchd/web.sock"}));
  EXPECT_EQ(settings.web_max_clients, 8u);
  EXPECT_EQ(settings.instance_labels.at("location"), "eu-west");
  EXPECT_EQ(settings.metrics_buckets, (std::vector<double>{0.1, 1}));
  EXPECT_EQ(settings.shard, (Shard{1, 3}));
  EXPECT_EQ(errors_of(R"({"settings": {"metrics_buckets": []}})"), "");
}

TEST(MetricsSettings, EachBadValueGivesItsExactMessage) {
  const struct {
    std::string document;
    std::string error;
  } cases[] = {
      {R"({"settings": {"web_listen": "127.0.0.1:9516"}})",
       R"(/settings/web_listen: expected an array of listen addresses ("127.0.0.1:9516", "[::1]:9516" or a socket path), found "127.0.0.1:9516")"},
      {R"({"settings": {"web_listen": ["localhost:9516"]}})",
       R"(/settings/web_listen/0: expected an IP address with a port ("127.0.0.1:9516", "[::1]:9516") or an absolute socket path, found "localhost:9516")"},
      {R"({"settings": {"web_listen": ["127.0.0.1"]}})",
       R"(/settings/web_listen/0: expected an IP address with a port ("127.0.0.1:9516", "[::1]:9516") or an absolute socket path, found "127.0.0.1")"},
      {R"({"settings": {"web_listen": ["127.0.0.1:1", "127.0.0.1:1"]}})",
       R"(/settings/web_listen/1: listed twice: "127.0.0.1:1")"},
      {R"({"settings": {"instance_labels": {"name": "x"}}})",
       R"(/settings/instance_labels/name: label "name" is one of fetchd's own (name, phase, version, outcome, state, le): choose another name)"},
      {R"({"settings": {"instance_labels": {"__x": "x"}}})",
       R"(/settings/instance_labels/__x: expected a label name of letters, digits and '_' (at most 64, not starting with a digit or "__"), found "__x")"},
      {R"({"targets": [{"url": "http://a.test/", "labels": {"outcome": "x"}}]})",
       R"(/targets/0/labels/outcome: label "outcome" is one of fetchd's own (name, phase, version, outcome, state, le): choose another name)"},
      {R"({"settings": {"metrics_buckets": [1, 0.5]}})",
       R"(/settings/metrics_buckets: expected an array of at most 64 ascending positive numbers of seconds (empty: no histogram), found an array)"},
      {R"({"settings": {"shard": {"index": 2, "count": 2}}})",
       R"(/settings/shard/index: expected an index below count (2), found 2)"},
      {R"({"settings": {"shard": {"index": 0}}})",
       R"(/settings/shard: expected both "index" and "count", e.g. {"index": 0, "count": 2})"},
      {R"({"settings": {"shard": {"index": 0, "count": 2, "of": 3}}})",
       R"(/settings/shard/of: unknown key "of" (expected one of: index, count))"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(errors_of(c.document), c.error) << c.document;
}

// Prometheus' hashmod (model/relabel/relabel.go): MD5, the last 8 bytes big-endian, mod N. The
// expected shards are computed independently (Python's hashlib) and listed in docs/metrics.md.
TEST(Shard, IsPrometheusHashmod) {
  const struct {
    std::string_view name;
    std::uint64_t mod2, mod3;
  } known[] = {{"web", 1, 2}, {"api", 0, 1}, {"target-1", 0, 2}, {"target-2", 1, 0}, {"db", 1, 2}};
  for (const auto& k : known) {
    EXPECT_EQ(shard_of(k.name, 2), k.mod2) << k.name;
    EXPECT_EQ(shard_of(k.name, 3), k.mod3) << k.name;
  }
  EXPECT_TRUE(in_shard("anything", Shard{0, 1}));
  EXPECT_TRUE(in_shard("web", Shard{1, 2}));
  EXPECT_FALSE(in_shard("web", Shard{0, 2}));
}

}  // namespace
}  // namespace fetchd::config
