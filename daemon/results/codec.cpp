#include "results/codec.h"

#include <limits>
#include <memory>
#include <utility>

namespace fetchd::results {

namespace {

using Clock = std::chrono::system_clock;

// Far above what the fetcher produces (heads are bounded by max_header_bytes, redirects by
// max_redirects): a larger value is damage.
constexpr std::size_t kMaxText = std::size_t{1} << 20;
constexpr std::size_t kMaxHops = 64;
constexpr std::size_t kMaxHeaders = 100'000;
constexpr std::size_t kMaxHistory = 1'000'000;
constexpr std::size_t kMaxBuckets = 100'000;

void put_time(BinaryWriter& out, Clock::time_point time) {
  out.i64(time.time_since_epoch().count());
}
Clock::time_point get_time(BinaryReader& in) {
  return Clock::time_point(Clock::duration(in.i64()));
}
void put_time(BinaryWriter& out, const std::optional<Clock::time_point>& time) {
  out.boolean(time.has_value());
  if (time)
    put_time(out, *time);
}
std::optional<Clock::time_point> get_optional_time(BinaryReader& in) {
  if (!in.boolean())
    return std::nullopt;
  return get_time(in);
}

void put_us(BinaryWriter& out, const std::optional<std::chrono::microseconds>& duration) {
  out.boolean(duration.has_value());
  if (duration)
    out.i64(duration->count());
}
std::optional<std::chrono::microseconds> get_us(BinaryReader& in) {
  if (!in.boolean())
    return std::nullopt;
  return std::chrono::microseconds(in.i64());
}

std::int32_t get_i32(BinaryReader& in) {
  const auto value = in.i64();
  if (value < std::numeric_limits<std::int32_t>::min() ||
      value > std::numeric_limits<std::int32_t>::max()) {
    in.invalidate();
    return 0;
  }
  return static_cast<std::int32_t>(value);
}
std::uint32_t get_u32(BinaryReader& in) {
  return static_cast<std::uint32_t>(in.bounded(std::numeric_limits<std::uint32_t>::max()));
}

void put_headers(BinaryWriter& out, const http::Headers& headers) {
  out.u64(headers.size());
  for (const auto& header : headers) {
    out.text(header.name);
    out.text(header.value);
  }
}
http::Headers get_headers(BinaryReader& in) {
  http::Headers headers;
  // Each header takes at least two bytes: a count beyond what is left is damage, not a reason to
  // allocate.
  const auto count = in.bounded(std::min<std::size_t>(kMaxHeaders, in.left() / 2));
  for (std::uint64_t i = 0; i < count && in.ok(); ++i) {
    auto name = in.text(kMaxText);
    auto value = in.text(kMaxText);
    headers.push_back({std::move(name), std::move(value)});
  }
  return headers;
}

void put_hop(BinaryWriter& out, const http::Hop& hop) {
  out.text(hop.url.scheme);
  out.text(hop.url.host);
  out.boolean(hop.url.host_is_ipv6_literal);
  out.u64(hop.url.port);
  out.text(hop.url.target);
  out.text(hop.remote_address);
  out.u8(static_cast<std::uint8_t>(hop.error.error_class));
  out.u8(static_cast<std::uint8_t>(hop.error.phase));
  out.text(hop.error.message);
  out.i64(hop.version_major);
  out.i64(hop.version_minor);
  out.i64(hop.status);
  out.text(hop.reason);
  put_headers(out, hop.headers);
  put_headers(out, hop.trailers);
  out.u64(hop.body_bytes);
  out.boolean(hop.body_truncated);
  put_us(out, hop.timings.dns);
  put_us(out, hop.timings.connect);
  put_us(out, hop.timings.tls_handshake);
  put_us(out, hop.timings.first_byte);
  out.i64(hop.timings.total.count());
  out.boolean(hop.tls.has_value());
  if (hop.tls) {
    out.text(hop.tls->protocol);
    out.text(hop.tls->cipher);
    out.text(hop.tls->subject);
    out.text(hop.tls->issuer);
    put_time(out, hop.tls->not_after);
    put_time(out, hop.tls->chain_earliest_not_after);
  }
}

http::Hop get_hop(BinaryReader& in) {
  http::Hop hop;
  hop.url.scheme = in.text(kMaxText);
  if (!hop.url.scheme.empty() && hop.url.scheme != "http" && hop.url.scheme != "https")
    in.invalidate();
  hop.url.host = in.text(kMaxText);
  hop.url.host_is_ipv6_literal = in.boolean();
  hop.url.port = static_cast<std::uint16_t>(in.bounded(std::numeric_limits<std::uint16_t>::max()));
  hop.url.target = in.text(kMaxText);
  hop.remote_address = in.text(kMaxText);
  hop.error.error_class = static_cast<http::ErrorClass>(
      in.bounded(static_cast<std::uint64_t>(http::ErrorClass::cancelled)));
  hop.error.phase =
      static_cast<http::Phase>(in.bounded(static_cast<std::uint64_t>(http::Phase::read_body)));
  hop.error.message = in.text(kMaxText);
  hop.version_major = get_i32(in);
  hop.version_minor = get_i32(in);
  hop.status = get_i32(in);
  hop.reason = in.text(kMaxText);
  hop.headers = get_headers(in);
  hop.trailers = get_headers(in);
  hop.body_bytes = static_cast<std::size_t>(in.u64());
  hop.body_truncated = in.boolean();
  hop.timings.dns = get_us(in);
  hop.timings.connect = get_us(in);
  hop.timings.tls_handshake = get_us(in);
  hop.timings.first_byte = get_us(in);
  hop.timings.total = std::chrono::microseconds(in.i64());
  if (in.boolean()) {
    http::TlsInfo tls;
    tls.protocol = in.text(kMaxText);
    tls.cipher = in.text(kMaxText);
    tls.subject = in.text(kMaxText);
    tls.issuer = in.text(kMaxText);
    tls.not_after = get_time(in);
    tls.chain_earliest_not_after = get_time(in);
    hop.tls = std::move(tls);
  }
  return hop;
}

void put_result(BinaryWriter& out, const http::FetchResult& result,
                const std::string& failed_expectation) {
  put_time(out, result.started);
  out.i64(result.total.count());
  out.boolean(result.redirect_limit_reached);
  out.u64(result.hops.size());
  for (const auto& hop : result.hops)
    put_hop(out, hop);
  out.text(failed_expectation);
}

void put_entry(BinaryWriter& out, const CompactEntry& entry, std::int64_t previous_ms) {
  out.i64(entry.time_ms - previous_ms);  // entries are about an interval apart: a small delta
  out.i64(entry.dns_us);
  out.i64(entry.connect_us);
  out.i64(entry.tls_us);
  out.i64(entry.first_byte_us);
  out.i64(entry.total_us);
  out.u64(entry.status);
  out.u8(static_cast<std::uint8_t>(entry.outcome));
}

CompactEntry get_entry(BinaryReader& in, std::int64_t previous_ms) {
  CompactEntry entry;
  if (__builtin_add_overflow(previous_ms, in.i64(), &entry.time_ms))
    in.invalidate();
  entry.dns_us = get_i32(in);
  entry.connect_us = get_i32(in);
  entry.tls_us = get_i32(in);
  entry.first_byte_us = get_i32(in);
  entry.total_us = get_i32(in);
  entry.status = static_cast<std::uint16_t>(in.bounded(std::numeric_limits<std::uint16_t>::max()));
  entry.outcome = static_cast<Outcome>(in.bounded(kOutcomeCount - 1));
  return entry;
}

std::shared_ptr<const FullResult> get_full_result(BinaryReader& in) {
  auto attempt = decode_attempt(in);
  if (!attempt)
    return nullptr;
  auto full = std::make_shared<FullResult>();
  full->outcome = outcome_of(attempt->result, !attempt->failed_expectation.empty());
  full->result = std::move(attempt->result);
  full->failed_expectation = std::move(attempt->failed_expectation);
  return full;
}

}  // namespace

// Friend of TargetResults and Uptime: their persisted form reads and writes their members.
struct Codec {
  static void put_buckets(BinaryWriter& out, const std::vector<Uptime::Bucket>& ring) {
    std::size_t used = 0;
    for (const auto& bucket : ring)
      used += bucket.index != Uptime::Bucket::kUnused ? 1 : 0;
    out.u64(used);
    for (const auto& bucket : ring) {
      if (bucket.index == Uptime::Bucket::kUnused)
        continue;
      out.i64(bucket.index);
      out.u64(bucket.attempts);
      out.u64(bucket.successes);
      out.i64(bucket.latency_max_us);
      out.u64(bucket.latency_sum_us);
    }
  }

  // Into a ring of `size` by index % size, keeping the newest where two share a slot (the ring
  // was larger when written).
  static std::vector<Uptime::Bucket> get_buckets(BinaryReader& in, std::size_t size) {
    const auto used = in.bounded(kMaxBuckets);
    std::vector<Uptime::Bucket> ring;
    if (used > 0)
      ring.resize(size);
    for (std::uint64_t i = 0; i < used && in.ok(); ++i) {
      Uptime::Bucket bucket;
      bucket.index = get_i32(in);
      bucket.attempts = get_u32(in);
      bucket.successes = get_u32(in);
      bucket.latency_max_us = get_i32(in);
      bucket.latency_sum_us = in.u64();
      if (bucket.index < 0 || bucket.successes > bucket.attempts) {
        in.invalidate();
        break;
      }
      auto& slot = ring[static_cast<std::size_t>(bucket.index) % size];
      if (slot.index < bucket.index)
        slot = bucket;
    }
    return ring;
  }

  static void put_uptime(BinaryWriter& out, const Uptime& uptime) {
    put_buckets(out, uptime.hours_);
    put_buckets(out, uptime.daily_);
    out.u64(uptime.outages_.size());
    for (const auto& outage : uptime.outages_) {
      put_time(out, outage.from);
      put_time(out, outage.to);
      out.text(outage.reason);
    }
  }

  static void get_uptime(BinaryReader& in, Uptime& uptime) {
    uptime.hours_ = get_buckets(in, kUptimeHours + 1);
    uptime.daily_ = get_buckets(in, uptime.days_ + 1);
    const auto outages = in.bounded(kMaxOutages);
    for (std::uint64_t i = 0; i < outages && in.ok(); ++i) {
      Outage outage;
      outage.from = get_time(in);
      outage.to = get_optional_time(in);
      outage.reason = in.text(kMaxText);
      uptime.outages_.push_back(std::move(outage));
    }
  }

  static void put(BinaryWriter& out, const TargetResults& results) {
    out.u64(results.policy_.down_after);
    out.u64(results.policy_.up_after);
    out.u8(static_cast<std::uint8_t>(results.state_));
    put_time(out, results.state_since_);
    out.u64(results.consecutive_successes_);
    out.u64(results.consecutive_failures_);
    out.u64(results.previous_streak_);
    const Totals& totals = results.totals_;
    out.u64(totals.attempts);
    out.u64(totals.successes);
    out.u64(totals.failures);
    out.u64(totals.cancelled);
    out.u64(totals.skipped);
    out.u64(totals.state_changes);
    out.u64(totals.by_outcome.size());
    for (const auto count : totals.by_outcome)
      out.u64(count);
    put_time(out, results.last_success_);
    put_time(out, results.last_failure_);

    const History& history = results.history_;
    out.u64(history.size());
    std::int64_t previous_ms = 0;
    for (std::size_t i = 0; i < history.size(); ++i) {
      put_entry(out, history[i], previous_ms);
      previous_ms = history[i].time_ms;
    }
    put_uptime(out, results.uptime_);

    // The latest failure is usually the latest itself, or one of a few failures kept apart.
    out.boolean(results.latest_ != nullptr);
    if (results.latest_)
      encode(*results.latest_, out);
    const bool failure_is_latest = results.latest_failure_ == results.latest_;
    out.boolean(failure_is_latest);
    if (!failure_is_latest) {
      out.boolean(results.latest_failure_ != nullptr);
      if (results.latest_failure_)
        encode(*results.latest_failure_, out);
    }
  }

  static std::optional<TargetResults> get(BinaryReader& in, std::size_t history_length,
                                          std::size_t uptime_days) {
    FlapPolicy policy;
    policy.down_after = get_u32(in);
    policy.up_after = get_u32(in);
    const auto state = static_cast<State>(in.bounded(static_cast<std::uint64_t>(State::down)));
    const auto since = get_time(in);
    TargetResults results(policy, history_length, since, uptime_days);
    results.state_ = state;
    results.consecutive_successes_ = get_u32(in);
    results.consecutive_failures_ = get_u32(in);
    results.previous_streak_ = get_u32(in);
    Totals& totals = results.totals_;
    totals.attempts = in.u64();
    totals.successes = in.u64();
    totals.failures = in.u64();
    totals.cancelled = in.u64();
    totals.skipped = in.u64();
    totals.state_changes = in.u64();
    // A newer writer may count more outcomes; their counts are read and dropped.
    const auto outcomes = in.bounded(255);
    for (std::uint64_t i = 0; i < outcomes && in.ok(); ++i) {
      const auto count = in.u64();
      if (i < totals.by_outcome.size())
        totals.by_outcome[i] = count;
    }
    results.last_success_ = get_optional_time(in);
    results.last_failure_ = get_optional_time(in);

    const auto entries = in.bounded(kMaxHistory);
    // Only what is there can be read: each entry takes at least 8 bytes.
    results.history_.reserve(std::min<std::size_t>(entries, in.left() / 8));
    std::int64_t previous_ms = 0;
    for (std::uint64_t i = 0; i < entries && in.ok(); ++i) {
      const auto entry = get_entry(in, previous_ms);
      previous_ms = entry.time_ms;
      results.history_.push(entry);
    }
    get_uptime(in, results.uptime_);

    if (in.boolean()) {
      results.latest_ = get_full_result(in);
      if (!results.latest_)
        return std::nullopt;
    }
    if (in.boolean()) {
      results.latest_failure_ = results.latest_;
    } else if (in.boolean()) {
      results.latest_failure_ = get_full_result(in);
      if (!results.latest_failure_)
        return std::nullopt;
    }
    if (!in.ok())
      return std::nullopt;
    return results;
  }
};

void encode(const Attempt& attempt, BinaryWriter& out) {
  put_result(out, attempt.result, attempt.failed_expectation);
}

void encode(const FullResult& result, BinaryWriter& out) {
  put_result(out, result.result, result.failed_expectation);
}

std::optional<Attempt> decode_attempt(BinaryReader& in) {
  Attempt attempt;
  attempt.result.started = get_time(in);
  attempt.result.total = std::chrono::microseconds(in.i64());
  attempt.result.redirect_limit_reached = in.boolean();
  // The fetcher never returns a result without a hop, and readers rely on last().
  const auto hops = in.bounded(kMaxHops);
  if (hops == 0)
    in.invalidate();
  for (std::uint64_t i = 0; i < hops && in.ok(); ++i)
    attempt.result.hops.push_back(get_hop(in));
  attempt.failed_expectation = in.text(kMaxText);
  if (!in.ok())
    return std::nullopt;
  return attempt;
}

void encode(const TargetResults& results, BinaryWriter& out) {
  Codec::put(out, results);
}

std::optional<TargetResults> decode_target_results(BinaryReader& in, std::size_t history_length,
                                                   std::size_t uptime_days) {
  return Codec::get(in, history_length, uptime_days);
}

}  // namespace fetchd::results
