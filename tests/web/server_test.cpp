// The metrics server's listening addresses: which of them other machines may reach (the daemon
// warns of those when settings.web_auth_file is not set), and an address that cannot be bound is
// named in the error.

#include "web/server.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace fetchd::web {
namespace {

metrics::View no_view() {
  static const config::Settings settings;
  metrics::View view;
  view.settings = []() -> const config::Settings& { return settings; };
  return view;
}

TEST(WebServer, LoopbackAndUnixSocketAddressesAreReachableOnlyFromThisMachine) {
  const test::TempDir dir("fetchd-web-server");
  asio::io_context loop;
  Server server(
      loop, no_view(), [] { return true; },
      ServerOptions{.listen = {"127.0.0.1:0", "[::1]:0", (dir.path() / "web.sock").string()}});
  ASSERT_EQ(server.open(), std::nullopt);
  EXPECT_TRUE(server.reachable_from_other_machines().empty());
}

// Bound for a moment and closed: no traffic goes anywhere.
TEST(WebServer, AWildcardAddressIsReachableFromOtherMachines) {
  asio::io_context loop;
  Server server(
      loop, no_view(), [] { return true; }, ServerOptions{.listen = {"127.0.0.1:0", "0.0.0.0:0"}});
  ASSERT_EQ(server.open(), std::nullopt);
  EXPECT_EQ(server.reachable_from_other_machines(), std::vector<std::string>{"0.0.0.0:0"});
}

TEST(WebServer, AnAddressThatIsNotAnIpIsNamedInTheError) {
  asio::io_context loop;
  Server server(
      loop, no_view(), [] { return true; }, ServerOptions{.listen = {"localhost:9516"}});
  const auto error = server.open();
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("web_listen localhost:9516: "), std::string::npos) << *error;
}

}  // namespace
}  // namespace fetchd::web
