#include "control/peer.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace fetchd::control {
namespace {

TEST(ControlPeer, AdminIsRootTheDaemonsUserOrTheAdminGroup) {
  const uid_t daemon = 990;
  const gid_t admins = 4242;
  EXPECT_TRUE(is_admin({1, 0, 100, {}}, daemon, admins));
  EXPECT_TRUE(is_admin({1, 990, 100, {}}, daemon, admins));
  EXPECT_TRUE(is_admin({1, 1000, 4242, {}}, daemon, admins));
  EXPECT_TRUE(is_admin({1, 1000, 100, {27, 4242}}, daemon, admins));
  EXPECT_FALSE(is_admin({1, 1000, 100, {27, 4243}}, daemon, admins));
  EXPECT_FALSE(is_admin({1, 65534, 65534, {}}, daemon, admins));
}

TEST(ControlPeer, TheKernelTellsWhoIsOnTheOtherEnd) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  const auto peer = peer_of(pair[0]);
  ASSERT_TRUE(peer) << peer.error().message;
  EXPECT_EQ(peer->pid, ::getpid());
  EXPECT_EQ(peer->uid, ::geteuid());
  EXPECT_EQ(peer->gid, ::getegid());
  std::vector<gid_t> mine(static_cast<std::size_t>(::getgroups(0, nullptr)));
  ::getgroups(static_cast<int>(mine.size()), mine.data());
  EXPECT_EQ(peer->groups, mine);
  ::close(pair[0]);
  ::close(pair[1]);
}

TEST(ControlPeer, GroupsResolveByNameOrNumber) {
  EXPECT_EQ(resolve_group("root").value(), 0u);
  EXPECT_EQ(resolve_group("4242").value(), 4242u);
  const auto unknown = resolve_group("no-such-group-here");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "no group named \"no-such-group-here\"");
  EXPECT_FALSE(resolve_group("99999999999999"));
}

}  // namespace
}  // namespace fetchd::control
