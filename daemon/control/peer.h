#pragma once

// Who is on the other end of a control connection, and what they may do.
//
// The credentials are the kernel's, taken once when the connection is accepted: SO_PEERCRED (pid,
// uid, gid) and SO_PEERGROUPS (supplementary groups), both as they were when the peer called
// connect(). No user database lookup (NSS may mean LDAP, i.e. blocking network IO on the loop) and
// no /proc read (racy against pid reuse, and blind across pid namespaces).

#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "common/expected.h"

namespace fetchd::control {

struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups{};  // supplementary groups
};

// The peer of a connected Unix socket; an error message when the kernel does not tell.
Expected<Peer> peer_of(int fd);

// Whether `peer` may run admin commands: uid 0, the daemon's own uid, or a member (primary or
// supplementary) of `admin_group`.
bool is_admin(const Peer& peer, uid_t daemon_uid, gid_t admin_group);

// A group by name (getgrnam_r) or by number ("1234"). For start-up only: it may ask NSS.
Expected<gid_t> resolve_group(std::string_view name_or_number);

}  // namespace fetchd::control
