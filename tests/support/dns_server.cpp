#include "support/dns_server.h"

#include <array>
#include <cctype>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/udp.hpp>
#include <asio/use_awaitable.hpp>

namespace fetchd::test {
namespace {

constexpr std::uint16_t type_a = 1;
constexpr std::uint16_t type_aaaa = 28;
constexpr std::uint8_t rcode_nxdomain = 3;
constexpr std::size_t max_udp_reply = 512;  // no EDNS: the classic limit
constexpr std::size_t header_size = 12;

std::string normalize(std::string_view name) {
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  std::string lower(name);
  for (char& c : lower) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return lower;
}

std::uint16_t read_u16(std::span<const std::uint8_t> bytes, std::size_t at) {
  return static_cast<std::uint16_t>(bytes[at] << 8 | bytes[at + 1]);
}

void append_u16(std::vector<std::uint8_t>& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value & 0xff));
}

struct Question {
  std::string name;  // lower case, no trailing dot
  std::uint16_t type = 0;
  std::size_t end = 0;  // offset just past QCLASS
};

// A standard query with exactly one question, whose name is uncompressed labels (as every stub
// resolver sends). Anything else is dropped, as a server may do with garbage.
std::optional<Question> parse_query(std::span<const std::uint8_t> packet) {
  if (packet.size() < header_size) {
    return std::nullopt;
  }
  const bool is_response = (packet[2] & 0x80) != 0;
  const int opcode = (packet[2] >> 3) & 0x0f;
  if (is_response || opcode != 0 || read_u16(packet, 4) != 1) {
    return std::nullopt;
  }
  Question question;
  std::size_t at = header_size;
  std::size_t wire_length = 1;  // the root label
  for (;;) {
    if (at >= packet.size()) {
      return std::nullopt;
    }
    const std::size_t length = packet[at++];
    if (length == 0) {
      break;
    }
    wire_length += length + 1;
    if (length > 63 || wire_length > 255 || at + length > packet.size()) {
      return std::nullopt;  // also rejects compression pointers (top bits set)
    }
    if (!question.name.empty()) {
      question.name += '.';
    }
    question.name.append(reinterpret_cast<const char*>(&packet[at]), length);
    at += length;
  }
  if (at + 4 > packet.size()) {
    return std::nullopt;
  }
  question.name = normalize(question.name);
  question.type = read_u16(packet, at);
  question.end = at + 4;
  return question;
}

}  // namespace

struct DnsServer::State {
  explicit State(const asio::any_io_executor& executor)
      : socket(executor, asio::ip::udp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0)) {
    // A test fires a few hundred queries at once; the default buffer (~270 small datagrams) would
    // drop some, and the client would wait for a retransmit. The kernel caps it at rmem_max.
    std::error_code ignored;
    socket.set_option(asio::socket_base::receive_buffer_size(4 << 20), ignored);
  }

  std::vector<std::uint8_t> reply(std::span<const std::uint8_t> query,
                                  const Question& question) const {
    const auto found = records.find(question.name);
    std::vector<std::uint8_t> out(query.begin(), query.begin() + question.end);
    out[2] = static_cast<std::uint8_t>(0x80 | (query[2] & 0x79) | 0x04);  // QR, opcode+RD, AA
    out[3] = static_cast<std::uint8_t>(0x80 | (found == records.end() ? rcode_nxdomain : 0));  // RA
    std::fill(out.begin() + 6, out.begin() + header_size, 0);  // ANCOUNT, NSCOUNT, ARCOUNT
    if (found == records.end()) {
      return out;
    }
    std::uint16_t answers = 0;
    for (const asio::ip::address& address : found->second) {
      const bool v4 = address.is_v4();
      if (question.type != (v4 ? type_a : type_aaaa)) {
        continue;
      }
      const std::size_t rdlength = v4 ? 4 : 16;
      if (out.size() + 12 + rdlength > max_udp_reply) {
        out[2] |= 0x02;  // TC
        break;
      }
      append_u16(out, 0xc000 | header_size);  // the name: a pointer to the question's
      append_u16(out, question.type);
      append_u16(out, 1);  // IN
      append_u16(out, 0);  // TTL 60
      append_u16(out, 60);
      append_u16(out, static_cast<std::uint16_t>(rdlength));
      if (v4) {
        const auto bytes = address.to_v4().to_bytes();
        out.insert(out.end(), bytes.begin(), bytes.end());
      } else {
        const auto bytes = address.to_v6().to_bytes();
        out.insert(out.end(), bytes.begin(), bytes.end());
      }
      ++answers;
    }
    out[6] = static_cast<std::uint8_t>(answers >> 8);
    out[7] = static_cast<std::uint8_t>(answers & 0xff);
    return out;
  }

  // Takes the state by value: it outlives the DnsServer if the loop is still pending when that
  // goes.
  static asio::awaitable<void> serve(std::shared_ptr<State> state) {
    const auto token = asio::experimental::as_tuple(asio::use_awaitable);
    for (;;) {
      asio::ip::udp::endpoint peer;
      auto [ec, size] =
          co_await state->socket.async_receive_from(asio::buffer(state->buffer), peer, token);
      if (!state->socket.is_open()) {
        co_return;
      }
      if (ec) {
        continue;  // e.g. an ICMP error from an earlier reply
      }
      const std::span<const std::uint8_t> query(state->buffer.data(), size);
      const std::optional<Question> question = parse_query(query);
      if (!question) {
        continue;
      }
      ++state->counts[question->name];
      ++state->total;
      if (state->observer) {
        state->observer(question->name);
      }
      if (!state->socket.is_open() || state->silent.contains(question->name)) {
        continue;
      }
      const std::vector<std::uint8_t> reply = state->reply(query, *question);
      co_await state->socket.async_send_to(asio::buffer(reply), peer, token);
    }
  }

  asio::ip::udp::socket socket;
  std::uint16_t port = socket.local_endpoint().port();
  // Outside the coroutine frame: GCC 12 with -fsanitize warns about large Asio coroutine frames
  // (a false -Wmismatched-new-delete).
  std::array<std::uint8_t, 1024> buffer;
  std::map<std::string, std::vector<asio::ip::address>, std::less<>> records;
  std::set<std::string, std::less<>> silent;
  std::map<std::string, std::size_t, std::less<>> counts;
  std::size_t total = 0;
  std::function<void(const std::string&)> observer;
};

DnsServer::DnsServer(asio::any_io_executor executor) : state_(std::make_shared<State>(executor)) {
  asio::co_spawn(executor, State::serve(state_), [](std::exception_ptr error) {
    if (error) {
      std::rethrow_exception(error);  // a bug in the test server: fail the test run loudly
    }
  });
}

DnsServer::~DnsServer() {
  stop();
}

std::uint16_t DnsServer::port() const {
  return state_->port;
}

std::string DnsServer::address() const {
  return "127.0.0.1:" + std::to_string(port());
}

void DnsServer::add(std::string_view name, const asio::ip::address& address) {
  state_->records[normalize(name)].push_back(address);
}

void DnsServer::add_silent(std::string_view name) {
  state_->silent.insert(normalize(name));
}

void DnsServer::on_query(std::function<void(const std::string& name)> observer) {
  state_->observer = std::move(observer);
}

std::size_t DnsServer::queries(std::string_view name) const {
  const auto found = state_->counts.find(normalize(name));
  return found == state_->counts.end() ? 0 : found->second;
}

std::size_t DnsServer::total_queries() const {
  return state_->total;
}

void DnsServer::stop() {
  std::error_code ignored;
  state_->socket.close(ignored);
}

}  // namespace fetchd::test
