#include "control/peer.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <grp.h>
#include <sys/socket.h>

namespace fetchd::control {

Expected<Peer> peer_of(int fd) {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0)
    return Error{std::string("SO_PEERCRED: ") + std::strerror(errno)};
  Peer peer{credentials.pid, credentials.uid, credentials.gid, {}};
  // SO_PEERGROUPS (Linux 4.13) answers ERANGE with the size it needs when the buffer is short.
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
      groups.resize(bytes / sizeof(gid_t));
      peer.groups = std::move(groups);
      return peer;
    }
    if (errno != ERANGE)
      return Error{std::string("SO_PEERGROUPS: ") + std::strerror(errno)};
    groups.resize(bytes / sizeof(gid_t) + 1);
  }
  return Error{"SO_PEERGROUPS: the group list keeps growing"};
}

bool is_admin(const Peer& peer, uid_t daemon_uid, gid_t admin_group) {
  return peer.uid == 0 || peer.uid == daemon_uid || peer.gid == admin_group ||
         std::find(peer.groups.begin(), peer.groups.end(), admin_group) != peer.groups.end();
}

Expected<gid_t> resolve_group(std::string_view name_or_number) {
  const std::string name(name_or_number);
  if (!name.empty() &&
      std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    gid_t gid = 0;
    const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), gid);
    if (error != std::errc() || end != name.data() + name.size())
      return Error{"group number \"" + name + "\" is out of range"};
    return gid;
  }
  std::vector<char> buffer(4096);
  for (;;) {
    group entry{};
    group* found = nullptr;
    const int error = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (error == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (error != 0)
      return Error{"cannot look up group \"" + name + "\": " + std::strerror(error)};
    if (found == nullptr)
      return Error{"no group named \"" + name + "\""};
    return found->gr_gid;
  }
}

}  // namespace fetchd::control
