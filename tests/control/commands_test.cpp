#include "control/commands.h"

#include <set>
#include <sys/stat.h>

#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include "service/service.h"
#include "support/run_until.h"
#include "support/scripted_server.h"
#include "support/temp_dir.h"

namespace fetchd::control {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// The command table run against a real Service on a private loop, with a scripted HTTP server:
// every command and every error code a handler can give, without sockets.
class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.path() / "state");
    write_config(R"({"name": "web", "url": ")" + server_.url("/web") +
                 R"(", "interval": "1h", "labels": {"env": "prod", "team": "core"}},
                    {"name": "slow", "url": ")" +
                 slow_.url("/") +
                 R"(", "interval": "1h", "timeout": "5s"},
                    {"name": "off", "url": ")" +
                 server_.url("/off") + R"(", "enabled": false})");
    auto loaded = config::load_config(config_path());
    ASSERT_TRUE(loaded) << loaded.error_text();
    service_ = std::make_unique<service::Service>(io_, config_path(), std::move(*loaded.value));
    service_->start();
  }

  void TearDown() override {
    service_->shutdown();
    io_.poll();
    service_.reset();
  }

  void write_config(const std::string& targets) {
    test::write_file(config_path(), R"({"settings": {"state_dir": ")" +
                                        (dir_.path() / "state").string() + R"("}, "targets": [)" +
                                        targets + "]}");
  }
  std::filesystem::path config_path() const { return dir_.path() / "fetchd.json"; }
  std::filesystem::path silences_path() const { return dir_.path() / "state" / "silences.json"; }

  // Stops the service and starts another on the same files, as a restart of the daemon would.
  void restart() {
    service_->shutdown();
    io_.poll();
    service_.reset();
    auto loaded = config::load_config(config_path());
    ASSERT_TRUE(loaded) << loaded.error_text();
    service_ = std::make_unique<service::Service>(io_, config_path(), std::move(*loaded.value));
    service_->start();
  }

  // Runs a request and waits (on the loop, with a deadline) for its one answer.
  Outcome run(const std::string& cmd, json args = json::object(), bool admin = true) {
    Request request{nullptr, cmd, std::move(args)};
    Context context{*service_, admin};
    std::optional<Outcome> outcome;
    int answers = 0;
    dispatch(request, context, [&](Outcome answer) {
      ++answers;
      outcome = std::move(answer);
    });
    EXPECT_TRUE(test::run_until(
        io_, [&] { return outcome.has_value(); }, 10s))
        << cmd;
    io_.poll();
    EXPECT_EQ(answers, 1) << cmd;
    return outcome.value_or(Outcome::fail("none", "no answer"));
  }

  json ok(const std::string& cmd, json args = json::object()) {
    auto outcome = run(cmd, std::move(args));
    EXPECT_FALSE(outcome.failure) << cmd << ": " << outcome.failure->code << ": "
                                  << outcome.failure->message;
    return outcome.result;
  }

  std::string code_of(const std::string& cmd, json args = json::object(), bool admin = true) {
    auto outcome = run(cmd, std::move(args), admin);
    return outcome.failure ? outcome.failure->code : "ok";
  }

  asio::io_context io_;
  test::TempDir dir_{"fetchd-commands"};
  test::ScriptedServer server_{
      io_.get_executor(), [](std::size_t) {
        return test::respond_with(
            "HTTP/1.1 200 OK\r\nServer: scripted\r\nContent-Length: 2\r\n\r\nok");
      }};
  // Answers after a while, so that a fetch of it is still running when the next request comes.
  test::ScriptedServer slow_{io_.get_executor(),
                             test::Script{test::step::ReadRequest{}, test::step::Pause{300ms},
                                          test::step::Send{"HTTP/1.1 503 Busy\r\n"
                                                           "Content-Length: 0\r\n\r\n"}}};
  std::unique_ptr<service::Service> service_;
};

TEST_F(CommandsTest, HelpIsGeneratedFromTheTable) {
  const auto result = ok("help");
  std::vector<std::string> names;
  for (const auto& command : result["commands"]) {
    names.push_back(command["name"]);
    EXPECT_FALSE(command["usage"].get<std::string>().empty());
    EXPECT_FALSE(command["summary"].get<std::string>().empty());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"version", "help", "status", "list", "show", "add",
                                             "remove", "fetch", "reload", "watch", "silence",
                                             "silences", "unsilence"}));
  std::set<std::string> admin;
  for (const auto& command : result["commands"]) {
    if (command["access"] == "admin")
      admin.insert(command["name"].get<std::string>());
  }
  EXPECT_EQ(admin,
            (std::set<std::string>{"add", "remove", "fetch", "reload", "silence", "unsilence"}));
}

TEST_F(CommandsTest, LookupIsExactNeverAPrefix) {
  EXPECT_NE(find_command("status"), nullptr);
  EXPECT_EQ(find_command("stat"), nullptr);
  EXPECT_EQ(find_command("STATUS"), nullptr);
  EXPECT_EQ(find_command("status "), nullptr);
  EXPECT_EQ(code_of("stat"), "unknown_command");
  EXPECT_EQ(run("stat").failure->message, "no command \"stat\" (see \"help\")");
}

TEST_F(CommandsTest, VersionAndStatus) {
  EXPECT_EQ(ok("version"), json({{"version", "0.1.0"}, {"protocol", 1}}));
  const auto status = ok("status");
  EXPECT_EQ(status["pid"], ::getpid());
  EXPECT_EQ(status["config_files"], json::array({config_path().string()}));
  EXPECT_TRUE(status["last_reload"].is_null());
  EXPECT_EQ(
      status["targets"],
      json(
          {{"total", 3}, {"up", 0}, {"down", 0}, {"unknown", 2}, {"disabled", 1}, {"runtime", 0}}));
  EXPECT_EQ(status["max_in_flight"], 256);
  for (const char* key :
       {"version", "started", "uptime_s", "in_flight", "totals", "fetch_rate_per_s"}) {
    EXPECT_TRUE(status.contains(key)) << key;
  }
}

TEST_F(CommandsTest, FetchWithAndWithoutWait) {
  const auto waited = ok("fetch", {{"name", "web"}, {"wait", true}});
  EXPECT_EQ(waited["result"]["outcome"], "ok");
  EXPECT_EQ(waited["result"]["fetch"]["status"], 200);
  EXPECT_EQ(ok("fetch", {{"name", "slow"}}), json({{"started", true}}));
  EXPECT_EQ(code_of("fetch", {{"name", "slow"}}), "busy");
  EXPECT_EQ(code_of("fetch", {{"name", "off"}}), "disabled");
  EXPECT_EQ(code_of("fetch", {{"name", "nope"}}), "not_found");
  EXPECT_EQ(code_of("fetch", {{"name", "web"}, {"wait", "yes"}}), "bad_request");

  const auto status = ok("status");
  EXPECT_EQ(status["targets"]["up"], 1);
  EXPECT_GE(status["totals"]["fetches"], 1);
  EXPECT_GT(status["fetch_rate_per_s"], 0.0);
}

TEST_F(CommandsTest, AWaitedFetchOfARemovedTargetIsCancelledNotLeftHanging) {
  ASSERT_EQ(
      ok("add", {{"target", {{"name", "rt"}, {"url", slow_.url("/rt")}, {"interval", "1h"}}}}),
      json({{"name", "rt"}}));
  Context context{*service_, true};
  std::optional<Outcome> fetched;
  dispatch({nullptr, "fetch", {{"name", "rt"}, {"wait", true}}}, context,
           [&](Outcome outcome) { fetched = std::move(outcome); });
  EXPECT_FALSE(fetched);
  ok("remove", {{"name", "rt"}});
  ASSERT_TRUE(test::run_until(
      io_, [&] { return fetched.has_value(); }, 10s));
  ASSERT_TRUE(fetched->failure);
  EXPECT_EQ(fetched->failure->code, "cancelled");
}

TEST_F(CommandsTest, ListFiltersByStateAndLabels) {
  ok("fetch", {{"name", "web"}, {"wait", true}});
  ok("fetch", {{"name", "slow"}, {"wait", true}});
  auto names = [&](json args) {
    std::vector<std::string> out;
    const auto listed = ok("list", std::move(args));
    for (const auto& target : listed["targets"])
      out.push_back(target["name"]);
    return out;
  };
  EXPECT_EQ(names(json::object()), (std::vector<std::string>{"off", "slow", "web"}));
  EXPECT_EQ(names({{"state", "up"}}), std::vector<std::string>{"web"});
  EXPECT_EQ(names({{"state", "down"}}), std::vector<std::string>{"slow"});
  EXPECT_EQ(names({{"state", "unknown"}}), std::vector<std::string>{"off"});
  EXPECT_EQ(names({{"label", {{"env", "prod"}}}}), std::vector<std::string>{"web"});
  EXPECT_EQ(names({{"label", {{"env", "prod"}, {"team", "other"}}}}), std::vector<std::string>{});
  EXPECT_EQ(code_of("list", {{"state", "sideways"}}), "bad_request");
  EXPECT_EQ(code_of("list", {{"label", {{"env", 1}}}}), "bad_request");
  EXPECT_EQ(code_of("list", {{"lable", {}}}), "bad_request");

  const auto web = ok("list", {{"state", "up"}})["targets"][0];
  EXPECT_EQ(web["url"], server_.url("/web"));
  EXPECT_EQ(web["status"], 200);
  EXPECT_EQ(web["outcome"], "ok");
  EXPECT_EQ(web["source"], "config");
  EXPECT_EQ(web["file"], config_path().string());
  EXPECT_EQ(web["labels"], json({{"env", "prod"}, {"team", "core"}}));
  EXPECT_EQ(web["enabled"], true);
  EXPECT_EQ(web["consecutive_failures"], 0);
  EXPECT_TRUE(web["latency_us"].is_number_integer());
  EXPECT_TRUE(web["checked"].is_string());
  EXPECT_TRUE(web["since"].is_string());
  const auto slow = ok("list", {{"state", "down"}})["targets"][0];
  EXPECT_EQ(slow["outcome"], "expectation");
  EXPECT_EQ(slow["status"], 503);
}

TEST_F(CommandsTest, ShowGivesTheTargetTheLatestResultInFullAndRecentEntries) {
  for (int i = 0; i < 3; ++i)
    ok("fetch", {{"name", "web"}, {"wait", true}});
  const auto shown = ok("show", {{"name", "web"}, {"recent", 2}});
  EXPECT_EQ(shown["name"], "web");
  EXPECT_EQ(shown["source"], "config");
  EXPECT_EQ(shown["target"]["url"], server_.url("/web"));
  EXPECT_EQ(shown["summary"]["state"], "up");
  EXPECT_EQ(shown["latest"]["fetch"]["reason"], "OK");
  EXPECT_TRUE(shown["latest_failure"].is_null());
  EXPECT_EQ(shown["recent"].size(), 2u);
  EXPECT_EQ(ok("show", {{"name", "web"}})["recent"].size(), 3u);
  EXPECT_EQ(code_of("show", {{"name", "nope"}}), "not_found");
  EXPECT_EQ(code_of("show", json::object()), "bad_request");
  EXPECT_EQ(code_of("show", {{"name", "web"}, {"recent", -1}}), "bad_request");
  EXPECT_EQ(code_of("show", {{"name", 5}}), "bad_request");
}

TEST_F(CommandsTest, AddAndRemoveRuntimeTargets) {
  EXPECT_EQ(ok("add", {{"target", server_.url("/rt")}}),
            json({{"name", "127.0.0.1-" + std::to_string(server_.port())}}));
  EXPECT_EQ(ok("add", {{"target", {{"name", "api"}, {"url", server_.url("/api")}}}}),
            json({{"name", "api"}}));
  EXPECT_EQ(ok("show", {{"name", "api"}})["source"], "runtime");
  EXPECT_TRUE(ok("show", {{"name", "api"}})["file"].is_null());
  EXPECT_EQ(ok("status")["targets"]["runtime"], 2);

  EXPECT_EQ(code_of("add", {{"target", {{"name", "api"}, {"url", server_.url("/x")}}}}),
            "conflict");
  EXPECT_EQ(code_of("add", {{"target", {{"name", "web"}, {"url", server_.url("/x")}}}}),
            "conflict");
  const auto invalid = run("add", {{"target", {{"name", "b"}, {"url", "ftp://x/"}}}});
  ASSERT_TRUE(invalid.failure);
  EXPECT_EQ(invalid.failure->code, "invalid_target");
  EXPECT_NE(invalid.failure->message.find("/url"), std::string::npos) << invalid.failure->message;
  EXPECT_EQ(code_of("add", json::object()), "bad_request");

  EXPECT_EQ(ok("remove", {{"name", "api"}}), json({{"name", "api"}}));
  EXPECT_EQ(code_of("remove", {{"name", "api"}}), "not_found");
  const auto config_target = run("remove", {{"name", "web"}});
  ASSERT_TRUE(config_target.failure);
  EXPECT_EQ(config_target.failure->code, "config_target");
  EXPECT_NE(config_target.failure->message.find(config_path().string()), std::string::npos);
}

TEST_F(CommandsTest, AStateFileThatCannotBeWrittenIsAnIoErrorAndChangesNothing) {
  // The results store's writer thread may create the directory again between the two steps:
  // tried again, with a deadline, until a file stands where the directory was.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    try {
      std::filesystem::remove_all(dir_.path() / "state");
      test::write_file(dir_.path() / "state", "not a directory");
      break;
    } catch (const std::runtime_error&) {
      if (std::chrono::steady_clock::now() > deadline)
        throw;
    }
  }
  EXPECT_EQ(code_of("add", {{"target", {{"name", "api"}, {"url", server_.url("/api")}}}}),
            "io_error");
  EXPECT_EQ(code_of("show", {{"name", "api"}}), "not_found");
}

TEST_F(CommandsTest, ReloadRepliesWithTheChangesOrEveryError) {
  write_config(R"({"name": "web", "url": ")" + server_.url("/web") +
               R"(", "interval": "1h", "labels": {"env": "prod", "team": "core"}},
                  {"name": "new", "url": ")" +
               server_.url("/new") + R"("})");
  EXPECT_EQ(ok("reload"), json({{"added", {"new"}},
                                {"removed", {"off", "slow"}},
                                {"changed", json::array()},
                                {"unchanged", 1}}));
  EXPECT_EQ(ok("status")["last_reload"]["ok"], true);

  test::write_file(config_path(), "{\"targets\": [\n  {\"url\": 5},\n  {\"name\": \"a b\"}]}");
  const auto refused = run("reload");
  ASSERT_TRUE(refused.failure);
  EXPECT_EQ(refused.failure->code, "config_invalid");
  ASSERT_EQ(refused.failure->details.size(), 3u);
  EXPECT_NE(refused.failure->details[0].find("fetchd.json:2:"), std::string::npos);
  const auto status = ok("status");
  EXPECT_EQ(status["last_reload"]["ok"], false);
  EXPECT_EQ(status["last_reload"]["errors"].size(), 3u);
  EXPECT_EQ(status["targets"]["total"], 2);  // the running configuration is kept
}

TEST_F(CommandsTest, AdminCommandsNeedAnAdminPeerReadOnesDoNot) {
  for (const char* cmd : {"add", "remove", "fetch", "reload", "silence", "unsilence"})
    EXPECT_EQ(code_of(cmd, json::object(), false), "permission_denied") << cmd;
  for (const char* cmd : {"version", "help", "status", "list", "silences"})
    EXPECT_EQ(code_of(cmd, json::object(), false), "ok") << cmd;
  EXPECT_EQ(code_of("show", {{"name", "web"}}, false), "ok");
}

TEST_F(CommandsTest, SilenceShownInListAndShowThenUnsilenced) {
  std::vector<std::uint64_t> lifted;
  service_->on_silence_lifted(
      [&](const alerts::Silence& silence) { lifted.push_back(silence.id); });

  const auto before = std::chrono::system_clock::now();
  const auto named = ok("silence", {{"name", "web"}, {"for", "2h"}, {"comment", "disk swap"}});
  EXPECT_EQ(named["matching"], 1);
  const auto& silence = named["silence"];
  EXPECT_EQ(silence["id"], 1);
  EXPECT_EQ(silence["name"], "web");
  EXPECT_EQ(silence["labels"], json::object());
  EXPECT_EQ(silence["comment"], "disk swap");
  EXPECT_TRUE(silence["created"].is_string());
  EXPECT_TRUE(silence["until"].is_string());
  const auto* kept = service_->silences().find(1);
  ASSERT_NE(kept, nullptr);
  EXPECT_GE(kept->until, before + std::chrono::hours(2) - std::chrono::milliseconds(1));
  EXPECT_EQ(kept->until - kept->created, std::chrono::hours(2));

  const auto by_label = ok("silence", {{"label", {{"env", "prod"}}}, {"for", "1h"}});
  EXPECT_EQ(by_label["silence"]["id"], 2);
  EXPECT_TRUE(by_label["silence"]["name"].is_null());
  EXPECT_EQ(by_label["matching"], 1);
  // Labels nothing has yet: accepted, and the reply says it covers no target now.
  EXPECT_EQ(ok("silence", {{"label", {{"env", "next"}}}, {"for", "1m"}})["matching"], 0);

  const auto listed = ok("silences")["silences"];
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0], silence);
  EXPECT_EQ(listed[2]["labels"], json({{"env", "next"}}));

  // show: the silence lasting longest; list: a marker on the silenced row only.
  EXPECT_EQ(ok("show", {{"name", "web"}})["silenced"], silence);
  EXPECT_TRUE(ok("show", {{"name", "slow"}})["silenced"].is_null());
  // Kept: a range-for over a member of the temporary reply would read freed memory.
  const json rows = ok("list");
  for (const auto& target : rows["targets"]) {
    if (target["name"] == "web")
      EXPECT_EQ(target["silenced"], json({{"id", 1}, {"until", silence["until"]}}));
    else
      EXPECT_TRUE(target["silenced"].is_null()) << target;
  }

  EXPECT_EQ(ok("unsilence", {{"id", 1}}), json({{"silence", silence}}));
  EXPECT_EQ(lifted, std::vector<std::uint64_t>{1});
  EXPECT_EQ(ok("show", {{"name", "web"}})["silenced"]["id"], 2);
  const auto again = run("unsilence", {{"id", 1}});
  ASSERT_TRUE(again.failure);
  EXPECT_EQ(again.failure->code, "not_found");
  EXPECT_EQ(again.failure->message, "no silence 1 (it may have expired; see \"silences\")");
  EXPECT_EQ(ok("silences")["silences"].size(), 2u);
}

TEST_F(CommandsTest, SilenceRefusesATargetThatIsNotThereAndBadArguments) {
  const auto typo = run("silence", {{"name", "wbe"}, {"for", "2h"}});
  ASSERT_TRUE(typo.failure);
  EXPECT_EQ(typo.failure->code, "not_found");
  EXPECT_EQ(typo.failure->message,
            "no target named \"wbe\" (to silence targets before they exist, use labels)");
  const auto message_of = [&](json args) {
    auto outcome = run("silence", std::move(args));
    EXPECT_TRUE(outcome.failure);
    EXPECT_EQ(outcome.failure ? outcome.failure->code : "", "bad_request");
    return outcome.failure ? outcome.failure->message : "";
  };
  EXPECT_EQ(message_of({{"for", "2h"}}),
            R"(give "name" (a target) or "label" (labels every target silenced carries), or both)");
  EXPECT_EQ(message_of({{"name", "web"}}),
            R"(missing "for" (how long: a duration from "1m" to "8760h"))");
  EXPECT_EQ(message_of({{"name", "web"}, {"for", "59s"}}),
            R"("for" must be from 1m to 8760h (a year), found "59s")");
  EXPECT_EQ(message_of({{"name", "web"}, {"for", "8761h"}}),
            R"("for" must be from 1m to 8760h (a year), found "8761h")");
  EXPECT_EQ(message_of({{"name", "web"}, {"for", 7200}}),
            R"("for" must be a duration string ("2h"), found 7200)");
  EXPECT_EQ(message_of({{"name", "web"}, {"for", "2 hours"}}).rfind("\"for\": ", 0), 0u);
  EXPECT_EQ(message_of({{"name", "web"}, {"for", "2h"}, {"comment", std::string(1001, 'x')}}),
            "the comment is longer than 1000 bytes");
  EXPECT_EQ(message_of({{"name", "web"}, {"for", "2h"}, {"comment", 5}}),
            "\"comment\" must be a string, found 5");
  EXPECT_EQ(message_of({{"label", {{"bad label", "x"}}}, {"for", "2h"}}).rfind("label ", 0), 0u);
  EXPECT_EQ(message_of({{"label", {{"env", 1}}}, {"for", "2h"}}).rfind("\"label\" values", 0), 0u);
  EXPECT_EQ(code_of("unsilence", json::object()), "bad_request");
  EXPECT_EQ(code_of("unsilence", {{"id", "1"}}), "bad_request");
  EXPECT_EQ(code_of("unsilence", {{"id", -1}}), "bad_request");
  EXPECT_EQ(code_of("unsilence", {{"id", 42}}), "not_found");
  EXPECT_EQ(ok("silences"), json({{"silences", json::array()}}));
}

TEST_F(CommandsTest, SilencesSurviveARestartAndIdsAreNotReused) {
  ok("silence", {{"name", "web"}, {"for", "2h"}, {"comment", "kept"}});
  ok("silence", {{"label", {{"team", "core"}}}, {"for", "3h"}});
  ok("unsilence", {{"id", 2}});
  const auto before = ok("silences");
  restart();
  EXPECT_EQ(ok("silences"), before);
  EXPECT_EQ(ok("show", {{"name", "web"}})["silenced"]["comment"], "kept");
  EXPECT_EQ(ok("silence", {{"name", "slow"}, {"for", "1m"}})["silence"]["id"], 3);
}

TEST_F(CommandsTest, SilencesThatExpiredWhileStoppedAreDroppedAtStart) {
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const json expired = {{"id", 4},
                        {"name", "web"},
                        {"labels", json::object()},
                        {"created_ms", now_ms - 3'600'000},
                        {"until_ms", now_ms - 1},
                        {"comment", ""}};
  json active = expired;
  active["id"] = 6;
  active["until_ms"] = now_ms + 3'600'000;
  test::write_file(silences_path(),
                   json({{"version", 1}, {"next_id", 9}, {"silences", {expired, active}}}).dump());
  restart();
  const auto listed = ok("silences")["silences"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["id"], 6);
  EXPECT_EQ(ok("silence", {{"name", "web"}, {"for", "1m"}})["silence"]["id"], 9);
}

TEST_F(CommandsTest, ADamagedSilencesFileRefusesTheStart) {
  test::write_file(silences_path(), R"({"version": 1, "next_id": 1, "silences": [{"id": 3,
                     "name": "web", "created_ms": 0, "until_ms": 60000}]})");
  service_->shutdown();
  io_.poll();
  service_.reset();
  auto loaded = config::load_config(config_path());
  ASSERT_TRUE(loaded);
  service_ = std::make_unique<service::Service>(io_, config_path(), std::move(*loaded.value));
  try {
    service_->start();
    ADD_FAILURE() << "started";
  } catch (const service::StartupError& e) {
    EXPECT_EQ(std::string(e.what()),
              silences_path().string() + ": /silences/0/id: id 3 is not below next_id 1");
  }
}

TEST_F(CommandsTest, ASilenceExpiresByItselfAtItsUntil) {
  std::vector<std::uint64_t> lifted;
  service_->on_silence_lifted(
      [&](const alerts::Silence& silence) { lifted.push_back(silence.id); });
  // Through the backend, which takes any lifetime of a minute or more: begun a minute ago, it
  // ends in a few milliseconds.
  const auto now = std::chrono::system_clock::now();
  auto kept = service_->add_silence({.name = "web",
                                     .created = now - std::chrono::minutes(1),
                                     .until = now + std::chrono::milliseconds(20)});
  ASSERT_TRUE(kept);
  ASSERT_TRUE(test::run_until(
      io_, [&] { return !lifted.empty(); }, 10s));
  EXPECT_EQ(lifted, std::vector<std::uint64_t>{kept->id});
  EXPECT_EQ(service_->silences().size(), 0u);
  EXPECT_TRUE(ok("show", {{"name", "web"}})["silenced"].is_null());
  restart();  // and the file says so too
  EXPECT_EQ(ok("silences"), json({{"silences", json::array()}}));
}

TEST_F(CommandsTest, ASilencesFileThatCannotBeWrittenIsAnIoErrorAndChangesNothing) {
  ok("silence", {{"name", "web"}, {"for", "1h"}});
  std::filesystem::remove_all(dir_.path() / "state");
  test::write_file(dir_.path() / "state", "not a directory");
  EXPECT_EQ(code_of("silence", {{"name", "slow"}, {"for", "1h"}}), "io_error");
  EXPECT_EQ(code_of("unsilence", {{"id", 1}}), "io_error");
  EXPECT_EQ(ok("silences")["silences"].size(), 1u);
}

TEST_F(CommandsTest, UnknownArgumentKeysAreBadRequests) {
  EXPECT_EQ(run("version", {{"verbose", true}}).failure->message,
            "unknown key \"verbose\" in args of \"version\" (it takes none)");
  EXPECT_EQ(run("show", {{"name", "web"}, {"recnt", 1}}).failure->message,
            "unknown key \"recnt\" in args of \"show\" (expected name, recent)");
}

}  // namespace
}  // namespace fetchd::control
