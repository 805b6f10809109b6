#include "dns/resolver.h"

// c-ares on the Asio event loop. c-ares owns its sockets and its retransmit clock; this module only
// tells it when a socket is ready (ares_process_fd) and when its next deadline has passed.
//
// Lifetimes: the Resolver owns a shared Core. Every handler queued on the event loop holds a
// shared_ptr (to the Core, or to the Watcher of one socket), so a handler that runs after the
// Resolver is gone finds a shut-down Core (channel_ == nullptr) or a closed Watcher instead of
// freed memory. A lookup's record (Query) is held by c-ares until c-ares calls back, even if the
// caller cancelled long before; `done` says whether the caller's handler has already been
// completed.

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <sys/socket.h>
#include <utility>

#include <ares.h>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/error.hpp>
#include <asio/experimental/append.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

namespace fetchd::dns {
namespace {

class DnsErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "dns"; }
  std::string message(int value) const override {
    switch (static_cast<DnsError>(value)) {
      case DnsError::not_found:
        return "host not found";
      case DnsError::timeout:
        return "DNS timeout";
      case DnsError::server_failure:
        return "DNS server failure";
      case DnsError::bad_name:
        return "invalid host name";
      case DnsError::no_servers:
        return "no DNS servers";
      case DnsError::other:
        return "DNS error";
    }
    return "unknown DNS error";
  }
};

std::error_code to_error_code(int status) {
  switch (status) {
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME:
      return DnsError::not_found;
    case ARES_ETIMEOUT:
      return DnsError::timeout;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_EFORMERR:
    case ARES_ENOTIMP:
    case ARES_EBADRESP:
    case ARES_ECONNREFUSED:
    case ARES_EOF:
      return DnsError::server_failure;
    case ARES_EBADNAME:
    case ARES_EBADSTR:
      return DnsError::bad_name;
    case ARES_EDESTRUCTION:  // the Resolver was destroyed with the lookup pending
    case ARES_ECANCELLED:
      return asio::error::operation_aborted;
    default:
      return DnsError::other;
  }
}

Resolution failure(std::error_code error, const std::string& host, std::string_view why) {
  Resolution resolution;
  resolution.error = error;
  resolution.message.reserve(host.size() + 2 + why.size());
  resolution.message.append(host).append(": ").append(why);
  return resolution;
}

// c-ares returns its addresses sorted by RFC 6724 destination address selection (the rule glibc's
// getaddrinfo applies: reachable, matching scope and family of the source address first), so for
// Family::any we keep its order: it is what the system would try first.
Resolution to_resolution(const std::string& host, int status, const ares_addrinfo* result) {
  if (status != ARES_SUCCESS) {
    return failure(to_error_code(status), host, ares_strerror(status));
  }
  Resolution resolution;
  std::size_t count = 0;
  for (const ares_addrinfo_node* node = result->nodes; node != nullptr; node = node->ai_next) {
    ++count;
  }
  resolution.addresses.reserve(count);
  for (const ares_addrinfo_node* node = result->nodes; node != nullptr; node = node->ai_next) {
    if (node->ai_family == AF_INET) {
      sockaddr_in in{};
      std::memcpy(&in, node->ai_addr, sizeof in);
      resolution.addresses.emplace_back(asio::ip::address_v4(ntohl(in.sin_addr.s_addr)));
    } else if (node->ai_family == AF_INET6) {
      sockaddr_in6 in6{};
      std::memcpy(&in6, node->ai_addr, sizeof in6);
      asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), in6.sin6_addr.s6_addr, bytes.size());
      resolution.addresses.emplace_back(asio::ip::address_v6(bytes, in6.sin6_scope_id));
    }
  }
  if (resolution.addresses.empty()) {
    return failure(DnsError::not_found, host, ares_strerror(ARES_ENODATA));
  }
  return resolution;
}

// IP literals need no lookup ("[::1]" is accepted too, as a URL writes it), and an empty name is
// refused here (c-ares would ask for the root's addresses).
std::optional<Resolution> answer_without_lookup(const std::string& host, Family family) {
  if (host.empty()) {
    return failure(DnsError::bad_name, host, "empty host name");
  }
  std::string_view text = host;
  const bool bracketed = text.size() >= 2 && text.front() == '[' && text.back() == ']';
  if (bracketed) {
    text = text.substr(1, text.size() - 2);
  }
  std::error_code ec;
  const asio::ip::address address = asio::ip::make_address(text, ec);
  if (ec || (bracketed && !address.is_v6())) {
    return std::nullopt;
  }
  if (family == Family::ipv4 && !address.is_v4()) {
    return failure(DnsError::not_found, host, "not an IPv4 address");
  }
  if (family == Family::ipv6 && !address.is_v6()) {
    return failure(DnsError::not_found, host, "not an IPv6 address");
  }
  Resolution resolution;
  resolution.addresses.push_back(address);
  return resolution;
}

class Core;

// One lookup. Type-erased over the caller's completion handler (Asio 1.22 has no
// any_completion_handler); one allocation per lookup holds the record and the handler.
class Query {
 public:
  Query(Core& core, std::string host) : core_(&core), host_(std::move(host)) {}
  virtual ~Query() = default;
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Core& core() const { return *core_; }
  const std::string& host() const { return host_; }
  bool done() const { return done_; }

  // Completes the caller's handler, once: posted, never run inside c-ares (which must not be
  // re-entered from its own callbacks) nor inside the initiating call.
  void complete(Resolution resolution, bool from_cancellation_slot);

  // The reference that c-ares holds (its callback's `void* arg` cannot own anything).
  std::shared_ptr<Query> self;

 private:
  virtual void post_completion(Resolution resolution, bool from_cancellation_slot) = 0;

  Core* core_;
  std::string host_;
  bool done_ = false;
};

template <typename Handler>
class QueryOp final : public Query {
 public:
  QueryOp(Core& core, std::string host, Handler handler, const asio::any_io_executor& io_executor)
      : Query(core, std::move(host)),
        handler_(std::move(handler)),
        work_(asio::prefer(asio::get_associated_executor(handler_, io_executor),
                           asio::execution::outstanding_work_t::tracked)),
        slot_(asio::get_associated_cancellation_slot(handler_)) {}

  // The slot handler holds a weak reference: it may outlive the lookup (Asio replaces it only when
  // the caller's next operation installs its own) and must then do nothing.
  void listen_for_cancellation(const std::shared_ptr<Query>& self_reference) {
    if (!slot_.is_connected()) {
      return;
    }
    slot_.assign([weak = std::weak_ptr<Query>(self_reference)](asio::cancellation_type type) {
      constexpr auto accepted = asio::cancellation_type::terminal |
                                asio::cancellation_type::partial | asio::cancellation_type::total;
      const std::shared_ptr<Query> query = weak.lock();
      if ((type & accepted) == asio::cancellation_type::none || !query || query->done()) {
        return;
      }
      query->complete(failure(asio::error::operation_aborted, query->host(), "lookup cancelled"),
                      true);
    });
  }

 private:
  void post_completion(Resolution resolution, bool from_cancellation_slot) override {
    // Inside the slot's own handler, clearing the slot would destroy the running handler.
    if (!from_cancellation_slot && slot_.is_connected()) {
      slot_.clear();
    }
    asio::post(asio::experimental::append(std::move(handler_), std::move(resolution)));
    work_.reset();
  }

  using WorkExecutor = std::decay_t<decltype(asio::prefer(
      std::declval<asio::associated_executor_t<Handler, asio::any_io_executor>>(),
      asio::execution::outstanding_work_t::tracked))>;

  Handler handler_;
  std::optional<WorkExecutor> work_;  // keeps the caller's executor busy until completion
  asio::associated_cancellation_slot_t<Handler> slot_;
};

// A socket c-ares has open. c-ares owns the descriptor: the stream_descriptor only waits for
// readiness, and gives the descriptor back (release) before c-ares closes it.
class Watcher : public std::enable_shared_from_this<Watcher> {
 public:
  Watcher(Core& core, const asio::any_io_executor& executor, ares_socket_t fd);
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  ares_socket_t fd() const { return fd_; }
  bool is_open() const { return descriptor_.is_open(); }
  void set_interest(bool read, bool write);
  void arm();
  // No lookup in flight: stop waiting, so the io_context can run out of work.
  void pause() { descriptor_.cancel(); }
  // c-ares is about to close the socket.
  void close();

 private:
  void wait(bool write);
  void on_ready(bool write, std::error_code ec);

  Core* core_;  // null once closed: a late handler must not touch the Core
  ares_socket_t fd_;
  asio::posix::stream_descriptor descriptor_;
  bool want_read_ = false;
  bool want_write_ = false;
  bool reading_ = false;
  bool writing_ = false;
};

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(asio::any_io_executor executor, const ResolverOptions& options);
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  template <typename Handler>
  void start(Handler handler, std::string host, Family family);
  void shutdown();
  void cancel_all();
  // A caller stopped waiting for its lookup (answered or cancelled).
  void on_caller_done();

  const RetryOptions& retry() const { return retry_; }
  bool busy() const { return in_flight_ > 0; }
  void process(ares_socket_t read_fd, ares_socket_t write_fd) {
    ares_process_fd(channel_, read_fd, write_fd);
  }

 private:
  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) noexcept;
  static void on_addrinfo(void* arg, int status, int timeouts, ares_addrinfo* result) noexcept;
  void arm_timer();
  void on_timer(std::error_code ec);

  asio::any_io_executor executor_;
  ares_channel channel_ = nullptr;
  asio::steady_timer timer_;
  bool timer_armed_ = false;
  timeval timer_cap_{};
  RetryOptions retry_;
  // c-ares queries not yet called back, cancelled ones included. Zero: nothing is waited for.
  std::size_t in_flight_ = 0;
  // Of those, the ones whose caller still waits. Zero while in_flight_ is not: all abandoned.
  std::size_t waiting_ = 0;
  std::vector<std::shared_ptr<Watcher>> watchers_;  // a handful: one per server, plus TCP
};

Watcher::Watcher(Core& core, const asio::any_io_executor& executor, ares_socket_t fd)
    : core_(&core), fd_(fd), descriptor_(executor) {
  std::error_code ec;
  descriptor_.assign(fd, ec);  // on failure is_open() is false and the caller drops the Watcher
}

void Watcher::set_interest(bool read, bool write) {
  want_read_ = read;
  want_write_ = write;
  arm();
}

void Watcher::arm() {
  if (core_ == nullptr || !core_->busy()) {
    return;
  }
  if (want_read_ && !reading_) {
    wait(false);
  }
  if (want_write_ && !writing_) {
    wait(true);
  }
}

void Watcher::close() {
  core_ = nullptr;
  descriptor_.release();  // pending waits complete with operation_aborted and find core_ null
}

void Watcher::wait(bool write) {
  (write ? writing_ : reading_) = true;
  descriptor_.async_wait(
      write ? asio::posix::descriptor_base::wait_write : asio::posix::descriptor_base::wait_read,
      [self = shared_from_this(), write](std::error_code ec) { self->on_ready(write, ec); });
}

void Watcher::on_ready(bool write, std::error_code ec) {
  (write ? writing_ : reading_) = false;
  if (core_ == nullptr) {
    return;
  }
  // c-ares reads until EAGAIN, so the edge-triggered reactor cannot strand a datagram.
  if (ec != asio::error::operation_aborted) {
    core_->process(write ? ARES_SOCKET_BAD : fd_, write ? fd_ : ARES_SOCKET_BAD);
  }
  arm();  // no-op if c-ares closed the socket meanwhile
}

void init_library_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Process-wide and never undone: channels may exist until exit.
    if (const int status = ares_library_init(ARES_LIB_INIT_ALL); status != ARES_SUCCESS) {
      throw std::runtime_error(std::string("c-ares: ") + ares_strerror(status));
    }
  });
}

void Query::complete(Resolution resolution, bool from_cancellation_slot) {
  done_ = true;
  post_completion(std::move(resolution), from_cancellation_slot);
  core_->on_caller_done();
}

RetryOptions effective_retry(const ResolverOptions& options) {
  RetryOptions retry = system_retry_options(options.resolv_conf);
  if (options.timeout || options.tries) {
    retry.timeout = options.timeout.value_or(retry.timeout);
    retry.attempts = options.tries.value_or(retry.attempts);
    retry.source = "configuration";
  }
  if (retry.timeout.count() <= 0 || retry.attempts < 1) {
    throw std::runtime_error("resolver: timeout and tries must be positive");
  }
  return retry;
}

Core::Core(asio::any_io_executor executor, const ResolverOptions& options)
    : executor_(std::move(executor)), timer_(executor_), retry_(effective_retry(options)) {
  init_library_once();

  const int timeout_ms = static_cast<int>(std::min<std::chrono::milliseconds::rep>(
      retry_.timeout.count(), INT_MAX / 8));  // c-ares doubles it per round of retries
  timer_cap_.tv_sec = timeout_ms / 1000;
  timer_cap_.tv_usec = static_cast<suseconds_t>(timeout_ms % 1000) * 1000;

  // c-ares takes a non-const char* (and copies it in ares_init_options).
  std::string file_then_dns = "fb";
  std::string dns_only = "b";
  std::string resolv_conf = options.resolv_conf.string();
  ares_options ares{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS |
             ARES_OPT_RESOLVCONF;
  ares.sock_state_cb = &Core::on_sock_state;
  ares.sock_state_cb_data = this;
  ares.timeout = timeout_ms;
  ares.tries = retry_.attempts;
  ares.resolvconf_path = resolv_conf.data();
  ares.lookups = options.use_hosts_file ? file_then_dns.data() : dns_only.data();
  if (!options.servers.empty()) {
    // resolv.conf's search list belongs with resolv.conf's servers: with servers of its own the
    // caller asks for names as given ("www.example" is never tried as "www.example.corp"). This
    // also keeps lookups in tests deterministic whatever the machine's resolv.conf says.
    mask |= ARES_OPT_DOMAINS;
    ares.domains = nullptr;
    ares.ndomains = 0;
  }
  if (const int status = ares_init_options(&channel_, &ares, mask); status != ARES_SUCCESS) {
    throw std::runtime_error(std::string("c-ares: ") + ares_strerror(status));
  }
  if (!options.servers.empty()) {
    std::string csv;
    for (const std::string& server : options.servers) {
      csv.append(csv.empty() ? "" : ",").append(server);
    }
    if (const int status = ares_set_servers_ports_csv(channel_, csv.c_str());
        status != ARES_SUCCESS) {
      ares_destroy(std::exchange(channel_, nullptr));
      throw std::runtime_error("c-ares: invalid DNS server list \"" + csv +
                               "\": " + ares_strerror(status));
    }
  }
}

void Core::shutdown() {
  // Completes every pending query with ARES_EDESTRUCTION (on_addrinfo posts operation_aborted to
  // callers still waiting) and closes c-ares' sockets, which closes their Watchers.
  ares_destroy(channel_);
  channel_ = nullptr;
  for (const std::shared_ptr<Watcher>& watcher : watchers_) {
    watcher->close();
  }
  watchers_.clear();
  timer_.cancel();
}

// Calls on_addrinfo for every query with ARES_ECANCELLED, at once: callers still waiting get
// operation_aborted, and in_flight_ drops to zero, which pauses the timer and the sockets.
void Core::cancel_all() {
  if (channel_ != nullptr && busy())
    ares_cancel(channel_);
}

void Core::on_caller_done() {
  --waiting_;
  if (waiting_ > 0 || !busy())
    return;
  // Posted: a caller may be completed from inside a c-ares callback, and ares_cancel must not
  // re-enter c-ares. Checked again when it runs: a lookup may have started meanwhile.
  asio::post(executor_, [self = shared_from_this()] {
    if (self->waiting_ == 0)
      self->cancel_all();
  });
}

template <typename Handler>
void Core::start(Handler handler, std::string host, Family family) {
  auto query =
      std::make_shared<QueryOp<Handler>>(*this, std::move(host), std::move(handler), executor_);
  query->listen_for_cancellation(query);
  query->self = query;

  ares_addrinfo_hints hints{};
  hints.ai_family = family == Family::ipv4   ? AF_INET
                    : family == Family::ipv6 ? AF_INET6
                                             : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one node per address, not one per socket type
  const bool was_idle = in_flight_++ == 0;
  ++waiting_;
  // May call on_addrinfo before returning (hosts file, invalid name).
  ares_getaddrinfo(channel_, query->host().c_str(), nullptr, &hints, &Core::on_addrinfo,
                   query.get());

  if (was_idle && busy()) {
    for (const std::shared_ptr<Watcher>& watcher : watchers_) {
      watcher->arm();
    }
  }
  // The timer never sleeps longer than one timeout (arm_timer), and a new query's first deadline is
  // a full timeout away: so an armed timer is never late for it and needs no recomputation here
  // (ares_timeout walks every query: calling it per lookup would be quadratic).
  if (busy() && !timer_armed_) {
    arm_timer();
  }
}

void Core::on_sock_state(void* data, ares_socket_t fd, int readable, int writable) noexcept {
  Core& core = *static_cast<Core*>(data);
  auto it = std::find_if(core.watchers_.begin(), core.watchers_.end(),
                         [fd](const std::shared_ptr<Watcher>& w) { return w->fd() == fd; });
  if (readable == 0 && writable == 0) {
    if (it != core.watchers_.end()) {
      (*it)->close();
      core.watchers_.erase(it);
    }
    return;
  }
  if (it == core.watchers_.end()) {
    auto watcher = std::make_shared<Watcher>(core, core.executor_, fd);
    if (!watcher->is_open()) {
      return;  // cannot be watched: its queries end by timeout
    }
    it = core.watchers_.insert(core.watchers_.end(), std::move(watcher));
  }
  (*it)->set_interest(readable != 0, writable != 0);
}

void Core::on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) noexcept {
  const std::shared_ptr<Query> query = std::move(static_cast<Query*>(arg)->self);
  if (!query->done()) {
    query->complete(to_resolution(query->host(), status, result), false);
  }
  ares_freeaddrinfo(result);

  Core& core = query->core();
  if (--core.in_flight_ == 0) {
    core.timer_.cancel();
    core.timer_armed_ = false;
    for (const std::shared_ptr<Watcher>& watcher : core.watchers_) {
      watcher->pause();
    }
  }
}

void Core::arm_timer() {
  timeval next{};
  const timeval* wait = ares_timeout(channel_, &timer_cap_, &next);
  timer_.expires_after(std::chrono::seconds(wait->tv_sec) +
                       std::chrono::microseconds(wait->tv_usec));
  timer_armed_ = true;
  timer_.async_wait([self = shared_from_this()](std::error_code ec) { self->on_timer(ec); });
}

void Core::on_timer(std::error_code ec) {
  // Aborted: re-armed or paused meanwhile, or shut down.
  if (ec == asio::error::operation_aborted || channel_ == nullptr) {
    return;
  }
  timer_armed_ = false;
  process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // retransmits and expires what is due
  if (busy() && !timer_armed_) {
    arm_timer();
  }
}

}  // namespace

const std::error_category& dns_error_category() {
  static const DnsErrorCategory category;
  return category;
}

std::error_code make_error_code(DnsError error) {
  return {static_cast<int>(error), dns_error_category()};
}

class Resolver::Impl {
 public:
  Impl(asio::any_io_executor executor, const ResolverOptions& options)
      : core(std::make_shared<Core>(std::move(executor), options)) {}
  ~Impl() { core->shutdown(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  std::shared_ptr<Core> core;
};

Resolver::Resolver(asio::any_io_executor executor, const ResolverOptions& options)
    : impl_(std::make_unique<Impl>(std::move(executor), options)) {}

Resolver::~Resolver() = default;

void Resolver::cancel_all() {
  impl_->core->cancel_all();
}

const RetryOptions& Resolver::retry() const {
  return impl_->core->retry();
}

asio::awaitable<Resolution> Resolver::resolve(std::string host, Family family) {
  if (std::optional<Resolution> answer = answer_without_lookup(host, family)) {
    co_return std::move(*answer);
  }
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(Resolution)>(
      [core = impl_->core.get()](auto handler, std::string name, Family wanted) {
        core->start(std::move(handler), std::move(name), wanted);
      },
      asio::use_awaitable, std::move(host), family);
}

}  // namespace fetchd::dns
