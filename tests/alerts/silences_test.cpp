// Silences as data: what a silence covers, the bounds add() enforces, which silence covers a
// target at a given time, expiry with an explicit `now`, and the persisted document.

#include "alerts/silences.h"

#include <gtest/gtest.h>

namespace fetchd::alerts {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Labels = std::map<std::string, std::string>;
using TimePoint = std::chrono::system_clock::time_point;

// A whole second, so that the document's milliseconds give it back exactly.
const TimePoint kT0 = TimePoint(std::chrono::seconds(1'764'000'000));

Silence by_name(std::string name, std::chrono::milliseconds lasts = 2h, std::string comment = "") {
  return Silence{
      .name = std::move(name), .created = kT0, .until = kT0 + lasts, .comment = std::move(comment)};
}

Silence by_labels(Labels labels, std::chrono::milliseconds lasts = 2h) {
  return Silence{.labels = std::move(labels), .created = kT0, .until = kT0 + lasts};
}

TEST(Silence, CoversByNameByEveryLabelOrByBoth) {
  const Labels prod_core = {{"env", "prod"}, {"team", "core"}};
  EXPECT_TRUE(by_name("web").covers("web", {}));
  EXPECT_FALSE(by_name("web").covers("web1", {}));
  EXPECT_FALSE(by_name("web").covers("we", prod_core));
  EXPECT_TRUE(by_labels({{"env", "prod"}}).covers("anything", prod_core));
  EXPECT_TRUE(by_labels(prod_core).covers("anything", prod_core));
  EXPECT_FALSE(by_labels({{"env", "prod"}, {"team", "edge"}}).covers("anything", prod_core));
  EXPECT_FALSE(by_labels({{"env", "prod"}}).covers("anything", {{"env", "production"}}));
  EXPECT_FALSE(by_labels({{"zone", "a"}}).covers("anything", prod_core));
  auto both = by_name("web");
  both.labels = {{"env", "prod"}};
  EXPECT_TRUE(both.covers("web", prod_core));
  EXPECT_FALSE(both.covers("web", {{"env", "dev"}}));
  EXPECT_FALSE(both.covers("api", prod_core));
}

TEST(Silence, DescribedForLogLines) {
  EXPECT_EQ(describe_matchers(by_name("web1")), "name \"web1\"");
  EXPECT_EQ(describe_matchers(by_labels({{"env", "prod"}})), "label env=prod");
  auto both = by_labels({{"env", "prod"}, {"team", "core"}});
  both.name = "web";
  EXPECT_EQ(describe_matchers(both), "name \"web\", labels env=prod, team=core");
}

TEST(Silence, BoundsAreChecked) {
  EXPECT_EQ(check_silence(by_name("web")), std::nullopt);
  EXPECT_EQ(check_silence(Silence{.created = kT0, .until = kT0 + 1h}),
            "a silence needs a target name or labels");
  EXPECT_EQ(check_silence(by_name("web", 1min)), std::nullopt);
  EXPECT_EQ(check_silence(by_name("web", 8760h)), std::nullopt);
  EXPECT_EQ(check_silence(by_name("web", 59s)), "a silence lasts from 1 minute to 1 year (8760h)");
  EXPECT_EQ(check_silence(by_name("web", 8761h)),
            "a silence lasts from 1 minute to 1 year (8760h)");
  EXPECT_EQ(check_silence(by_name("web", 2h, std::string(1000, 'x'))), std::nullopt);
  EXPECT_EQ(check_silence(by_name("web", 2h, std::string(1001, 'x'))),
            "the comment is longer than 1000 bytes");
  EXPECT_NE(check_silence(by_labels({{"not a label", "x"}})), std::nullopt);
  EXPECT_NE(check_silence(by_labels({{"__name", "x"}})), std::nullopt);
  EXPECT_NE(check_silence(by_labels({{"env", std::string(257, 'x')}})), std::nullopt);
  Labels many;
  for (int i = 0; i < 9; ++i)
    many.emplace("l" + std::to_string(i), "v");
  EXPECT_EQ(check_silence(by_labels(many)), "at most 8 labels, found 9");
  EXPECT_NE(check_silence(by_name("")), std::nullopt);
}

TEST(Silences, IdsAreGivenInOrderAndNeverReused) {
  Silences silences;
  EXPECT_EQ(*silences.add(by_name("a")), 1u);
  EXPECT_EQ(*silences.add(by_name("b")), 2u);
  EXPECT_TRUE(silences.remove(2).has_value());
  EXPECT_EQ(*silences.add(by_name("c")), 3u);
  EXPECT_EQ(silences.next_id(), 4u);
  ASSERT_EQ(silences.size(), 2u);
  EXPECT_EQ(silences.all()[0].id, 1u);
  EXPECT_EQ(silences.all()[1].id, 3u);
  EXPECT_EQ(*silences.all()[1].name, "c");
  EXPECT_FALSE(silences.remove(2).has_value());
  EXPECT_FALSE(silences.remove(99).has_value());
  EXPECT_EQ(silences.find(3)->name, "c");
  EXPECT_EQ(silences.find(2), nullptr);
}

TEST(Silences, AddRefusesAnInvalidSilenceAndBeyondTheLimit) {
  Silences silences;
  EXPECT_FALSE(silences.add(by_name("web", 10s)));
  for (std::size_t i = 0; i < kMaxSilences; ++i)
    ASSERT_TRUE(silences.add(by_name("t" + std::to_string(i))));
  EXPECT_TRUE(silences.full());
  const auto refused = silences.add(by_name("one more"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "at most 10000 silences are kept");
  EXPECT_EQ(silences.size(), kMaxSilences);
  silences.remove(5);
  EXPECT_TRUE(silences.add(by_name("one more")));
}

TEST(Silences, CoveringIsActiveOnlyAndPrefersTheLongest) {
  Silences silences;
  const Labels prod = {{"env", "prod"}};
  silences.add(by_name("web", 1h));           // 1
  silences.add(by_labels(prod, 3h));          // 2
  silences.add(by_name("web", 2h));           // 3
  silences.add(by_labels({{"env", "dev"}}));  // 4
  EXPECT_EQ(silences.covering("web", {}, kT0)->id, 3u);
  EXPECT_EQ(silences.covering("web", prod, kT0)->id, 2u);
  EXPECT_EQ(silences.covering("api", prod, kT0)->id, 2u);
  EXPECT_EQ(silences.covering("api", {}, kT0), nullptr);
  // Until is exclusive: at 2h the silence by name has ended.
  EXPECT_EQ(silences.covering("web", {}, kT0 + 2h - 1ms)->id, 3u);
  EXPECT_EQ(silences.covering("web", {}, kT0 + 2h), nullptr);
  EXPECT_EQ(silences.covering("web", prod, kT0 + 2h)->id, 2u);
  // Ending together: the lowest id.
  silences.add(by_labels(prod, 3h));  // 5
  EXPECT_EQ(silences.covering("x", prod, kT0)->id, 2u);
  silences.remove(2);
  EXPECT_EQ(silences.covering("x", prod, kT0)->id, 5u);
  silences.remove(3);
  EXPECT_EQ(silences.covering("web", {}, kT0)->id, 1u);
}

TEST(Silences, ExpireRemovesThoseEndedAtNowAndNextExpiryFollows) {
  Silences silences;
  EXPECT_EQ(silences.next_expiry(), std::nullopt);
  silences.add(by_name("a", 2h));
  silences.add(by_name("b", 1h));
  silences.add(by_labels({{"env", "prod"}}, 3h));
  EXPECT_EQ(silences.next_expiry(), kT0 + 1h);
  EXPECT_TRUE(silences.expire(kT0 + 1h - 1ms).empty());
  const auto first = silences.expire(kT0 + 1h);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].id, 2u);
  EXPECT_EQ(silences.next_expiry(), kT0 + 2h);
  const auto rest = silences.expire(kT0 + 5h);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].id, 1u);
  EXPECT_EQ(rest[1].id, 3u);
  EXPECT_EQ(silences.size(), 0u);
  EXPECT_EQ(silences.covering("x", {{"env", "prod"}}, kT0), nullptr);
  EXPECT_EQ(silences.next_expiry(), std::nullopt);
  EXPECT_EQ(*silences.add(by_name("a")), 4u);
}

TEST(Silences, TheDocumentRoundTrips) {
  Silences silences;
  silences.add(by_name("web", 2h, "disk swap"));
  auto both = by_labels({{"env", "prod"}, {"team", "core"}}, 90min);
  both.name = "api";
  silences.add(both);
  silences.add(by_labels({{"env", "dev"}}));
  silences.remove(3);
  const auto document = silences.to_json();
  EXPECT_EQ(document["version"], 1);
  EXPECT_EQ(document["next_id"], 4);
  EXPECT_EQ(document["silences"][0],
            json::parse(R"({"id": 1, "name": "web", "labels": {}, "created_ms": 1764000000000,
                             "until_ms": 1764007200000, "comment": "disk swap"})"));
  EXPECT_EQ(document["silences"].size(), 2u);
  auto back = Silences::from_json(document);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->all(), silences.all());
  EXPECT_EQ(back->next_id(), 4u);
  EXPECT_EQ(back->covering("api", {{"env", "prod"}, {"team", "core"}}, kT0)->id, 2u);
  EXPECT_EQ(*back->add(by_name("x")), 4u);
}

TEST(Silences, ADamagedDocumentSaysWhereAndWhat) {
  const auto error_of = [](const std::string& text) {
    auto parsed = Silences::from_json(json::parse(text));
    return parsed ? std::string("(accepted)") : parsed.error().message;
  };
  const std::string one =
      R"({"id": 1, "name": "web", "labels": {}, "created_ms": 1764000000000,
          "until_ms": 1764007200000, "comment": ""})";
  EXPECT_EQ(error_of(R"({"version": 1, "next_id": 2, "silences": [)" + one + "]}"), "(accepted)");
  EXPECT_EQ(error_of("[]"),
            R"(expected an object with "version", "next_id" and "silences", found array)");
  EXPECT_EQ(error_of(R"({"next_id": 2, "silences": []})"), "/version: missing (expected 1)");
  EXPECT_EQ(error_of(R"({"version": 2})"),
            "/version: unsupported version 2 (this fetchd reads version 1)");
  EXPECT_EQ(error_of(R"({"version": 1, "next_id": 2, "silences": [], "x": 1})"), "/x: unknown key");
  EXPECT_EQ(error_of(R"({"version": 1, "silences": []})"),
            "/next_id: missing (expected an integer)");
  EXPECT_EQ(error_of(R"({"version": 1, "next_id": 2, "silences": {}})"),
            "/silences: expected an array, found object");
  EXPECT_EQ(error_of(R"({"version": 1, "next_id": 1, "silences": [)" + one + "]}"),
            "/silences/0/id: id 1 is not below next_id 1");
  EXPECT_EQ(error_of(R"({"version": 1, "next_id": 5, "silences": [)" + one + "," + one + "]}"),
            "/silences/1/id: id 1 is given to two silences");
  EXPECT_EQ(error_of(R"({"version": 1, "next_id": 5, "silences": [{"id": 1, "name": "web",
                        "created_ms": 1764000000000, "until_ms": "soon"}]})"),
            "/silences/0/until_ms: expected milliseconds since 1970 (an integer from 0 to "
            "7000000000000), found \"soon\"");
  EXPECT_EQ(error_of(R"({"version": 1, "next_id": 5, "silences": [{"id": 1, "name": "web",
                        "created_ms": 1764000000000}]})"),
            "/silences/0/until_ms: missing");
  EXPECT_EQ(error_of(R"({"version": 1, "next_id": 5, "silences": [{"id": 1, "name": "web",
                        "created_ms": 1764000000000, "until_ms": 1764000001000}]})"),
            "/silences/0: a silence lasts from 1 minute to 1 year (8760h)");
  EXPECT_EQ(error_of(R"({"version": 1, "next_id": 5, "silences": [{"id": 1, "nmae": "web"}]})"),
            "/silences/0/nmae: unknown key");
  EXPECT_EQ(error_of(R"({"version": 1, "next_id": 5, "silences": [{"id": 1, "labels": {"a": 1},
                        "created_ms": 1764000000000, "until_ms": 1764007200000}]})"),
            "/silences/0/labels/a: expected a string, found number");
}

}  // namespace
}  // namespace fetchd::alerts
