#include "metrics/scrape.h"

#include <array>
#include <charconv>
#include <ctime>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

#include "common/version.h"
#include "http/headers.h"

namespace fetchd::metrics {

namespace {

using registry::Entry;
using results::Outcome;

double seconds(std::chrono::microseconds micros) {
  return std::chrono::duration<double>(micros).count();
}
double unix_seconds(std::chrono::system_clock::time_point at) {
  return std::chrono::duration<double>(at.time_since_epoch()).count();
}

// blackbox_exporter's phases, summed over the hops as it does over redirects: resolve, connect,
// tls, processing (request written → first response byte), transfer (the rest).
struct Phases {
  double resolve = 0, connect = 0, tls = 0, processing = 0, transfer = 0;
};
Phases phases_of(const http::FetchResult& result) {
  Phases phases;
  for (const auto& hop : result.hops) {
    const auto& t = hop.timings;
    const auto dns = t.dns.value_or(std::chrono::microseconds(0));
    const auto connect = t.connect.value_or(std::chrono::microseconds(0));
    const auto tls = t.tls_handshake.value_or(std::chrono::microseconds(0));
    const auto first_byte = t.first_byte.value_or(std::chrono::microseconds(0));
    phases.resolve += seconds(dns);
    phases.connect += seconds(connect);
    phases.tls += seconds(tls);
    phases.processing += seconds(first_byte);
    if (t.first_byte) {
      const auto before = dns + connect + tls + first_byte;
      phases.transfer += t.total > before ? seconds(t.total - before) : 0.0;
    }
  }
  return phases;
}

// OpenSSL's "TLSv1.3" → "TLS 1.3" and "TLSv1" → "TLS 1.0", as blackbox_exporter names versions.
std::string tls_version_label(std::string_view protocol) {
  if (!protocol.starts_with("TLSv"))
    return protocol.empty() ? "unknown" : std::string(protocol);
  std::string version(protocol.substr(4));
  if (version.find('.') == std::string::npos)
    version += ".0";
  return "TLS " + version;
}

// A bucket bound as a label value: OpenMetrics wants floats ("1.0"), the text format accepts both.
std::string bound_label(double bound) {
  std::string text;
  append_number(text, bound);
  if (text.find_first_of(".eEn") == std::string::npos)
    text += ".0";
  return text;
}

// As Go's http.Response.ContentLength: -1 when the response does not say, 0 without one.
double content_length_of(const http::Hop& hop) {
  double length = hop.status == 0 ? 0 : -1;
  if (const auto field = http::find_header(hop.headers, "content-length")) {
    std::uint64_t value = 0;
    const auto* end = field->data() + field->size();
    if (std::from_chars(field->data(), end, value).ptr == end && !field->empty())
      length = static_cast<double>(value);
  }
  return length;
}

// --- what one target's series say --------------------------------------------------------------

// The families are written one after another over every target, as both formats require. Read
// from the registry each time, that is 23 walks of a map of 100,000 entries, each entry pointing
// at its configuration, its latest result and that result's hops: a cache miss at every step,
// about 2 s of CPU per scrape. So a scrape first copies what the series need into one array of
// rows (350 bytes a target, plus labels and buckets), a slice per piece, and writes every family
// from it.
struct Row {
  std::size_t labels_at = 0;  // the escaped label text in Rows::labels
  std::size_t labels_size = 0;
  results::State state = results::State::unknown;
  double state_since = 0;
  results::Totals totals;
  // The latest result.
  bool has_result = false;
  bool success = false;
  bool failed_due_to_regex = false;
  double duration = 0;
  double dns = 0;  // of the first hop
  double started = 0;
  std::size_t redirects = 0;
  Phases phases;
  // Its last hop.
  bool has_hop = false;
  bool ssl = false;
  std::uint8_t ip_protocol = 0;
  std::uint16_t status = 0;
  double http_version = 0;
  double content_length = 0;
  double body_length = 0;
  // The last hop's TLS.
  bool has_tls = false;
  std::size_t tls_version = 0;  // index into Rows::tls_versions
  double leaf_not_after = 0;
  double earliest_not_after = 0;
  // The duration histogram.
  bool has_histogram = false;
  std::size_t bound_set = 0;   // index into Rows::bound_sets
  std::size_t buckets_at = 0;  // the per-bucket counts (not cumulative) in Rows::buckets
  double histogram_sum = 0;
  std::uint64_t histogram_count = 0;
};

// The upper bounds of a histogram and their `le` label values, made once per scrape.
struct BoundSet {
  std::shared_ptr<const std::vector<double>> bounds;
  std::vector<std::string> labels;
};

}  // namespace

struct Scrape::Rows {
  std::vector<Row> rows;
  std::string labels;
  std::vector<std::uint64_t> buckets;
  std::vector<std::string> tls_versions;
  std::vector<BoundSet> bound_sets;

  std::string_view labels_of(const Row& row) const {
    return std::string_view(labels).substr(row.labels_at, row.labels_size);
  }

  void add(const Entry& entry, const std::map<std::string, std::string>& instance_labels,
           Labels& scratch) {
    Row& row = rows.emplace_back();
    scratch.clear();
    scratch.add("name", entry.name());
    for (const auto& [name, value] : entry.config->labels)
      scratch.add(name, value);
    for (const auto& [name, value] : instance_labels) {
      if (!entry.config->labels.contains(name))
        scratch.add(name, value);
    }
    row.labels_at = labels.size();
    row.labels_size = scratch.text().size();
    labels += scratch.text();

    const auto& results = entry.results;
    row.state = results.state();
    row.state_since = unix_seconds(results.state_since());
    row.totals = results.totals();
    if (const auto* histogram = results.durations()) {
      row.has_histogram = true;
      row.bound_set = bound_set_of(histogram->bounds);
      row.buckets_at = buckets.size();
      buckets.insert(buckets.end(), histogram->counts.begin(), histogram->counts.end());
      row.histogram_sum = histogram->sum_seconds;
      row.histogram_count = histogram->count;
    }
    const auto latest = results.latest();
    if (!latest)
      return;
    const auto& result = latest->result;
    row.has_result = true;
    row.success = latest->outcome == Outcome::ok;
    row.failed_due_to_regex = latest->outcome == Outcome::expectation &&
                              latest->failed_expectation.starts_with("body does not");
    row.duration = seconds(result.total);
    row.started = unix_seconds(result.started);
    row.phases = phases_of(result);
    if (result.hops.empty())
      return;
    row.dns = seconds(result.hops.front().timings.dns.value_or(std::chrono::microseconds(0)));
    // Redirect responses seen, as blackbox_exporter counts them: a last 3xx not followed because
    // the limit was reached counts too.
    row.redirects = result.hops.size() - 1 + (result.redirect_limit_reached ? 1 : 0);
    const auto& hop = result.last();
    row.has_hop = true;
    row.status = hop.status;
    row.http_version = hop.status == 0 ? 0.0 : hop.version_major + hop.version_minor / 10.0;
    row.content_length = content_length_of(hop);
    row.body_length = static_cast<double>(hop.body_bytes);
    row.ssl = hop.url.is_tls() && hop.tls;
    // 0 when no address was reached (resolution failed), as blackbox_exporter says.
    const auto& address = hop.remote_address;
    row.ip_protocol = address.empty() ? 0 : address.front() == '[' ? 6 : 4;
    if (hop.tls) {
      row.has_tls = true;
      row.tls_version = tls_version_of(hop.tls->protocol);
      row.leaf_not_after = unix_seconds(hop.tls->not_after);
      row.earliest_not_after = unix_seconds(hop.tls->chain_earliest_not_after);
    }
  }

 private:
  std::size_t tls_version_of(std::string_view protocol) {
    auto label = tls_version_label(protocol);
    for (std::size_t i = 0; i < tls_versions.size(); ++i) {
      if (tls_versions[i] == label)
        return i;
    }
    tls_versions.push_back(std::move(label));
    return tls_versions.size() - 1;
  }
  // A reload may change the buckets between two slices: the rows after it have new bounds.
  std::size_t bound_set_of(const std::shared_ptr<const std::vector<double>>& bounds) {
    for (std::size_t i = 0; i < bound_sets.size(); ++i) {
      if (bound_sets[i].bounds == bounds)
        return i;
    }
    BoundSet set{bounds, {}};
    for (const double bound : *bounds)
      set.labels.push_back(bound_label(bound));
    bound_sets.push_back(std::move(set));
    return bound_sets.size() - 1;
  }
};

namespace {

// --- the per-target families -------------------------------------------------------------------

using Rows = Scrape::Rows;

struct TargetFamily {
  Family family;
  // Writes the family's samples for one row (nothing when it has none, e.g. before its first
  // result).
  void (*write)(Writer& out, const Family& family, const Row& row, std::string_view labels,
                const Rows& rows);
};

void write_success(Writer& out, const Family& f, const Row& r, std::string_view labels,
                   const Rows& /*rows*/) {
  if (r.has_result)
    out.sample(f, "", labels, r.success ? 1.0 : 0.0);
}
void write_duration(Writer& out, const Family& f, const Row& r, std::string_view labels,
                    const Rows& /*rows*/) {
  if (r.has_result)
    out.sample(f, "", labels, r.duration);
}
void write_status_code(Writer& out, const Family& f, const Row& r, std::string_view labels,
                       const Rows& /*rows*/) {
  if (r.has_hop)
    out.sample(f, "", labels, std::uint64_t{r.status});
}
void write_http_version(Writer& out, const Family& f, const Row& r, std::string_view labels,
                        const Rows& /*rows*/) {
  if (r.has_hop)
    out.sample(f, "", labels, r.http_version);
}
void write_content_length(Writer& out, const Family& f, const Row& r, std::string_view labels,
                          const Rows& /*rows*/) {
  if (r.has_hop)
    out.sample(f, "", labels, r.content_length);
}
void write_body_length(Writer& out, const Family& f, const Row& r, std::string_view labels,
                       const Rows& /*rows*/) {
  if (r.has_hop)
    out.sample(f, "", labels, r.body_length);
}
void write_redirects(Writer& out, const Family& f, const Row& r, std::string_view labels,
                     const Rows& /*rows*/) {
  if (r.has_hop)
    out.sample(f, "", labels, std::uint64_t{r.redirects});
}
void write_ssl(Writer& out, const Family& f, const Row& r, std::string_view labels,
               const Rows& /*rows*/) {
  if (r.has_hop)
    out.sample(f, "", labels, r.ssl ? 1.0 : 0.0);
}
void write_phases(Writer& out, const Family& f, const Row& r, std::string_view labels,
                  const Rows& /*rows*/) {
  if (!r.has_result)
    return;
  out.sample(f, "", labels, r.phases.resolve, "phase", "resolve");
  out.sample(f, "", labels, r.phases.connect, "phase", "connect");
  out.sample(f, "", labels, r.phases.tls, "phase", "tls");
  out.sample(f, "", labels, r.phases.processing, "phase", "processing");
  out.sample(f, "", labels, r.phases.transfer, "phase", "transfer");
}
void write_earliest_expiry(Writer& out, const Family& f, const Row& r, std::string_view labels,
                           const Rows& /*rows*/) {
  if (r.has_tls)
    out.sample(f, "", labels, r.earliest_not_after);
}
void write_tls_version(Writer& out, const Family& f, const Row& r, std::string_view labels,
                       const Rows& rows) {
  if (r.has_tls)
    out.sample(f, "", labels, 1.0, "version", rows.tls_versions[r.tls_version]);
}
void write_dns_time(Writer& out, const Family& f, const Row& r, std::string_view labels,
                    const Rows& /*rows*/) {
  if (r.has_result)
    out.sample(f, "", labels, r.dns);
}
void write_ip_protocol(Writer& out, const Family& f, const Row& r, std::string_view labels,
                       const Rows& /*rows*/) {
  if (r.has_hop)
    out.sample(f, "", labels, std::uint64_t{r.ip_protocol});
}
void write_failed_due_to_regex(Writer& out, const Family& f, const Row& r, std::string_view labels,
                               const Rows& /*rows*/) {
  if (r.has_result)
    out.sample(f, "", labels, r.failed_due_to_regex ? 1.0 : 0.0);
}
void write_up(Writer& out, const Family& f, const Row& r, std::string_view labels,
              const Rows& /*rows*/) {
  if (r.state != results::State::unknown)
    out.sample(f, "", labels, r.state == results::State::up ? 1.0 : 0.0);
}
void write_state_since(Writer& out, const Family& f, const Row& r, std::string_view labels,
                       const Rows& /*rows*/) {
  out.sample(f, "", labels, r.state_since);
}
void write_fetches(Writer& out, const Family& f, const Row& r, std::string_view labels,
                   const Rows& /*rows*/) {
  constexpr std::array kOutcomes = {Outcome::ok,        Outcome::dns, Outcome::connect,
                                    Outcome::timeout,   Outcome::tls, Outcome::protocol,
                                    Outcome::too_large, Outcome::io,  Outcome::expectation};
  // Only the outcomes that happened, and ok always: 9 series per target would be most of a large
  // scrape, and a failure class a target never had is usually every one but one or two.
  for (const auto outcome : kOutcomes) {
    const auto count = r.totals.of(outcome);
    if (count > 0 || outcome == Outcome::ok)
      out.sample(f, "_total", labels, count, "outcome", results::to_string(outcome));
  }
}
void write_state_changes(Writer& out, const Family& f, const Row& r, std::string_view labels,
                         const Rows& /*rows*/) {
  out.sample(f, "_total", labels, r.totals.state_changes);
}
void write_skipped(Writer& out, const Family& f, const Row& r, std::string_view labels,
                   const Rows& /*rows*/) {
  out.sample(f, "_total", labels, r.totals.skipped);
}
void write_last_fetch(Writer& out, const Family& f, const Row& r, std::string_view labels,
                      const Rows& /*rows*/) {
  if (r.has_result)
    out.sample(f, "", labels, r.started);
}
void write_leaf_expiry(Writer& out, const Family& f, const Row& r, std::string_view labels,
                       const Rows& /*rows*/) {
  if (r.has_tls)
    out.sample(f, "", labels, r.leaf_not_after);
}
void write_histogram(Writer& out, const Family& f, const Row& r, std::string_view labels,
                     const Rows& rows) {
  if (!r.has_histogram)
    return;
  const auto& set = rows.bound_sets[r.bound_set];
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < set.labels.size(); ++i) {
    cumulative += rows.buckets[r.buckets_at + i];
    out.sample(f, "_bucket", labels, cumulative, "le", set.labels[i]);
  }
  out.sample(f, "_bucket", labels, r.histogram_count, "le", "+Inf");
  out.sample(f, "_sum", labels, r.histogram_sum);
  out.sample(f, "_count", labels, r.histogram_count);
}

constexpr std::array<TargetFamily, 23> kTargetFamilies = {{
    // blackbox_exporter's names, types and help texts (docs/metrics.md lists the differences).
    {{"probe_success", Type::gauge, "Displays whether or not the probe was a success"},
     write_success},
    {{"probe_duration_seconds", Type::gauge,
      "Returns how long the probe took to complete in seconds", "seconds"},
     write_duration},
    {{"probe_http_status_code", Type::gauge, "Response HTTP status code"}, write_status_code},
    {{"probe_http_version", Type::gauge, "Returns the version of HTTP of the probe response"},
     write_http_version},
    {{"probe_http_content_length", Type::gauge, "Length of http content response"},
     write_content_length},
    {{"probe_http_uncompressed_body_length", Type::gauge, "Length of uncompressed response body"},
     write_body_length},
    {{"probe_http_redirects", Type::gauge, "The number of redirects"}, write_redirects},
    {{"probe_http_ssl", Type::gauge, "Indicates if SSL was used for the final redirect"},
     write_ssl},
    {{"probe_http_duration_seconds", Type::gauge,
      "Duration of http request by phase, summed over all redirects", "seconds"},
     write_phases},
    {{"probe_ssl_earliest_cert_expiry", Type::gauge, "Returns last SSL chain expiry in unixtime"},
     write_earliest_expiry},
    {{"probe_tls_version_info", Type::gauge, "Returns the TLS version used or NaN when unknown"},
     write_tls_version},
    {{"probe_dns_lookup_time_seconds", Type::gauge,
      "Returns the time taken for probe dns lookup in seconds", "seconds"},
     write_dns_time},
    {{"probe_ip_protocol", Type::gauge, "Specifies whether probe ip protocol is IP4 or IP6"},
     write_ip_protocol},
    {{"probe_failed_due_to_regex", Type::gauge, "Indicates if probe failed due to regex"},
     write_failed_due_to_regex},
    // What only a daemon can say.
    {{"fetchd_target_up", Type::gauge,
      "Flap-controlled state of the target: 1 up, 0 down; absent while unknown"},
     write_up},
    {{"fetchd_target_state_since_timestamp_seconds", Type::gauge,
      "When the target entered its current state (or tracking began, while unknown)", "seconds"},
     write_state_since},
    {{"fetchd_target_fetches", Type::counter, "Completed fetches of the target by outcome"},
     write_fetches},
    {{"fetchd_target_state_changes", Type::counter,
      "Changes of the target's flap-controlled state"},
     write_state_changes},
    {{"fetchd_target_skipped", Type::counter,
      "Scheduled fetches skipped because the previous fetch of the target still ran"},
     write_skipped},
    {{"fetchd_target_last_fetch_timestamp_seconds", Type::gauge,
      "When the latest completed fetch of the target started", "seconds"},
     write_last_fetch},
    {{"fetchd_target_cert_not_after_timestamp_seconds", Type::gauge,
      "notAfter of the leaf certificate the target presented last", "seconds"},
     write_leaf_expiry},
    {{"fetchd_target_earliest_cert_not_after_timestamp_seconds", Type::gauge,
      "Earliest notAfter over the certificate chain the target presented last", "seconds"},
     write_earliest_expiry},
    {{"fetchd_target_duration_seconds", Type::histogram,
      "Total time of the target's fetches (not cancelled ones), redirects included", "seconds"},
     write_histogram},
}};

}  // namespace

Scrape::Scrape(View view, Format format) : view_(std::move(view)), format_(format) {
  for (const auto& [name, value] : view_.settings().instance_labels)
    instance_.add(name, value);
}

Scrape::~Scrape() = default;
Scrape::Scrape(Scrape&&) noexcept = default;

std::optional<std::string> Scrape::next() {
  if (done_)
    return std::nullopt;
  std::string out;
  if (!rows_) {
    // A piece of its own: reading /proc for the process_* families costs a millisecond or two
    // with thousands of descriptors open.
    rows_ = std::make_unique<Rows>();
    rows_->rows.reserve(view_.registry->size());
    daemon_families(out);
    return out;
  }
  if (!copied_) {
    copied_ = copy_rows();
    return out;
  }
  out.reserve(kPieceBytes + 4096);
  visited_ = 0;
  while (out.size() < kPieceBytes && visited_ < kRowsVisitedPerPiece &&
         family_ < kTargetFamilies.size()) {
    if (target_family(out)) {
      ++family_;
      row_ = 0;
    }
  }
  if (family_ >= kTargetFamilies.size()) {
    Writer(format_, out).end();
    done_ = true;
    rows_.reset();
  }
  return out;
}

bool Scrape::copy_rows() {
  const auto& instance_labels = view_.settings().instance_labels;
  Labels scratch;
  std::size_t copied = 0;
  bool complete = true;
  view_.registry->for_each_after(cursor_, [&](const Entry& entry) {
    if (copied == kRowsPerPiece) {
      complete = false;
      return false;
    }
    rows_->add(entry, instance_labels, scratch);
    ++copied;
    cursor_ = entry.name();
    return true;
  });
  return complete;
}

bool Scrape::target_family(std::string& out) {
  const auto& target_family = kTargetFamilies[family_];
  Writer writer(format_, out);
  if (row_ == 0)
    writer.begin(target_family.family);
  const auto& rows = rows_->rows;
  for (; row_ < rows.size(); ++row_, ++visited_) {
    if (out.size() >= kPieceBytes || visited_ >= kRowsVisitedPerPiece)
      return false;
    const auto& row = rows[row_];
    target_family.write(writer, target_family.family, row, rows_->labels_of(row), *rows_);
  }
  return true;
}

void Scrape::daemon_families(std::string& out) {
  Writer writer(format_, out);
  const auto snapshot = view_.snapshot();
  const std::string_view labels = instance_.text();
  const auto gauge = [&](const Family& family, double value) {
    writer.begin(family);
    writer.sample(family, "", labels, value);
  };

  static constexpr Family kBuildInfo{"fetchd_build_info", Type::gauge,
                                     "fetchd's version; the value is 1"};
  writer.begin(kBuildInfo);
  writer.sample(kBuildInfo, "", labels, 1.0, "version", kVersion);

  static constexpr Family kTargets{"fetchd_targets", Type::gauge,
                                   "Targets by state (disabled ones apart)"};
  writer.begin(kTargets);
  const auto& counts = snapshot.targets;
  writer.sample(kTargets, "", labels, static_cast<double>(counts.up), "state", "up");
  writer.sample(kTargets, "", labels, static_cast<double>(counts.down), "state", "down");
  writer.sample(kTargets, "", labels, static_cast<double>(counts.unknown), "state", "unknown");
  writer.sample(kTargets, "", labels, static_cast<double>(counts.disabled), "state", "disabled");

  gauge({"fetchd_fetches_in_flight", Type::gauge, "Fetches running now"},
        static_cast<double>(snapshot.in_flight));
  gauge({"fetchd_max_in_flight", Type::gauge,
         "Fetches allowed at once (max_in_flight, lowered to fit the descriptor limit)"},
        static_cast<double>(snapshot.max_in_flight));
  gauge({"fetchd_loop_lag_seconds", Type::gauge,
         "How late the event loop ran a 100 ms timer, the most over the last 10 s", "seconds"},
        view_.loop_lag_seconds ? view_.loop_lag_seconds() : 0.0);
  const bool reload_ok = !snapshot.last_reload || snapshot.last_reload->ok;
  gauge({"fetchd_config_last_reload_successful", Type::gauge,
         "Whether the last configuration reload succeeded (1 before any reload)"},
        reload_ok ? 1.0 : 0.0);
  // The start counts as the first successful load; a refused reload keeps the previous time.
  auto last_success = snapshot.started;
  if (snapshot.last_reload_success)
    last_success = *snapshot.last_reload_success;
  gauge({"fetchd_config_last_reload_success_timestamp_seconds", Type::gauge,
         "When the configuration was last loaded successfully", "seconds"},
        unix_seconds(last_success));
  gauge({"fetchd_control_clients", Type::gauge, "Connections to the control socket"},
        view_.control_clients ? static_cast<double>(view_.control_clients()) : 0.0);
  if (!snapshot.notification_routes.empty()) {
    static constexpr Family kSent{
        "fetchd_notifications", Type::counter,
        "Notification attempts by route and result: sent, failed (retried), dropped (given up)"};
    static constexpr Family kLastSuccess{
        "fetchd_notification_last_success_timestamp_seconds", Type::gauge,
        "When a notification was last accepted by the route", "seconds"};
    std::vector<Labels> routes;
    for (const auto& route : snapshot.notification_routes) {
      Labels route_labels = instance_;
      route_labels.add("route", route.route);
      route_labels.add("url", route.url);
      routes.push_back(std::move(route_labels));
    }
    writer.begin(kSent);
    for (std::size_t i = 0; i < routes.size(); ++i) {
      const auto& route = snapshot.notification_routes[i];
      writer.sample(kSent, "_total", routes[i].text(), route.sent, "result", "sent");
      writer.sample(kSent, "_total", routes[i].text(), route.failed, "result", "failed");
      writer.sample(kSent, "_total", routes[i].text(), route.dropped, "result", "dropped");
    }
    writer.begin(kLastSuccess);
    for (std::size_t i = 0; i < routes.size(); ++i) {
      if (const auto& last = snapshot.notification_routes[i].last_success)
        writer.sample(kLastSuccess, "", routes[i].text(), unix_seconds(*last));
    }
    gauge({"fetchd_notifications_queued", Type::gauge,
           "Notifications held to be sent: Alertmanager alerts firing or resolved and still sent "
           "again, webhook and command notifications not yet delivered"},
          static_cast<double>(snapshot.notifications_queued));
  }
  if (const auto* cost = view_.last_scrape) {
    gauge({"fetchd_last_scrape_cpu_seconds", Type::gauge,
           "CPU time the daemon spent on the last complete scrape of /metrics", "seconds"},
          cost->cpu_seconds);
    gauge({"fetchd_last_scrape_longest_piece_seconds", Type::gauge,
           "The longest the event loop spent on one piece of the last complete scrape", "seconds"},
          cost->longest_piece_seconds);
  }

  const auto process = process_figures();
  static constexpr Family kCpu{"process_cpu_seconds", Type::counter,
                               "Total user and system CPU time spent in seconds", "seconds"};
  writer.begin(kCpu);
  writer.sample(kCpu, "_total", labels, process.cpu_seconds);
  gauge({"process_resident_memory_bytes", Type::gauge, "Resident memory size in bytes", "bytes"},
        process.resident_bytes);
  gauge({"process_virtual_memory_bytes", Type::gauge, "Virtual memory size in bytes", "bytes"},
        process.virtual_bytes);
  gauge({"process_open_fds", Type::gauge, "Number of open file descriptors"}, process.open_fds);
  gauge({"process_max_fds", Type::gauge, "Maximum number of open file descriptors"},
        process.max_fds);
  gauge({"process_start_time_seconds", Type::gauge,
         "Start time of the process since unix epoch in seconds", "seconds"},
        process.start_time_seconds);
}

double thread_cpu_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

ProcessFigures process_figures() {
  ProcessFigures figures;
  const auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  // The command name (field 2) may hold spaces and parentheses: the fields after it follow the
  // last ')'.
  const auto close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(line.substr(close + 2));
    std::vector<std::string> field;
    for (std::string each; fields >> each;)
      field.push_back(each);
    // field[0] is stat field 3 (state): utime 14, stime 15, starttime 22, vsize 23, rss 24.
    if (field.size() > 21) {
      figures.cpu_seconds = (std::stod(field[11]) + std::stod(field[12])) / ticks;
      figures.virtual_bytes = std::stod(field[20]);
      figures.resident_bytes = std::stod(field[21]) * page;
      std::ifstream uptime_file("/proc/stat");
      for (std::string entry; std::getline(uptime_file, entry);) {
        if (entry.rfind("btime ", 0) == 0) {
          figures.start_time_seconds = std::stod(entry.substr(6)) + std::stod(field[19]) / ticks;
          break;
        }
      }
    }
  }
  if (DIR* fds = ::opendir("/proc/self/fd")) {
    std::size_t count = 0;
    while (const dirent* each = ::readdir(fds)) {
      if (each->d_name[0] != '.')
        ++count;
    }
    ::closedir(fds);
    figures.open_fds = static_cast<double>(count > 0 ? count - 1 : 0);  // not the one reading
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0)
    figures.max_fds = static_cast<double>(limit.rlim_cur);
  return figures;
}

}  // namespace fetchd::metrics
