#pragma once

// A Unix socket's file (the control socket, a metrics listen path): created listening with exactly
// the configured mode and group whatever the process umask, a stale file replaced only when nothing
// answers on it, removed on shutdown only if it is still the one created.
//
// Umask: bind() creates the file with 0777 & ~umask, then the file gets its group and mode
// (fchownat, fchmodat), and only then listen(): until listen(), a connect() is refused whatever the
// file's mode, so there is no window in which the umask's mode admits anyone. Changing the umask
// around bind() instead would change it for the whole process (the configuration reader thread
// included) for that moment.

#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/expected.h"

namespace fetchd::net {

struct SocketFileOptions {
  std::filesystem::path path{};
  mode_t mode = 0660;
  gid_t group = 0;
  int backlog = 0;  // 0: SOMAXCONN
};

struct ListeningSocket {
  int fd = -1;  // listening, non-blocking, close-on-exec; the caller owns it
  dev_t device = 0;
  ino_t inode = 0;
  bool replaced_stale = false;  // a socket file nobody answered on was removed first
  // The directory it lives in did not exist and was created (as `mkdir -p` would, with the
  // umask's permissions: the socket's own mode and group guard access).
  bool created_directory = false;
};

// Errors name the path and say what to do, e.g. "another process is listening on
// /run/fetchd/control.sock (is fetchd already running?)".
Expected<ListeningSocket> create_socket_file(const SocketFileOptions& options);

// Removes `path` if it is still the socket `created` (same device and inode); false otherwise.
bool remove_socket_file(const std::filesystem::path& path, const ListeningSocket& created);

}  // namespace fetchd::net
