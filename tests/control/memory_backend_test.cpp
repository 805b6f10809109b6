// The command table against a small in-memory backend: what each command makes of the backend's
// typed outcomes (codes, messages, the snapshot's rendering), with no service, loop or socket.

#include "control/memory_backend.h"

#include <map>

#include <gtest/gtest.h>

#include "control/commands.h"

namespace fetchd::control {
namespace {

using nlohmann::json;
using results::test::kEpoch;

class MemoryBackendTest : public ::testing::Test {
 protected:
  std::vector<Outcome> run(const std::string& cmd, json args = json::object()) {
    std::vector<Outcome> answers;
    Context context{backend_, true};
    dispatch(Request{nullptr, cmd, std::move(args)}, context,
             [&](Outcome outcome) { answers.push_back(std::move(outcome)); });
    return answers;
  }
  static std::string code_of(const std::vector<Outcome>& answers) {
    return answers.size() == 1 && answers[0].failure ? answers[0].failure->code : "";
  }
  MemoryBackend backend_;
};

TEST_F(MemoryBackendTest, StatusRendersTheSnapshot) {
  backend_.snapshot_ = status::Snapshot{
      .version = "9.9.9",
      .pid = 42,
      .started = kEpoch,
      .running_for = std::chrono::seconds(90),
      .config_files = {"/etc/fetchd/fetchd.json"},
      .last_reload = status::ReloadReport{.ok = true,
                                          .at = kEpoch,
                                          .added = {"a"},
                                          .unchanged = 3,
                                          .pending_restart = {"control_socket"}},
      .targets = {.total = 5, .up = 2, .down = 1, .unknown = 1, .disabled = 1, .runtime = 1},
      .in_flight = 7,
      .max_in_flight = 256,
      .fetches = 1000,
      .skipped = 2,
      .fetch_rate_per_s = 12.345,
  };
  const auto answers = run("status");
  ASSERT_EQ(answers.size(), 1u);
  const auto& result = answers[0].result;
  EXPECT_EQ(result["version"], "9.9.9");
  EXPECT_EQ(result["pid"], 42);
  EXPECT_EQ(result["uptime_s"], 90);
  EXPECT_EQ(result["config_files"], json::array({"/etc/fetchd/fetchd.json"}));
  EXPECT_EQ(result["targets"], json::parse(R"({"total": 5, "up": 2, "down": 1, "unknown": 1,
                                               "disabled": 1, "runtime": 1})"));
  EXPECT_EQ(result["in_flight"], 7);
  EXPECT_EQ(result["max_in_flight"], 256);
  EXPECT_EQ(result["totals"], json::parse(R"({"fetches": 1000, "skipped": 2})"));
  EXPECT_EQ(result["fetch_rate_per_s"], 12.35);
  EXPECT_EQ(result["last_reload"]["summary"], "1 added, 0 removed, 0 changed, 3 unchanged");
  EXPECT_EQ(result["last_reload"]["pending_restart"], json::array({"control_socket"}));
}

TEST_F(MemoryBackendTest, TypedRefusalsBecomeTheProtocolsCodes) {
  backend_.add_refusal_ = Refusal<AddRefused>{AddRefused::conflict, "taken"};
  EXPECT_EQ(code_of(run("add", {{"target", "http://127.0.0.1/"}})), "conflict");
  backend_.add_refusal_ = Refusal<AddRefused>{AddRefused::invalid_target, "bad"};
  EXPECT_EQ(code_of(run("add", {{"target", "http://127.0.0.1/"}})), "invalid_target");
  backend_.add_refusal_ = Refusal<AddRefused>{AddRefused::io_error, "disk"};
  const auto io = run("add", {{"target", "http://127.0.0.1/"}});
  EXPECT_EQ(code_of(io), "io_error");
  EXPECT_EQ(io[0].failure->message, "disk");
  backend_.add_refusal_.reset();
  const auto added = run("add", {{"target", "http://127.0.0.1/"}});
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(added[0].result, json({{"name", "added-name"}}));

  backend_.remove_refusal_ = Refusal<RemoveRefused>{RemoveRefused::config_target, "in a file"};
  EXPECT_EQ(code_of(run("remove", {{"name", "x"}})), "config_target");
  backend_.remove_refusal_ = Refusal<RemoveRefused>{RemoveRefused::not_found, "none"};
  EXPECT_EQ(code_of(run("remove", {{"name", "x"}})), "not_found");
  EXPECT_EQ(backend_.removed_, (std::vector<std::string>{"x", "x"}));
}

TEST_F(MemoryBackendTest, FetchAnswersForEveryOutcomeAndWaitsForTheResult) {
  backend_.fetch_answer_ = FetchNow::busy;
  EXPECT_EQ(code_of(run("fetch", {{"name", "a"}})), "busy");
  backend_.fetch_answer_ = FetchNow::disabled;
  EXPECT_EQ(code_of(run("fetch", {{"name", "a"}})), "disabled");
  backend_.fetch_answer_ = FetchNow::not_found;
  EXPECT_EQ(code_of(run("fetch", {{"name", "a"}})), "not_found");
  backend_.fetch_answer_ = FetchNow::started;
  EXPECT_EQ(run("fetch", {{"name", "a"}})[0].result, json({{"started", true}}));

  std::vector<Outcome> answers;
  Context context{backend_, true};
  dispatch(Request{nullptr, "fetch", {{"name", "a"}, {"wait", true}}}, context,
           [&](Outcome outcome) { answers.push_back(std::move(outcome)); });
  EXPECT_TRUE(answers.empty());  // until the backend has the result
  ASSERT_TRUE(backend_.pending_fetch_);
  backend_.pending_fetch_(nullptr);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].failure->code, "cancelled");
}

TEST_F(MemoryBackendTest, ReloadNamesTheSettingsThatWaitForARestart) {
  backend_.reload_ = status::ReloadReport{.ok = true,
                                          .changed = {"b"},
                                          .unchanged = 4,
                                          .pending_restart = {"dns_servers", "state_dir"}};
  const auto answers = run("reload");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].result, json::parse(R"({"added": [], "removed": [], "changed": ["b"],
      "unchanged": 4, "pending_restart": ["dns_servers", "state_dir"]})"));
  backend_.reload_ =
      status::ReloadReport{.ok = false, .errors = "a.json:1:2: bad\nb.json:3:4: worse"};
  const auto refused = run("reload");
  EXPECT_EQ(code_of(refused), "config_invalid");
  EXPECT_EQ(refused[0].failure->details,
            (std::vector<std::string>{"a.json:1:2: bad", "b.json:3:4: worse"}));
}

TEST_F(MemoryBackendTest, ListAndShowReadTheBackendsTargets) {
  auto& web = backend_.targets_["web"];
  web.config.name = "web";
  web.config.source_file = "/etc/fetchd/fetchd.json";
  web.results.record(results::test::success(kEpoch));
  auto& added = backend_.targets_["added"];
  added.config.name = "added";
  added.runtime = true;
  const auto list = run("list", {{"state", "up"}});
  ASSERT_EQ(list.size(), 1u);
  ASSERT_EQ(list[0].result["targets"].size(), 1u);
  EXPECT_EQ(list[0].result["targets"][0]["name"], "web");
  EXPECT_EQ(list[0].result["targets"][0]["source"], "config");
  EXPECT_EQ(list[0].result["targets"][0]["file"], "/etc/fetchd/fetchd.json");
  const auto show = run("show", {{"name", "added"}});
  ASSERT_EQ(show.size(), 1u);
  EXPECT_EQ(show[0].result["source"], "runtime");
  EXPECT_EQ(show[0].result["file"], nullptr);
  EXPECT_EQ(code_of(run("show", {{"name", "nope"}})), "not_found");
}

TEST_F(MemoryBackendTest, SilenceRefusalsBecomeTheProtocolsCodes) {
  auto& web = backend_.targets_["web"];
  web.config.name = "web";
  const json args = {{"name", "web"}, {"for", "2h"}};
  backend_.silence_refusal_ = Refusal<SilenceRefused>{SilenceRefused::full, "at most 10000"};
  const auto full = run("silence", args);
  EXPECT_EQ(code_of(full), "limit_exceeded");
  EXPECT_EQ(full[0].failure->message, "at most 10000");
  backend_.silence_refusal_ = Refusal<SilenceRefused>{SilenceRefused::io_error, "disk"};
  EXPECT_EQ(code_of(run("silence", args)), "io_error");
  backend_.silence_refusal_ = Refusal<SilenceRefused>{SilenceRefused::invalid, "bad"};
  EXPECT_EQ(code_of(run("silence", args)), "bad_request");
  backend_.silence_refusal_.reset();
  const auto kept = run("silence", args);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].result["silence"]["id"], 1);
  EXPECT_EQ(kept[0].result["matching"], 1);

  backend_.unsilence_refusal_ = Refusal<UnsilenceRefused>{UnsilenceRefused::io_error, "disk"};
  EXPECT_EQ(code_of(run("unsilence", {{"id", 1}})), "io_error");
  backend_.unsilence_refusal_.reset();
  EXPECT_EQ(code_of(run("unsilence", {{"id", 2}})), "not_found");
  EXPECT_EQ(run("unsilence", {{"id", 1}})[0].result["silence"]["name"], "web");
}

TEST_F(MemoryBackendTest, ExpiredSilencesAreNeitherListedNorShown) {
  auto& web = backend_.targets_["web"];
  web.config.name = "web";
  const auto now = std::chrono::system_clock::now();
  // Ended a second ago but not yet removed by the backend.
  ASSERT_TRUE(backend_.silences_.add({.name = "web",
                                      .created = now - std::chrono::hours(1),
                                      .until = now - std::chrono::seconds(1)}));
  EXPECT_EQ(run("silences")[0].result, json({{"silences", json::array()}}));
  EXPECT_TRUE(run("show", {{"name", "web"}})[0].result["silenced"].is_null());
  EXPECT_TRUE(run("list")[0].result["targets"][0]["silenced"].is_null());
}

}  // namespace
}  // namespace fetchd::control
