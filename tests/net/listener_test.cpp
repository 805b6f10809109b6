// The protocol-independent listener (daemon/net/) over real loopback sockets, with a trivial
// line protocol defined here: "x" is echoed at once, "later x" is echoed when the test answers,
// "big N" answers N bytes, "stream N" answers N lines in pieces of one line each ("head", then
// "piece 1".."piece N"), "bigstream N" the same with pieces of 64 KiB, "quietstream N" answers
// "head", N empty pieces and "done", "live" answers "head" and then, as the test wakes it, the
// lines the test queued until one is "end", "bye" answers and ends the connection. Clients are
// coroutines on the test's io_context; every wait has a deadline.

#include "net/listener.h"

#include <deque>
#include <fcntl.h>
#include <functional>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/read_until.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>

#include "support/line_client.h"
#include "support/run_until.h"
#include "support/temp_dir.h"

namespace fetchd {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- the test protocol
// ---------------------------------------------------------------------------

struct EchoState {
  std::deque<net::Reply> later;  // replies the test answers itself
  std::size_t accepted = 0;
  std::size_t pieces_made = 0;              // by streamed replies, over all connections
  std::size_t ticks = 0;                    // advanced by the test's own handlers on the loop
  std::vector<std::size_t> ticks_at_piece;  // by "quietstream": ticks when each piece was asked
  std::deque<std::string> live_lines;       // for "live", written after the next wake
  std::size_t live_asked = 0;               // calls for a live reply's next piece
  net::Wake live_wake{};
};

class EchoLine final : public net::Conversation {
 public:
  explicit EchoLine(EchoState& state) : state_(state) {}

  net::Consumed receive(std::string_view input, net::Exchange& exchange) override {
    const auto newline = input.find('\n');
    if (newline == std::string_view::npos)
      return {};
    const auto line = std::string(input.substr(0, newline));
    if (line.rfind("stream ", 0) == 0 || line.rfind("bigstream ", 0) == 0) {
      const bool big = line[0] == 'b';
      const auto count = std::stoul(line.substr(big ? 10 : 7));
      auto made = std::make_shared<std::size_t>(0);
      exchange.reserve_streamed()("head\n",
                                  [this, count, made, big]() -> std::optional<std::string> {
                                    if (*made == count)
                                      return std::nullopt;
                                    ++state_.pieces_made;
                                    const auto number = std::to_string(++*made);
                                    return big ? std::string(std::size_t{64} * 1024 - 1, 'p') + "\n"
                                               : "piece " + number + "\n";
                                  });
      return {newline + 1, false};
    }
    if (line.rfind("quietstream ", 0) == 0) {
      const auto count = std::stoul(line.substr(12));
      exchange.reserve_streamed()("head\n", [this, count]() -> std::optional<std::string> {
        state_.ticks_at_piece.push_back(state_.ticks);
        const auto asked = state_.ticks_at_piece.size();
        if (asked <= count)
          return std::string();
        if (asked == count + 1)
          return "done\n";
        return std::nullopt;
      });
      return {newline + 1, false};
    }
    if (line == "live") {
      state_.live_wake = exchange.reserve_live()("head\n", [this]() -> std::optional<std::string> {
        ++state_.live_asked;
        if (state_.live_lines.empty())
          return std::string();
        auto next = std::move(state_.live_lines.front());
        state_.live_lines.pop_front();
        if (next == "end")
          return std::nullopt;
        return next + "\n";
      });
      return {newline + 1, false};
    }
    auto reply = exchange.reserve();
    if (line.rfind("later ", 0) == 0) {
      state_.later.push_back(reply);
    } else if (line.rfind("big ", 0) == 0) {
      reply(std::string(std::stoul(line.substr(4)), 'b') + "\n");
    } else {
      reply(line + "\n");
    }
    return {newline + 1, line == "bye"};
  }

 private:
  EchoState& state_;
};

class EchoProtocol final : public net::Protocol {
 public:
  net::Accepted accept(net::Socket&, std::uint64_t id) override {
    ++state.accepted;
    return {std::make_unique<EchoLine>(state), "test client " + std::to_string(id)};
  }
  std::string busy() override { return "busy\n"; }

  EchoState state;
};

// ---- a client ----------------------------------------------------------------------------------

using Connection = test::LineConnection<asio::ip::tcp::socket>;
using test::connect_to;
using test::read_line;
using test::run;

class Client {
 public:
  Client(asio::io_context& io, asio::ip::tcp::endpoint endpoint)
      : io_(io), connection_(std::make_shared<Connection>(io)) {
    const auto error = run(io_, connect_to(connection_, endpoint));
    EXPECT_TRUE(error && !*error);
  }

  void send(std::string bytes) {
    const auto error = run(io_, test::send(connection_, std::move(bytes)));
    EXPECT_TRUE(error && !*error);
  }
  // The next line; "(eof)" when the server closed, "(timeout)" when nothing came in time.
  std::string line(Clock::duration timeout = 10s) {
    const auto line = run(io_, read_line(connection_), timeout);
    return !line ? "(timeout)" : !*line ? "(eof)" : **line;
  }
  std::size_t available() const { return connection_->socket.available(); }
  std::shared_ptr<Connection> connection() const { return connection_; }

 private:
  asio::io_context& io_;
  std::shared_ptr<Connection> connection_;
};

// Runs whatever is ready now, so that a write the listener should not make would have happened.
void settle(asio::io_context& io) {
  for (int i = 0; i < 100; ++i) {
    io.restart();
    io.poll();
  }
}

// ---- the fixture -------------------------------------------------------------------------------

class ListenerTest : public ::testing::Test {
 protected:
  // A TCP listener on 127.0.0.1, an ephemeral port.
  void listen(net::ListenerOptions options) {
    options.name = "test";
    listener_ = std::make_unique<net::Listener>(io_, protocol_, std::move(options));
    asio::ip::tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    endpoint_ = acceptor.local_endpoint();
    ASSERT_FALSE(listener_->adopt(acceptor.release()));
    listener_->start();
  }

  asio::io_context io_;
  EchoProtocol protocol_;
  std::unique_ptr<net::Listener> listener_;
  asio::ip::tcp::endpoint endpoint_;
};

TEST_F(ListenerTest, RepliesAreWrittenInRequestOrderWhateverOrderTheyAreAnsweredIn) {
  listen({});
  Client client(io_, endpoint_);
  client.send("later 1\nnow 2\nlater 3\nnow 4\n");
  ASSERT_TRUE(test::run_until(io_, [&] { return protocol_.state.later.size() == 2; }));
  protocol_.state.later[1]("3\n");
  settle(io_);
  EXPECT_EQ(client.available(), 0u) << "nothing overtakes the first reply";
  protocol_.state.later[0]("1\n");
  protocol_.state.later[0]("answered twice: the first answer stands\n");
  EXPECT_EQ(client.line(), "1");
  EXPECT_EQ(client.line(), "now 2");
  EXPECT_EQ(client.line(), "3");
  EXPECT_EQ(client.line(), "now 4");
}

TEST_F(ListenerTest, AStreamedReplyIsWrittenPieceByPieceAndTheNextRepliesWaitForIt) {
  listen({});
  Client client(io_, endpoint_);
  client.send("stream 3\nnow after\n");
  EXPECT_EQ(client.line(), "head");
  EXPECT_EQ(client.line(), "piece 1");
  EXPECT_EQ(client.line(), "piece 2");
  EXPECT_EQ(client.line(), "piece 3");
  EXPECT_EQ(client.line(), "now after");
}

// An empty piece is work done with nothing to write: other handlers run before the next is asked
// for, so a producer that needs many calls before it writes (a scrape copying its rows) does not
// hold the loop.
TEST_F(ListenerTest, AfterAnEmptyPieceTheLoopRunsOtherWorkBeforeTheNext) {
  listen({});
  Client client(io_, endpoint_);
  bool ticking = true;
  std::function<void()> tick = [&] {
    ++protocol_.state.ticks;
    if (ticking)
      asio::post(io_, tick);
  };
  asio::post(io_, tick);
  client.send("quietstream 5\n");
  EXPECT_EQ(client.line(), "head");
  EXPECT_EQ(client.line(), "done");
  const auto& ticks = protocol_.state.ticks_at_piece;
  // 5 empty pieces, "done", the end.
  ASSERT_TRUE(test::run_until(io_, [&] { return ticks.size() == 7; }));
  ticking = false;
  io_.poll();  // the last tick, which posts no other
  for (std::size_t i = 1; i < 6; ++i)
    EXPECT_GT(ticks[i], ticks[i - 1]) << "piece " << i;
}

// The pieces are made as the client reads: one that does not read holds up the stream (and is
// closed when idle), instead of the whole reply piling up in memory.
TEST_F(ListenerTest, AStreamedReplyIsMadeAtTheReadersPace) {
  listen({.idle_timeout = 300ms});
  Client client(io_, endpoint_);
  // Pieces of 64 KiB: loopback's socket buffers (a few MiB, autotuned) fill within ~100 pieces,
  // quickly under ASan too (pieces of a few bytes took over 10 s there).
  client.send("bigstream 100000000\n");
  ASSERT_TRUE(test::run_until(io_, [&] { return protocol_.state.pieces_made > 10; }));
  // The socket buffers fill, then the stream waits, and the idle timeout closes it: far fewer
  // pieces than asked for are made (1,000 would be 64 MiB).
  ASSERT_TRUE(test::run_until(
      io_, [&] { return listener_->sessions() == 0; }, 10s));
  EXPECT_LT(protocol_.state.pieces_made, 1'000u);
}

// A watch: nothing to write is waited for, not polled, and is not idleness; what the protocol
// queues goes out on a wake; the replies after it wait for its end.
TEST_F(ListenerTest, ALiveReplyWaitsForItsWakeOutlivesTheIdleTimeoutAndEndsWhenItSays) {
  listen({.idle_timeout = 200ms});
  Client client(io_, endpoint_);
  client.send("live\nnow after\n");
  EXPECT_EQ(client.line(), "head");
  ASSERT_TRUE(test::run_until(io_, [&] { return protocol_.state.live_asked > 0; }));
  settle(io_);
  EXPECT_EQ(protocol_.state.live_asked, 1u) << "asked again without a wake: it polls";
  // Three idle timeouts of silence: the connection stays.
  const auto quiet_until = Clock::now() + 600ms;
  EXPECT_FALSE(test::run_until(
      io_, [&] { return listener_->sessions() == 0; }, 600ms));
  EXPECT_GE(Clock::now(), quiet_until);
  protocol_.state.live_lines = {"event 1", "event 2"};
  protocol_.state.live_wake();
  EXPECT_EQ(client.line(), "event 1");
  EXPECT_EQ(client.line(), "event 2");
  protocol_.state.live_lines = {"end"};
  protocol_.state.live_wake();
  EXPECT_EQ(client.line(), "now after");
}

TEST_F(ListenerTest, TheClientClosingItsSideEndsALiveReplyAndTheConnection) {
  listen({});
  Client client(io_, endpoint_);
  client.send("live\n");
  EXPECT_EQ(client.line(), "head");
  client.connection()->socket.shutdown(asio::socket_base::shutdown_send);
  EXPECT_EQ(client.line(), "(eof)");
  EXPECT_TRUE(test::run_until(io_, [&] { return listener_->sessions() == 0; }));
  protocol_.state.live_wake();  // after the close: nothing happens
  settle(io_);
}

TEST_F(ListenerTest, InputWaitsWhileTooManyRepliesAreAwaited) {
  listen({.max_awaited = 2});
  Client client(io_, endpoint_);
  client.send("later 1\nlater 2\nlater 3\nnow 4\n");
  ASSERT_TRUE(test::run_until(io_, [&] { return protocol_.state.later.size() == 2; }));
  settle(io_);
  EXPECT_EQ(protocol_.state.later.size(), 2u);
  protocol_.state.later[0]("1\n");
  ASSERT_TRUE(test::run_until(io_, [&] { return protocol_.state.later.size() == 3; }));
  protocol_.state.later[1]("2\n");
  protocol_.state.later[2]("3\n");
  EXPECT_EQ(client.line(), "1");
  EXPECT_EQ(client.line(), "2");
  EXPECT_EQ(client.line(), "3");
  EXPECT_EQ(client.line(), "now 4");
}

TEST_F(ListenerTest, TheLastRequestIsAnsweredThenTheConnectionCloses) {
  listen({});
  Client client(io_, endpoint_);
  client.send("later 1\nbye\nnot read\n");
  ASSERT_TRUE(test::run_until(io_, [&] { return protocol_.state.later.size() == 1; }));
  protocol_.state.later[0]("1\n");
  EXPECT_EQ(client.line(), "1");
  EXPECT_EQ(client.line(), "bye");
  EXPECT_EQ(client.line(), "(eof)");
  EXPECT_TRUE(test::run_until(io_, [&] { return listener_->sessions() == 0; }));
}

TEST_F(ListenerTest, OneClientOverMaxClientsGetsTheBusyReplyAndIsClosed) {
  listen({.max_clients = 2});
  auto first = std::make_unique<Client>(io_, endpoint_);
  Client second(io_, endpoint_);
  first->send("a\n");
  second.send("b\n");
  EXPECT_EQ(first->line(), "a");
  EXPECT_EQ(second.line(), "b");
  Client extra(io_, endpoint_);
  EXPECT_EQ(extra.line(), "busy");
  EXPECT_EQ(extra.line(), "(eof)");
  EXPECT_EQ(protocol_.state.accepted, 2u) << "the protocol never sees a refused connection";
  // Once one leaves, a newcomer is served.
  first.reset();
  ASSERT_TRUE(test::run_until(io_, [&] { return listener_->sessions() == 1; }));
  Client next(io_, endpoint_);
  next.send("c\n");
  EXPECT_EQ(next.line(), "c");
}

// The metrics listener's policy: connections opened and held must not lock a scraper out.
TEST_F(ListenerTest, AtTheLimitTheConnectionIdleLongestMakesRoomButNotOneAtWork) {
  listen({.max_clients = 2, .evict_idle = true});
  Client idle(io_, endpoint_);
  ASSERT_TRUE(test::run_until(io_, [&] { return listener_->sessions() == 1; }));
  Client working(io_, endpoint_);
  working.send("later 1\n");
  ASSERT_TRUE(test::run_until(io_, [&] { return protocol_.state.later.size() == 1; }));
  Client newcomer(io_, endpoint_);
  newcomer.send("x\n");
  EXPECT_EQ(newcomer.line(), "x");
  EXPECT_EQ(idle.line(), "(eof)") << "the idle one was closed to admit the newcomer";
  // The newcomer is idle now, the working one is not: the next newcomer takes the idle one's place.
  Client third(io_, endpoint_);
  third.send("y\n");
  EXPECT_EQ(third.line(), "y");
  EXPECT_EQ(newcomer.line(), "(eof)");
  protocol_.state.later[0]("1\n");
  EXPECT_EQ(working.line(), "1");
  // Two at work: the next one is refused as before.
  working.send("later 2\n");
  third.send("later 3\n");
  ASSERT_TRUE(test::run_until(io_, [&] { return protocol_.state.later.size() == 3; }));
  Client refused(io_, endpoint_);
  EXPECT_EQ(refused.line(), "busy");
  protocol_.state.later[1]("2\n");
  protocol_.state.later[2]("3\n");
  EXPECT_EQ(working.line(), "2");
  EXPECT_EQ(third.line(), "3");
}

TEST_F(ListenerTest, AnIdleConnectionIsClosedButNotOneThatAwaitsAReply) {
  listen({.idle_timeout = 200ms});
  Client silent(io_, endpoint_);
  silent.send("half a li");
  Client waiting(io_, endpoint_);
  waiting.send("later 1\n");
  const auto started = Clock::now();
  EXPECT_EQ(silent.line(), "(eof)");
  EXPECT_GE(Clock::now() - started, 150ms);
  // Three more timeouts: the one awaiting its reply stays.
  EXPECT_FALSE(test::run_until(
      io_, [&] { return listener_->sessions() == 0; }, 600ms));
  EXPECT_EQ(listener_->sessions(), 1u);
  protocol_.state.later[0]("1\n");
  EXPECT_EQ(waiting.line(), "1");
  EXPECT_EQ(waiting.line(), "(eof)") << "idle once answered";
}

TEST_F(ListenerTest, AClientThatDoesNotReadIsDisconnectedButOneLargeReplyIsWritten) {
  listen({.max_unwritten = 64 * 1024});
  // One reply far over the bound, with nothing before it: written in full.
  Client large(io_, endpoint_);
  large.send("big 1000000\n");
  EXPECT_EQ(large.line().size(), 1'000'000u);
  // Many replies never read: the kernel's buffers fill, then the unwritten ones pass the bound.
  Client greedy(io_, endpoint_);
  greedy.connection()->socket.set_option(asio::socket_base::receive_buffer_size(4096));
  std::string requests;
  for (int i = 0; i < 5000; ++i)
    requests += "big 4000\n";
  // The write may fail: the listener hangs up before it has read every request.
  asio::co_spawn(io_, send(greedy.connection(), requests),
                 [](std::exception_ptr, std::error_code) {});
  EXPECT_TRUE(test::run_until(io_, [&] { return listener_->sessions() == 1; }));
  large.send("still served\n");
  EXPECT_EQ(large.line(), "still served");
}

TEST_F(ListenerTest, StopClosesTheListenerAndEverySession) {
  listen({});
  Client idle(io_, endpoint_);
  Client waiting(io_, endpoint_);
  idle.send("a\n");
  EXPECT_EQ(idle.line(), "a");
  waiting.send("later 1\n");
  ASSERT_TRUE(test::run_until(io_, [&] { return protocol_.state.later.size() == 1; }));
  listener_->stop();
  EXPECT_EQ(listener_->sessions(), 0u);
  protocol_.state.later[0]("too late\n");  // does nothing
  EXPECT_EQ(idle.line(), "(eof)");
  EXPECT_EQ(waiting.line(), "(eof)");
  auto refused = std::make_shared<Connection>(io_);
  const auto error = run(io_, connect_to(refused, endpoint_));
  ASSERT_TRUE(error);
  EXPECT_EQ(*error, asio::error::connection_refused);
  listener_->stop();  // idempotent
}

TEST(Listener, ServesAUnixStreamSocketToo) {
  asio::io_context io;
  EchoProtocol protocol;
  net::Listener listener(io, protocol, {.name = "test"});
  test::TempDir dir("fetchd-listener");
  const auto path = (dir.path() / "echo.sock").string();
  asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol::endpoint(path));
  ASSERT_FALSE(listener.adopt(acceptor.release()));
  listener.start();
  asio::local::stream_protocol::socket client(io);
  client.connect(asio::local::stream_protocol::endpoint(path));  // completes in the backlog
  asio::write(client, asio::buffer(std::string("hello\n")));
  std::string received;
  bool done = false;
  asio::async_read_until(client, asio::dynamic_buffer(received), '\n',
                         [&](std::error_code, std::size_t) { done = true; });
  ASSERT_TRUE(test::run_until(io, [&] { return done; }));
  EXPECT_EQ(received, "hello\n");
  listener.stop();
}

TEST(Listener, AdoptingSomethingThatIsNotASocketFails) {
  asio::io_context io;
  EchoProtocol protocol;
  net::Listener listener(io, protocol, {.name = "test"});
  EXPECT_TRUE(listener.adopt(::open("/dev/null", O_RDONLY | O_CLOEXEC)));
}

}  // namespace
}  // namespace fetchd
