// `watch` over the real control server and real Unix sockets on the test's loop, with the events
// published into a real feed: filters, event shapes, order, and what a reader that stops reading
// costs (its own queue) and gets (a dropped event).

#include "control/watch.h"

#include <sys/socket.h>

#include <asio/local/stream_protocol.hpp>
#include <gtest/gtest.h>

#include "control/memory_backend.h"
#include "control/server.h"
#include "http/fetch_json.h"
#include "results/fake_results.h"
#include "support/line_client.h"
#include "support/run_until.h"
#include "support/temp_dir.h"

namespace fetchd::control {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using results::test::kEpoch;
using Socket = asio::local::stream_protocol::socket;
using Connection = test::LineConnection<Socket>;

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto* name : {"api", "web", "db"}) {
      MemoryBackend::Target target;
      target.config.name = name;
      if (std::string_view(name) != "db")
        target.config.labels = {{"env", "prod"}};
      backend_.targets_.emplace(name, std::move(target));
    }
  }

  void serve(std::size_t max_queued = kMaxQueuedEvents) {
    server_ = std::make_unique<Server>(io_, backend_,
                                       ServerOptions{.socket_path = dir_.path() / "control.sock",
                                                     .max_clients = 200,
                                                     .max_queued_events = max_queued});
    ASSERT_FALSE(server_->open());
    server_->start();
  }

  std::shared_ptr<Connection> connect() {
    auto connection = std::make_shared<Connection>(io_);
    const auto error = test::run(
        io_, test::connect_to(connection, Socket::endpoint_type((dir_.path() / "control.sock"))));
    EXPECT_TRUE(error && !*error);
    return connection;
  }
  std::string line(const std::shared_ptr<Connection>& connection) {
    const auto read = test::run(io_, test::read_line(connection));
    return !read ? "(timeout)" : !*read ? "(eof)" : **read;
  }
  // Sends a request and returns the reply's result (or the whole reply when it failed).
  json request(const std::shared_ptr<Connection>& connection, const json& request) {
    const auto error = test::run(io_, test::send(connection, request.dump() + "\n"));
    EXPECT_TRUE(error && !*error);
    const auto reply = json::parse(line(connection), nullptr, false);
    return reply.value("ok", false) ? reply["result"] : reply;
  }
  json watch(const std::shared_ptr<Connection>& connection, json args = json::object()) {
    return request(connection, {{"id", 1}, {"cmd", "watch"}, {"args", std::move(args)}});
  }
  json event(const std::shared_ptr<Connection>& connection) {
    return json::parse(line(connection), nullptr, false);
  }

  // A recorded attempt of `name` at kEpoch + `second`, published as the registry does.
  void record(const std::string& name, int second, bool ok = true,
              const results::StateChange* change = nullptr) {
    const auto started = kEpoch + std::chrono::seconds(second);
    auto full = std::make_shared<results::FullResult>();
    full->result = ok ? results::test::ok_result(started) : results::test::error_result(started);
    full->outcome = ok ? results::Outcome::ok : results::Outcome::connect;
    backend_.feed_.publish({.kind = results::EventKind::recorded,
                            .name = name,
                            .state = ok ? results::State::up : results::State::down,
                            .result = std::move(full),
                            .change = change});
  }

  asio::io_context io_;
  test::TempDir dir_{"fetchd-watch"};
  MemoryBackend backend_;
  std::unique_ptr<Server> server_;
};

TEST_F(WatchTest, TheReplyNamesTheFilterAndTheNamedTargetsStatesThenEventsFollow) {
  serve();
  auto client = connect();
  const auto reply = watch(client, {{"targets", {"api", "nope"}}, {"events", {"result", "state"}}});
  EXPECT_EQ(reply["watching"]["targets"], json({"api", "nope"}));
  EXPECT_EQ(reply["watching"]["events"], json({"result", "state"}));
  EXPECT_EQ(reply["states"], json({{"api", "unknown"}, {"nope", nullptr}}));

  record("web", 1);  // not watched
  record("api", 2);
  const auto got = event(client);
  EXPECT_EQ(got["event"], "result");
  EXPECT_EQ(got["target"], "api");
  EXPECT_EQ(got["state"], "up");
  EXPECT_EQ(got["outcome"], "ok");
  EXPECT_EQ(got["status"], 200);
  EXPECT_EQ(got["total_us"], 1500);
  EXPECT_EQ(got["reason"], "200 OK");
  EXPECT_EQ(got["time"], "2024-05-01T12:00:02.000Z");
}

TEST_F(WatchTest, AStateChangeSaysWhatItWasHowLongAndWhyWhenItComesBackUp) {
  serve();
  auto client = connect();
  watch(client, {{"events", {"state"}}});
  record("api", 1);  // a result without a change: not a state event
  // api was down for 3m12s because of its latest failure.
  backend_.targets_.at("api").results.record(results::test::failure(kEpoch));
  const results::StateChange change{.name = "api",
                                    .from = results::State::down,
                                    .to = results::State::up,
                                    .at = kEpoch + 5s,
                                    .reason = "200 OK",
                                    .streak = 1,
                                    .previous_state_lasted = 192s};
  record("api", 5, true, &change);
  const auto got = event(client);
  EXPECT_EQ(got["event"], "state");
  EXPECT_EQ(got["state"], "up");
  EXPECT_EQ(got["from"], "down");
  EXPECT_EQ(got["from_lasted_us"], 192'000'000);
  EXPECT_EQ(got["from_reason"], "connect to 10.0.0.1:443: Connection refused");
}

TEST_F(WatchTest, LabelsFollowTargetsAddedAndRemovedAndReloadsReachEveryone) {
  serve();
  auto prod = connect();
  watch(prod, {{"label", {{"env", "prod"}}}});
  auto everything = connect();
  watch(everything);

  record("db", 1);  // no env=prod label
  record("api", 2);
  EXPECT_EQ(event(prod)["target"], "api");
  EXPECT_EQ(event(everything)["target"], "db");
  EXPECT_EQ(event(everything)["target"], "api");

  // A new target with the label is watched from its `added` on; a removed one no longer.
  MemoryBackend::Target cache;
  cache.config.name = "cache";
  cache.config.labels = {{"env", "prod"}};
  backend_.targets_.emplace("cache", std::move(cache));
  backend_.feed_.publish({.kind = results::EventKind::added, .name = "cache"});
  backend_.feed_.publish({.kind = results::EventKind::removed, .name = "api"});
  record("api", 3);
  record("cache", 4);
  const auto status_line = "0 added, 0 removed, 0 changed, 4 unchanged";
  backend_.feed_.publish({.kind = results::EventKind::reloaded, .detail = status_line});

  auto got = event(prod);
  EXPECT_EQ(got["event"], "added");
  EXPECT_EQ(got["target"], "cache");
  EXPECT_EQ(got["state"], "unknown");
  EXPECT_EQ(got["enabled"], true);
  got = event(prod);
  EXPECT_EQ(got["event"], "removed");
  EXPECT_EQ(got["target"], "api");
  EXPECT_EQ(event(prod)["target"], "cache") << "api's result after its removal is not for prod";
  got = event(prod);
  EXPECT_EQ(got["event"], "reload");
  EXPECT_EQ(got["ok"], true);
  EXPECT_EQ(got["summary"], status_line);
  for (const auto* expected : {"added", "removed", "result", "result", "reload"})
    EXPECT_EQ(event(everything)["event"], expected);
}

TEST_F(WatchTest, BadArgumentsAreRefusedAndTheConnectionStaysUsable) {
  serve();
  auto client = connect();
  for (const json& args :
       {json{{"events", {"results"}}}, json{{"events", json::array()}}, json{{"targets", "api"}},
        json{{"label", {{"env", 1}}}}, json{{"since", 1}}}) {
    const auto reply = watch(client, args);
    EXPECT_EQ(reply["error"]["code"], "bad_request") << args.dump() << " " << reply.dump();
  }
  EXPECT_EQ(request(client, {{"cmd", "version"}})["protocol"], 1);
}

TEST_F(WatchTest, LinesSentAfterWatchAreIgnoredAndClosingEndsTheWatch) {
  serve();
  auto client = connect();
  watch(client);
  test::run(io_, test::send(client, "{\"cmd\": \"version\"}\n"));
  record("api", 1);
  EXPECT_EQ(event(client)["event"], "result") << "no reply to the version request";
  client->socket.shutdown(asio::socket_base::shutdown_send);
  EXPECT_EQ(line(client), "(eof)");
  ASSERT_TRUE(test::run_until(io_, [&] { return server_->sessions() == 0; }));
}

// 100 watchers read every event in order; one that never reads fills its socket and its queue,
// the loop and the others go on, and once it reads it finds a dropped event for the gap. A status
// request meanwhile is answered at once.
TEST_F(WatchTest, AReaderThatStopsReadingGetsADroppedEventAndDelaysNoOne) {
  constexpr std::size_t kMaxQueued = 100;
  constexpr int kEvents = 2000;
  serve(kMaxQueued);
  std::vector<std::shared_ptr<Connection>> readers;
  for (int i = 0; i < 100; ++i) {
    readers.push_back(connect());
    watch(readers.back(), {{"events", {"result"}}});
  }
  auto stuck = connect();
  watch(stuck, {{"events", {"result"}}});

  std::vector<int> next_second(readers.size(), 0);
  for (int second = 0; second < kEvents; ++second) {
    record("api", second);
    if (second % 100 != 99)
      continue;
    // Every hundred events the readers catch up, the stuck one does not.
    for (std::size_t r = 0; r < readers.size(); ++r) {
      while (next_second[r] <= second) {
        const auto got = event(readers[r]);
        ASSERT_EQ(got["time"], http::format_utc(kEpoch + std::chrono::seconds(next_second[r])))
            << "reader " << r;
        ++next_second[r];
      }
    }
  }
  auto asker = connect();
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(request(asker, {{"cmd", "version"}}).contains("protocol"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);

  // Now the stuck one reads: events, then the gap, then the newest events.
  std::uint64_t received = 0;
  std::uint64_t dropped = 0;
  std::size_t dropped_events = 0;
  bool last_recorded = false;
  for (;;) {
    const auto got = event(stuck);
    ASSERT_TRUE(got.is_object());
    if (got["event"] == "dropped") {
      ++dropped_events;
      dropped += got["count"].get<std::uint64_t>();
      if (!last_recorded)
        record("api", kEvents);  // queued after the gap, now that there is room: the last line
      last_recorded = true;
      continue;
    }
    ++received;
    if (got["time"] == http::format_utc(kEpoch + std::chrono::seconds(kEvents)))
      break;
  }
  EXPECT_GE(dropped_events, 1u);
  EXPECT_EQ(received + dropped, static_cast<std::uint64_t>(kEvents) + 1) << "each event is read or "
                                                                            "counted once";
  std::printf("[ figures  ] the stuck watcher read %llu events, dropped %llu in %zu gap(s)\n",
              static_cast<unsigned long long>(received), static_cast<unsigned long long>(dropped),
              dropped_events);
}

}  // namespace
}  // namespace fetchd::control
