#include "ctl/render.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>

#include "common/plural.h"
#include "common/version.h"
#include "config/duration.h"
#include "ctl/format.h"

namespace fetchd::ctl {

namespace {

using json = nlohmann::json;

constexpr std::string_view kGreen = "\033[32m";
constexpr std::string_view kRed = "\033[31m";
constexpr std::string_view kYellow = "\033[33m";
constexpr std::string_view kDim = "\033[2m";
constexpr std::size_t kLabelWidth = 13;

// Text from the daemon goes to a terminal: control characters (escape sequences) become "?".
std::string clean(std::string text) {
  for (char& c : text) {
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
      c = '?';
  }
  return text;
}

std::string string_value(const json& value) {
  return clean(value.is_string() ? value.get<std::string>() : value.dump());
}

// Field access that never throws: a missing field, null, or a value of another type is absent.
const json* field(const json& object, std::string_view key) {
  if (!object.is_object())
    return nullptr;
  const auto found = object.find(key);
  if (found == object.end() || found->is_null())
    return nullptr;
  return &*found;
}

std::optional<std::string> string_of(const json& object, std::string_view key) {
  const json* value = field(object, key);
  if (value == nullptr || !value->is_string())
    return std::nullopt;
  return clean(value->get<std::string>());
}

std::string text_of(const json& object, std::string_view key, std::string_view fallback = "-") {
  const json* value = field(object, key);
  if (value == nullptr)
    return std::string(fallback);
  return string_value(*value);
}

std::optional<std::int64_t> integer_of(const json& object, std::string_view key) {
  const json* value = field(object, key);
  if (value == nullptr || !value->is_number_integer())
    return std::nullopt;
  return value->get<std::int64_t>();
}

std::string integer_text(const json& object, std::string_view key) {
  const auto value = integer_of(object, key);
  return value ? std::to_string(*value) : "-";
}

const json& object_of(const json& object, std::string_view key) {
  static const json kEmpty = json::object();
  const json* value = field(object, key);
  return value != nullptr && value->is_object() ? *value : kEmpty;
}

const json& array_of(const json& object, std::string_view key) {
  static const json kEmpty = json::array();
  const json* value = field(object, key);
  return value != nullptr && value->is_array() ? *value : kEmpty;
}

std::string latency_of(const json& object, std::string_view key) {
  const auto micros = integer_of(object, key);
  return micros ? format_latency(*micros) : "-";
}

// "2026-11-25T14:15:48.123Z (12s ago)"; "-" when absent.
std::string time_with_age(const json& object, std::string_view key, const RenderContext& context) {
  const auto text = string_of(object, key);
  if (!text)
    return "-";
  const auto time = parse_time(*text);
  if (!time)
    return *text;
  return *text + " (" + format_relative(*time, context.now) + ")";
}

std::string age_of(const json& object, std::string_view key, const RenderContext& context) {
  const auto text = string_of(object, key);
  if (!text)
    return "-";
  const auto time = parse_time(*text);
  return time ? format_relative(*time, context.now) : *text;
}

void line(std::string& out, std::string_view label, std::string_view value) {
  std::string padded(label);
  if (padded.size() < kLabelWidth)
    padded.resize(kLabelWidth, ' ');
  else
    padded += ' ';
  out += padded;
  out += value;
  out += '\n';
}

std::string_view state_colour(std::string_view state) {
  if (state == "up")
    return kGreen;
  if (state == "down")
    return kRed;
  if (state == "unknown")
    return kYellow;
  return kDim;
}

// The host a hop's header lines are prefixed with, as `fetchd once` does: the URL's host without
// brackets or port.
std::string host_of(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end != std::string_view::npos)
    url.remove_prefix(scheme_end + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (!url.empty() && url.front() == '[') {
    const auto close = url.find(']');
    return std::string(url.substr(1, close == std::string_view::npos ? url.size() - 1 : close - 1));
  }
  return std::string(url.substr(0, url.find(':')));
}

// `fetchd once`'s lines for one hop: "host header > HTTP/1.1 200 OK", then each header.
void hop_lines(std::string& out, const json& hop) {
  const std::string host = host_of(text_of(hop, "url", ""));
  const auto status = integer_of(hop, "status");
  if (!status)
    return;
  std::string status_line =
      "HTTP/" + text_of(hop, "http_version", "1.1") + " " + std::to_string(*status);
  if (const auto reason = string_of(hop, "reason"); reason && !reason->empty())
    status_line += " " + *reason;
  out += host + " header > " + status_line + "\n";
  for (const auto& header : array_of(hop, "headers")) {
    if (header.is_array() && header.size() == 2 && header[0].is_string() && header[1].is_string()) {
      out += host + " header > " + string_value(header[0]) + ": " + string_value(header[1]) + "\n";
    }
  }
}

std::string timings_text(const json& timings) {
  return "dns " + latency_of(timings, "dns") + "  connect " + latency_of(timings, "connect") +
         "  tls " + latency_of(timings, "tls_handshake") + "  first byte " +
         latency_of(timings, "first_byte") + "  total " + latency_of(timings, "total");
}

// A result in full (show's latest, fetch --wait's result): header lines, timings, TLS, error and
// the expectation that failed.
void full_result(std::string& out, const json& full) {
  const json& fetch = object_of(full, "fetch");
  for (const auto& hop : array_of(fetch, "redirects"))
    hop_lines(out, hop);
  hop_lines(out, fetch);
  if (fetch.empty())
    return;
  if (const auto remote = string_of(fetch, "remote_address"); remote && !remote->empty())
    line(out, "remote", *remote);
  line(out, "timings", timings_text(object_of(fetch, "timings_us")));
  if (const auto redirects = array_of(fetch, "redirects").size(); redirects > 0) {
    line(out, "redirects",
         std::to_string(redirects) + " (" + latency_of(fetch, "total_us") + " in all)");
  }
  if (const auto body = integer_of(fetch, "body_bytes")) {
    const json* truncated = field(fetch, "body_truncated");
    line(out, "body",
         plural(*body, "byte") +
             (truncated != nullptr && *truncated == true ? " (truncated: limit reached)" : ""));
  }
  const json& tls = object_of(fetch, "tls");
  if (!tls.empty()) {
    line(out, "tls", text_of(tls, "protocol") + " " + text_of(tls, "cipher"));
    line(out, "  subject", text_of(tls, "subject"));
    line(out, "  issuer", text_of(tls, "issuer"));
    line(out, "  not after", text_of(tls, "not_after"));
    line(out, "  chain", "earliest not after " + text_of(tls, "chain_earliest_not_after"));
  }
  const json& error = object_of(fetch, "error");
  if (!error.empty()) {
    std::string text = text_of(error, "class");
    if (const auto phase = string_of(error, "phase"); phase && !phase->empty() && *phase != text)
      text += " (" + *phase + ")";
    line(out, "error", text + ": " + text_of(error, "message"));
  }
  if (const auto expectation = string_of(full, "failed_expectation"))
    line(out, "expectation", *expectation);
}

std::string full_result_heading(const json& full, const RenderContext& context) {
  const json& fetch = object_of(full, "fetch");
  // The reason names the outcome already: "200 OK", "dns: x.example: Domain name not found".
  const auto reason = string_of(full, "reason");
  return time_with_age(fetch, "started", context) + ": " +
         (reason && !reason->empty() ? *reason : text_of(full, "outcome"));
}

std::string labels_text(const json& labels) {
  std::string text;
  if (!labels.is_object())
    return text;
  for (const auto& [key, value] : labels.items()) {
    if (!text.empty())
      text += ", ";
    text += clean(key) + "=" + string_value(value);
  }
  return text;
}

std::string indent(const std::string& text, std::string_view prefix) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    out += prefix;
    out += text.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  return out;
}

std::string names_text(const json& names) {
  std::string text;
  for (const auto& name : names) {
    if (!text.empty())
      text += ", ";
    text += string_value(name);
  }
  return text;
}

// An uptime ratio as a percentage: "99.95%"; "-" when absent (no attempts).
std::string uptime_of(const json& object, std::string_view key) {
  const json* ratio = field(object, key);
  return ratio != nullptr && ratio->is_number() ? format_uptime(ratio->get<double>()) : "-";
}

// "uptime  1h 100%  24h 99.95%  7d 99.90%  30d -" and the outages of the last 7 days.
void uptime_lines(std::string& out, const json& result) {
  const json& uptime = object_of(result, "uptime");
  if (uptime.empty())
    return;
  std::string windows;
  for (const char* name : {"1h", "24h", "7d", "30d"})
    windows += (windows.empty() ? "" : "  ") + std::string(name) + " " +
               uptime_of(object_of(uptime, name), "ratio");
  line(out, "uptime", windows);
  const json& outages = array_of(result, "outages");
  if (outages.empty()) {
    line(out, "outages", "none in the last 7 days");
    return;
  }
  line(out, "outages", plural(outages.size(), "outage") + " in the last 7 days, oldest first:");
  for (const auto& outage : outages) {
    const auto lasted = integer_of(outage, "duration_us");
    const std::string duration = lasted
                                     ? config::format_for_people(std::chrono::microseconds(*lasted),
                                                                 config::Precision::seconds)
                                     : "-";
    const std::string until =
        field(outage, "to") != nullptr ? text_of(outage, "to") : std::string("still down");
    out.append("  ")
        .append(text_of(outage, "from"))
        .append(" to ")
        .append(until)
        .append(" (")
        .append(duration)
        .append("): ")
        .append(text_of(outage, "reason"))
        .append("\n");
  }
}

// What a silence covers: "web", "env=prod team=core", "web env=prod".
std::string silence_covers(const json& silence) {
  std::string text;
  if (const auto name = string_of(silence, "name"))
    text = *name;
  for (const auto& [key, value] : object_of(silence, "labels").items())
    text += (text.empty() ? "" : " ") + clean(key) + "=" + string_value(value);
  return text.empty() ? "-" : text;
}

// How long until a silence's end: "1h59m" ("0s" once past); "-" when absent.
std::string silence_left(const json& silence, const RenderContext& context) {
  const auto until = string_of(silence, "until");
  const auto time = until ? parse_time(*until) : std::nullopt;
  if (!time)
    return "-";
  return config::format_for_people(
      std::chrono::duration_cast<std::chrono::microseconds>(*time - context.now),
      config::Precision::seconds);
}

// show's line: "until 2026-12-07T12:00:00.000Z (in 2h) by silence 3 (disk swap)".
std::string silenced_text(const json& silence, const RenderContext& context) {
  std::string text = "until " + time_with_age(silence, "until", context) + " by silence " +
                     integer_text(silence, "id");
  if (const auto comment = string_of(silence, "comment"); comment && !comment->empty())
    text += " (" + *comment + ")";
  return text;
}

}  // namespace

std::string render_version(const json& result, const Request&, const RenderContext&) {
  std::string out = "fetchctl " + std::string(kVersion) + "\n";
  out += "fetchd   " + text_of(result, "version") + " (control protocol " +
         integer_text(result, "protocol") + ")\n";
  return out;
}

std::string render_commands(const json& result, const Request&, const RenderContext&) {
  std::vector<std::vector<Cell>> rows;
  for (const auto& command : array_of(result, "commands")) {
    rows.push_back({{text_of(command, "usage", text_of(command, "name"))},
                    {text_of(command, "access")},
                    {text_of(command, "summary", "")}});
  }
  return format_table({{"USAGE"}, {"ACCESS"}, {"SUMMARY"}}, rows);
}

std::string render_status(const json& result, const Request&, const RenderContext& context) {
  std::string out;
  std::string first =
      "fetchd " + text_of(result, "version") + ", pid " + integer_text(result, "pid");
  if (const auto uptime = integer_of(result, "uptime_s"))
    first += ", up " +
             config::format_for_people(std::chrono::seconds(*uptime), config::Precision::seconds);
  if (const auto started = string_of(result, "started"))
    first += " (since " + *started + ")";
  out += first + "\n";

  const json& targets = object_of(result, "targets");
  std::string counts = integer_text(targets, "total") + ": " + integer_text(targets, "up") +
                       " up, " + integer_text(targets, "down") + " down, " +
                       integer_text(targets, "unknown") + " unknown, " +
                       integer_text(targets, "disabled") + " disabled";
  if (const auto runtime = integer_of(targets, "runtime"); runtime && *runtime > 0)
    counts += " (" + std::to_string(*runtime) + " added at runtime)";
  line(out, "targets", counts);

  const json& totals = object_of(result, "totals");
  std::string fetches = integer_text(result, "in_flight") + " in flight (at most " +
                        integer_text(result, "max_in_flight") + ")";
  if (const json* rate = field(result, "fetch_rate_per_s"); rate != nullptr && rate->is_number()) {
    std::array<char, 32> text{};
    std::snprintf(text.data(), text.size(), "%.1f/s", rate->get<double>());
    fetches += ", " + std::string(text.data());
  }
  fetches += ", " + integer_text(totals, "fetches") + " done, " + integer_text(totals, "skipped") +
             " skipped";
  line(out, "fetches", fetches);

  const json& files = array_of(result, "config_files");
  line(out, "config", files.empty() ? "-" : names_text(files));

  if (const json& store = object_of(result, "results_store"); !store.empty()) {
    if (const auto error = string_of(store, "error")) {
      line(out, "results store", "failing: " + *error);
    } else if (const auto bytes = integer_of(store, "disk_bytes")) {
      std::array<char, 32> text{};
      const auto size = static_cast<double>(*bytes);
      if (size < 1e6)
        std::snprintf(text.data(), text.size(), "%.1f kB on disk", size / 1e3);
      else
        std::snprintf(text.data(), text.size(), "%.1f MB on disk", size / 1e6);
      line(out, "results store", text.data());
    }
  }

  if (const json& notifications = object_of(result, "notifications"); !notifications.empty()) {
    const json& routes = array_of(notifications, "routes");
    if (!routes.empty()) {
      std::string text = integer_text(notifications, "queued") + " queued";
      for (const auto& route : routes) {
        text += "; " + string_of(route, "route").value_or("?") + " " + integer_text(route, "sent") +
                " sent";
        if (integer_of(route, "failed").value_or(0) > 0)
          text += ", " + integer_text(route, "failed") + " failed";
        if (integer_of(route, "dropped").value_or(0) > 0)
          text += ", " + integer_text(route, "dropped") + " dropped";
      }
      line(out, "notifications", text);
    }
  }

  const json& reload = object_of(result, "last_reload");
  if (reload.empty()) {
    line(out, "last reload", "none since start");
  } else {
    const json* ok = field(reload, "ok");
    const bool applied = ok != nullptr && *ok == true;
    std::string text =
        std::string(applied ? "applied " : "refused ") + age_of(reload, "at", context);
    // A refused reload's summary says only that; its errors follow.
    if (const auto summary = string_of(reload, "summary");
        applied && summary && !summary->empty()) {
      text += ": " + *summary;
    }
    line(out, "last reload", text);
    for (const auto& error : array_of(reload, "errors"))
      out += "  " + string_value(error) + "\n";
    if (const json& pending = array_of(reload, "pending_restart"); !pending.empty())
      line(out, "needs restart", names_text(pending) + " (changed; the running values are kept)");
  }
  return out;
}

std::string render_list(const json& result, const Request& request, const RenderContext& context) {
  std::vector<const json*> targets;
  for (const auto& target : array_of(result, "targets"))
    targets.push_back(&target);
  if (targets.empty())
    return request.args.is_null() ? "no targets\n" : "no targets match\n";
  std::stable_sort(targets.begin(), targets.end(), [](const json* a, const json* b) {
    return text_of(*a, "name", "") < text_of(*b, "name", "");
  });
  // A column of its own only when some target is silenced: the table stays as narrow as it was.
  const bool any_silenced = std::any_of(targets.begin(), targets.end(), [](const json* target) {
    return !object_of(*target, "silenced").empty();
  });
  std::vector<std::vector<Cell>> rows;
  for (const json* target : targets) {
    std::string state = text_of(*target, "state");
    if (const json* enabled = field(*target, "enabled"); enabled != nullptr && *enabled == false)
      state = "disabled";
    std::string code = integer_text(*target, "status");
    if (code == "-") {
      if (const auto outcome = string_of(*target, "outcome"); outcome && *outcome != "ok")
        code = *outcome;
    }
    rows.push_back({{text_of(*target, "name")},
                    {state, context.colour ? state_colour(state) : std::string_view{}},
                    {code},
                    {latency_of(*target, "latency_us")},
                    {age_of(*target, "checked", context)},
                    {integer_text(*target, "consecutive_failures")},
                    {uptime_of(*target, "uptime_24h")}});
    if (any_silenced) {
      const json& silence = object_of(*target, "silenced");
      rows.back().push_back({silence.empty() ? std::string("-")
                                             : "#" + integer_text(silence, "id") + ", " +
                                                   silence_left(silence, context) + " left"});
    }
  }
  std::vector<Column> columns = {{"NAME"},    {"STATE"},       {"CODE", true},  {"LATENCY", true},
                                 {"CHECKED"}, {"FAILS", true}, {"UPTIME", true}};
  if (any_silenced)
    columns.push_back({"SILENCED"});
  return format_table(columns, rows);
}

std::string render_show(const json& result, const Request&, const RenderContext& context) {
  std::string out;
  const json& target = object_of(result, "target");
  out += text_of(result, "name") + "  " + text_of(target, "url", "") + "\n";
  std::string source = text_of(result, "source");
  if (const auto file = string_of(result, "file"))
    source += ", " + *file;
  line(out, "source", source);
  if (const std::string labels = labels_text(object_of(target, "labels")); !labels.empty())
    line(out, "labels", labels);
  if (const json& silence = object_of(result, "silenced"); !silence.empty())
    line(out, "silenced", silenced_text(silence, context));

  out += "\n";
  const json& latest = object_of(result, "latest");
  if (latest.empty()) {
    line(out, "latest", "not fetched yet");
  } else {
    line(out, "latest", full_result_heading(latest, context));
    full_result(out, latest);
  }
  const json& failure = object_of(result, "latest_failure");
  const json* latest_ok = field(latest, "ok");
  if (!failure.empty() && latest_ok != nullptr && *latest_ok == true)
    line(out, "last failure", full_result_heading(failure, context));

  out += "\n";
  const json& summary = object_of(result, "summary");
  std::string state = text_of(summary, "state");
  if (context.colour)
    state = std::string(state_colour(state)) + state + std::string(kColourReset);
  line(out, "state", state + " since " + time_with_age(summary, "state_since", context));
  line(out, "fails",
       integer_text(summary, "consecutive_failures") + " in a row (down after " +
           integer_text(summary, "down_after") + ", up after " + integer_text(summary, "up_after") +
           ")");
  const json& totals = object_of(summary, "totals");
  line(out, "totals",
       integer_text(totals, "attempts") + " attempts: " + integer_text(totals, "successes") +
           " ok, " + integer_text(totals, "failures") + " failed, " +
           integer_text(totals, "cancelled") + " cancelled, " + integer_text(totals, "skipped") +
           " skipped");
  const json& latency = object_of(summary, "latency_us");
  if (!latency.empty()) {
    line(out, "latency",
         "min " + latency_of(latency, "min") + "  p50 " + latency_of(latency, "p50") + "  p95 " +
             latency_of(latency, "p95") + "  max " + latency_of(latency, "max") + "  (" +
             plural(integer_of(latency, "samples").value_or(0), "sample") + ")");
  }

  uptime_lines(out, result);

  const json& recent = array_of(result, "recent");
  if (!recent.empty()) {
    std::vector<std::vector<Cell>> rows;
    for (const auto& entry : recent) {
      const json& timings = object_of(entry, "timings_us");
      rows.push_back({{text_of(entry, "time")},
                      {age_of(entry, "time", context)},
                      {text_of(entry, "outcome")},
                      {integer_text(entry, "status")},
                      {latency_of(timings, "dns")},
                      {latency_of(timings, "connect")},
                      {latency_of(timings, "tls_handshake")},
                      {latency_of(timings, "first_byte")},
                      {latency_of(timings, "total")}});
    }
    out += "\nrecent results, oldest first:\n";
    out += indent(format_table({{"TIME"},
                                {"AGE"},
                                {"OUTCOME"},
                                {"CODE", true},
                                {"DNS", true},
                                {"CONNECT", true},
                                {"TLS", true},
                                {"FIRST BYTE", true},
                                {"TOTAL", true}},
                               rows),
                  "  ");
  }
  return out;
}

std::string render_add(const json& result, const Request&, const RenderContext&) {
  return "added " + text_of(result, "name") + "\n";
}

std::string render_remove(const json& result, const Request&, const RenderContext&) {
  return "removed " + text_of(result, "name") + "\n";
}

std::string render_fetch(const json& result, const Request& request, const RenderContext& context) {
  const std::string name = text_of(request.args, "name");
  const json& full = object_of(result, "result");
  if (full.empty())
    return "fetch of " + name + " started\n";
  std::string out;
  line(out, name, full_result_heading(full, context));
  full_result(out, full);
  return out;
}

namespace {
// Settings a reload read but cannot apply: said on every reload until the daemon restarts.
void pending_restart(std::string& out, const json& result) {
  if (const json& pending = array_of(result, "pending_restart"); !pending.empty())
    line(out, "  needs restart", names_text(pending) + " (changed; the running values are kept)");
}
}  // namespace

std::string render_reload(const json& result, const Request&, const RenderContext&) {
  const json& added = array_of(result, "added");
  const json& removed = array_of(result, "removed");
  const json& changed = array_of(result, "changed");
  const std::string unchanged = integer_text(result, "unchanged");
  if (added.empty() && removed.empty() && changed.empty()) {
    std::string out = "reloaded: no changes (" + unchanged + " unchanged)\n";
    pending_restart(out, result);
    return out;
  }
  std::string out = "reloaded: " + std::to_string(added.size()) + " added, " +
                    std::to_string(removed.size()) + " removed, " + std::to_string(changed.size()) +
                    " changed, " + unchanged + " unchanged\n";
  if (!added.empty())
    line(out, "  added", names_text(added));
  if (!removed.empty())
    line(out, "  removed", names_text(removed));
  if (!changed.empty())
    line(out, "  changed", names_text(changed));
  pending_restart(out, result);
  return out;
}

std::string render_silence(const json& result, const Request&, const RenderContext& context) {
  const json& silence = object_of(result, "silence");
  std::string out = "silence " + integer_text(silence, "id") + ": " + silence_covers(silence) +
                    " until " + time_with_age(silence, "until", context) + "\n";
  // A silence by labels may cover nothing yet, or far more than meant: say how many.
  if (!object_of(silence, "labels").empty()) {
    const auto matching = integer_of(result, "matching");
    if (matching && *matching == 0)
      out += "  no target has these labels now (targets added with them later are silenced)\n";
    else if (matching)
      out += "  covers " + plural(*matching, "target") + " now\n";
  }
  return out;
}

std::string render_silences(const json& result, const Request&, const RenderContext& context) {
  const json& silences = array_of(result, "silences");
  if (silences.empty())
    return "no silences\n";
  std::vector<std::vector<Cell>> rows;
  for (const auto& silence : silences) {
    rows.push_back({{integer_text(silence, "id")},
                    {silence_covers(silence)},
                    {text_of(silence, "until")},
                    {silence_left(silence, context)},
                    {text_of(silence, "comment", "")}});
  }
  return format_table({{"ID", true}, {"COVERS"}, {"UNTIL"}, {"LEFT", true}, {"COMMENT"}}, rows);
}

std::string render_unsilence(const json& result, const Request&, const RenderContext&) {
  const json& silence = object_of(result, "silence");
  return "lifted silence " + integer_text(silence, "id") + " (" + silence_covers(silence) + ")\n";
}

std::string render_event(const json& event, const RenderContext& context) {
  const std::string kind = text_of(event, "event");
  // The time of day of the daemon's UTC time: "12:00:01.204".
  const std::string time = text_of(event, "time");
  std::string out = time.size() >= 23 ? time.substr(11, 12) : time;
  // "UP", coloured as list colours "up".
  const auto with_state = [&](std::string_view key) {
    const std::string state = text_of(event, key);
    std::string shown = state;
    std::transform(shown.begin(), shown.end(), shown.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (!context.colour)
      return shown;
    return std::string(state_colour(state)) + shown + std::string(kColourReset);
  };
  if (kind == "result" || kind == "state") {
    out += " " + text_of(event, "target") + " " + with_state("state") + " ";
    if (text_of(event, "outcome") == "ok")
      out += integer_text(event, "status") + " " + latency_of(event, "total_us");
    else
      out += text_of(event, "reason");
    if (kind == "state") {
      const auto lasted = integer_of(event, "from_lasted_us");
      out += " (was " + with_state("from") +
             (lasted ? " " + config::format_for_people(std::chrono::microseconds(*lasted),
                                                       config::Precision::seconds)
                     : std::string()) +
             (field(event, "from_reason") != nullptr ? ": " + text_of(event, "from_reason") : "") +
             ")";
    }
  } else if (kind == "added") {
    out += " " + text_of(event, "target") + " added (" + text_of(event, "state") +
           (field(event, "enabled") != nullptr && *field(event, "enabled") == false ? ", disabled"
                                                                                    : "") +
           ")";
  } else if (kind == "removed") {
    out += " " + text_of(event, "target") + " removed";
  } else if (kind == "reload") {
    // A refusal lists every error, one per line: the first stands for them here.
    const json* summary = field(event, "summary");
    const std::string text =
        summary != nullptr && summary->is_string() ? summary->get<std::string>() : std::string("-");
    const json* ok = field(event, "ok");
    out += " reload" + std::string(ok != nullptr && *ok == false ? " " : ": ") +
           clean(text.substr(0, text.find('\n')));
  } else if (kind == "dropped") {
    out += " dropped " + integer_text(event, "count") +
           " events here: fetchctl did not read them fast enough";
  } else {
    out += " " + kind + " " + clean(event.dump());
  }
  return out + "\n";
}

std::string render_error(const json& error) {
  std::string out = "fetchctl: " + text_of(error, "code", "error") + ": " +
                    text_of(error, "message", "(no message)") + "\n";
  for (const auto& detail : array_of(error, "details"))
    out += "  " + string_value(detail) + "\n";
  return out;
}

}  // namespace fetchd::ctl
