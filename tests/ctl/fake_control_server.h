#pragma once

// A stand-in for fetchd's control socket, for testing fetchctl as a process: a Unix stream socket
// served on its own thread, one connection at a time. It records every request line and answers
// with canned protocol replies per command (docs/control-protocol.md). It knows nothing of the
// daemon; the real control server has its own tests.

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace fetchd::test {

class FakeControlServer {
 public:
  // What to answer a request with: a whole reply line (no newline), or nullopt for no reply at
  // all (the connection stays open until the client closes it).
  using Handler = std::function<std::optional<std::string>(const nlohmann::json& request)>;

  // Listens at `path` (created with the process umask). Throws std::system_error on failure.
  explicit FakeControlServer(std::filesystem::path path);
  ~FakeControlServer();
  FakeControlServer(const FakeControlServer&) = delete;
  FakeControlServer& operator=(const FakeControlServer&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // {"id": <request's id>, "ok": true, "result": result}
  void reply_ok(const std::string& cmd, nlohmann::json result);
  // {"id": <request's id>, "ok": false, "error": {"code", "message"[, "details"]}}
  void reply_error(const std::string& cmd, const std::string& code, const std::string& message,
                   std::vector<std::string> details = {});
  void on(const std::string& cmd, Handler handler);
  // A line sent as soon as a connection is accepted, which is then closed (max_clients reached).
  void greet_and_close(std::string line);

  // Every request line received so far, in order, without newlines.
  std::vector<std::string> requests() const;

 private:
  void serve();
  void serve_connection(int fd);
  std::optional<std::string> answer(const std::string& line);

  std::filesystem::path path_;
  int listener_ = -1;
  int wake_[2] = {-1, -1};
  mutable std::mutex mutex_;
  std::map<std::string, Handler> handlers_;
  std::optional<std::string> greeting_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace fetchd::test
