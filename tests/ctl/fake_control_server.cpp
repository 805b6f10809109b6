#include "ctl/fake_control_server.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <system_error>
#include <unistd.h>

namespace fetchd::test {

namespace {

// Waits for `fd` to be readable or the wake pipe to fire; false when woken (stop).
bool wait_readable(int fd, int wake) {
  pollfd entries[2] = {{.fd = fd, .events = POLLIN, .revents = 0},
                       {.fd = wake, .events = POLLIN, .revents = 0}};
  while (::poll(entries, 2, -1) < 0) {
    if (errno != EINTR)
      return false;
  }
  return entries[1].revents == 0;
}

void send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t count = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (count <= 0)
      return;
    sent += static_cast<std::size_t>(count);
  }
}

}  // namespace

FakeControlServer::FakeControlServer(std::filesystem::path path) : path_(std::move(path)) {
  if (::pipe2(wake_, O_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "pipe2");
  listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
  if (listener_ < 0 ||
      ::bind(listener_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 16) != 0) {
    const int error = errno;
    if (listener_ >= 0)
      ::close(listener_);
    ::close(wake_[0]);
    ::close(wake_[1]);
    throw std::system_error(error, std::generic_category(), "listen on " + path_.string());
  }
  thread_ = std::thread([this] { serve(); });
}

FakeControlServer::~FakeControlServer() {
  const char byte = 'x';
  (void)!::write(wake_[1], &byte, 1);
  thread_.join();
  ::close(listener_);
  ::close(wake_[0]);
  ::close(wake_[1]);
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);
}

void FakeControlServer::reply_ok(const std::string& cmd, nlohmann::json result) {
  on(cmd,
     [result = std::move(result)](const nlohmann::json& request) -> std::optional<std::string> {
       return nlohmann::json{
           {"id", request.value("id", nlohmann::json())}, {"ok", true}, {"result", result}}
           .dump();
     });
}

void FakeControlServer::reply_error(const std::string& cmd, const std::string& code,
                                    const std::string& message, std::vector<std::string> details) {
  nlohmann::json error = {{"code", code}, {"message", message}};
  if (!details.empty())
    error["details"] = details;
  on(cmd, [error = std::move(error)](const nlohmann::json& request) -> std::optional<std::string> {
    return nlohmann::json{
        {"id", request.value("id", nlohmann::json())}, {"ok", false}, {"error", error}}
        .dump();
  });
}

void FakeControlServer::on(const std::string& cmd, Handler handler) {
  std::lock_guard lock(mutex_);
  handlers_[cmd] = std::move(handler);
}

void FakeControlServer::greet_and_close(std::string line) {
  std::lock_guard lock(mutex_);
  greeting_ = std::move(line);
}

std::vector<std::string> FakeControlServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void FakeControlServer::serve() {
  while (wait_readable(listener_, wake_[0])) {
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0)
      continue;
    std::optional<std::string> greeting;
    {
      std::lock_guard lock(mutex_);
      greeting = greeting_;
    }
    if (greeting) {
      send_all(fd, *greeting + "\n");
    } else {
      serve_connection(fd);
    }
    ::close(fd);
  }
}

void FakeControlServer::serve_connection(int fd) {
  std::string buffer;
  char chunk[65536];
  while (wait_readable(fd, wake_[0])) {
    const ssize_t count = ::recv(fd, chunk, sizeof chunk, 0);
    if (count <= 0)
      return;
    buffer.append(chunk, static_cast<std::size_t>(count));
    for (auto newline = buffer.find('\n'); newline != std::string::npos;
         newline = buffer.find('\n')) {
      const std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      if (const auto reply = answer(line))
        send_all(fd, *reply + "\n");
    }
  }
}

std::optional<std::string> FakeControlServer::answer(const std::string& line) {
  Handler handler;
  auto request = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(line);
    if (request.is_object() && request.contains("cmd") && request["cmd"].is_string()) {
      const auto found = handlers_.find(request["cmd"].get<std::string>());
      if (found != handlers_.end())
        handler = found->second;
    }
  }
  if (!request.is_object()) {
    return R"({"id":null,"ok":false,"error":{"code":"bad_request","message":"not JSON"}})";
  }
  if (!handler) {
    return nlohmann::json{{"id", request.value("id", nlohmann::json())},
                          {"ok", false},
                          {"error", {{"code", "unknown_command"}, {"message", "no such command"}}}}
        .dump();
  }
  return handler(request);
}

}  // namespace fetchd::test
