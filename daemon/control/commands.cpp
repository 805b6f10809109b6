#include "control/commands.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <unistd.h>

#include "common/version.h"
#include "config/config.h"
#include "config/duration.h"
#include "control/filters.h"
#include "http/fetch_json.h"
#include "results/results_json.h"

namespace fetchd::control {

namespace {

using nlohmann::json;

constexpr std::size_t kDefaultRecent = 10;

Outcome bad_args(std::string message) {
  return Outcome::fail(code::bad_request, std::move(message));
}

std::string quote_text(std::string_view text) {
  return dump(json(std::string(text)));
}

// args.name: required, a string. Nullopt after responding with the failure.
std::optional<std::string> name_arg(const json& args, const Respond& respond) {
  const auto name = args.find("name");
  if (name == args.end()) {
    respond(bad_args("missing \"name\""));
    return std::nullopt;
  }
  if (!name->is_string()) {
    respond(bad_args("\"name\" must be a string, found " + dump(*name)));
    return std::nullopt;
  }
  return name->get<std::string>();
}

Outcome no_target(const std::string& name) {
  return Outcome::fail(code::not_found, "no target named " + quote_text(name));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    if (end > start)
      lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// "source" and "file" of a target, as list and show give them.
void add_source(json& reply, const TargetView& target) {
  reply["source"] = target.runtime ? "runtime" : "config";
  reply["file"] = target.runtime ? json(nullptr) : json(target.config.source_file);
}

// Settings only a restart applies, when a reload read any: absent otherwise, so the reply stays
// as it was for clients that predate it.
void add_pending_restart(json& reply, const status::ReloadReport& report) {
  if (!report.pending_restart.empty())
    reply["pending_restart"] = report.pending_restart;
}

json last_reload_json(const status::ReloadReport& report) {
  json reply = {{"ok", report.ok},
                {"at", http::format_utc(report.at)},
                {"summary", report.ok ? report.summary() : "refused"},
                {"errors", lines_of(report.errors)}};
  add_pending_restart(reply, report);
  return reply;
}

json notifications_json(const status::Snapshot& snapshot) {
  json routes = json::array();
  for (const auto& route : snapshot.notification_routes) {
    routes.push_back(
        {{"route", route.route},
         {"url", route.url},
         {"sent", route.sent},
         {"failed", route.failed},
         {"dropped", route.dropped},
         {"last_success",
          route.last_success ? json(http::format_utc(*route.last_success)) : json(nullptr)}});
  }
  return {{"queued", snapshot.notifications_queued}, {"routes", std::move(routes)}};
}

json status_json(const status::Snapshot& snapshot) {
  const auto& counts = snapshot.targets;
  return {
      {"version", snapshot.version},
      {"pid", snapshot.pid},
      {"started", http::format_utc(snapshot.started)},
      {"uptime_s", snapshot.uptime_s()},
      {"config_files", snapshot.config_files},
      {"last_reload",
       snapshot.last_reload ? last_reload_json(*snapshot.last_reload) : json(nullptr)},
      {"targets",
       {{"total", counts.total},
        {"up", counts.up},
        {"down", counts.down},
        {"unknown", counts.unknown},
        {"disabled", counts.disabled},
        {"runtime", counts.runtime}}},
      {"in_flight", snapshot.in_flight},
      {"slow_in_flight", snapshot.slow_in_flight},
      {"schedule_lateness_us",
       {{"p50", snapshot.lateness.p50_us},
        {"p99", snapshot.lateness.p99_us},
        {"max", snapshot.lateness.max_us}}},
      {"max_in_flight", snapshot.max_in_flight},
      {"totals", {{"fetches", snapshot.fetches}, {"skipped", snapshot.skipped}}},
      {"fetch_rate_per_s", std::round(snapshot.fetch_rate_per_s * 100.0) / 100.0},
      {"results_store",
       {{"disk_bytes", snapshot.results_store_bytes},
        {"error",
         snapshot.results_store_error ? json(*snapshot.results_store_error) : json(nullptr)}}},
      {"notifications", notifications_json(snapshot)},
  };
}

std::string_view code_of(AddRefused reason) {
  switch (reason) {
    case AddRefused::invalid_target:
      return code::invalid_target;
    case AddRefused::conflict:
      return code::conflict;
    case AddRefused::other_shard:
      return code::other_shard;
    case AddRefused::io_error:
      break;
  }
  return code::io_error;
}

std::string_view code_of(RemoveRefused reason) {
  switch (reason) {
    case RemoveRefused::not_found:
      return code::not_found;
    case RemoveRefused::config_target:
      return code::config_target;
    case RemoveRefused::io_error:
      break;
  }
  return code::io_error;
}

std::string_view code_of(SilenceRefused reason) {
  switch (reason) {
    case SilenceRefused::invalid:
      return code::bad_request;
    case SilenceRefused::full:
      return code::limit_exceeded;
    case SilenceRefused::io_error:
      break;
  }
  return code::io_error;
}

std::string_view code_of(UnsilenceRefused reason) {
  return reason == UnsilenceRefused::not_found ? code::not_found : code::io_error;
}

// A silence as `silence`, `silences`, `unsilence` and `show` give it.
json silence_json(const alerts::Silence& silence) {
  return {{"id", silence.id},
          {"name", silence.name ? json(*silence.name) : json(nullptr)},
          {"labels", silence.labels},
          {"created", http::format_utc(silence.created)},
          {"until", http::format_utc(silence.until)},
          {"comment", silence.comment}};
}

// ---- handlers ----------------------------------------------------------------------------------

void version(const json&, Context&, const Respond& respond) {
  respond(Outcome::ok({{"version", kVersion}, {"protocol", kProtocolVersion}}));
}

void help(const json&, Context&, const Respond& respond) {
  json list = json::array();
  for (const auto& command : commands()) {
    list.push_back({{"name", command.name},
                    {"usage", command.usage},
                    {"access", to_string(command.access)},
                    {"summary", command.summary}});
  }
  respond(Outcome::ok({{"commands", std::move(list)}}));
}

void status(const json&, Context& context, const Respond& respond) {
  respond(Outcome::ok(status_json(context.backend.snapshot())));
}

void list(const json& args, Context& context, const Respond& respond) {
  std::optional<results::State> state;
  if (const auto wanted = args.find("state"); wanted != args.end()) {
    if (wanted->is_string())
      state = results::parse_state(wanted->get<std::string>());
    if (!state) {
      return respond(
          bad_args(R"("state" must be "up", "down" or "unknown", found )" + dump(*wanted)));
    }
  }
  LabelFilter labels;
  if (const auto wanted = args.find("label"); wanted != args.end()) {
    auto parsed = parse_label_filter(*wanted);
    if (!parsed)
      return respond(bad_args(parsed.error().message));
    labels = std::move(*parsed);
  }
  json targets = json::array();
  const auto now = std::chrono::system_clock::now();
  const auto& kept_silences = context.backend.silences();
  context.backend.for_each_target([&](const TargetView& target) {
    const auto& config = target.config;
    if ((state && target.results.state() != *state) || !matches(labels, config.labels))
      return;
    const auto summary = target.results.summary();
    const auto* last = summary.last ? &*summary.last : nullptr;
    const auto uptime = target.results.uptime().over(std::chrono::hours(24), now).ratio();
    json entry = {
        {"name", config.name},
        {"url", config.fetch.url.to_string()},
        {"state", std::string(results::to_string(summary.state))},
        {"since", http::format_utc(summary.state_since)},
        {"enabled", config.enabled},
        {"labels", config.labels},
        {"status", last != nullptr && last->status != 0 ? json(last->status) : json(nullptr)},
        {"outcome",
         last != nullptr ? json(std::string(results::to_string(last->outcome))) : json(nullptr)},
        {"latency_us", last != nullptr && last->total_us != results::CompactEntry::kAbsent
                           ? json(last->total_us)
                           : json(nullptr)},
        {"checked", last != nullptr ? json(http::format_utc(last->time())) : json(nullptr)},
        {"consecutive_failures", summary.consecutive_failures},
        {"uptime_24h", uptime ? json(*uptime) : json(nullptr)},
    };
    const auto* covering = kept_silences.covering(config.name, config.labels, now);
    entry["silenced"] =
        covering == nullptr
            ? json(nullptr)
            : json({{"id", covering->id}, {"until", http::format_utc(covering->until)}});
    add_source(entry, target);
    targets.push_back(std::move(entry));
  });
  respond(Outcome::ok({{"targets", std::move(targets)}}));
}

void show(const json& args, Context& context, const Respond& respond) {
  const auto name = name_arg(args, respond);
  if (!name)
    return;
  std::size_t recent = kDefaultRecent;
  if (const auto wanted = args.find("recent"); wanted != args.end()) {
    if (!wanted->is_number_integer() || wanted->get<std::int64_t>() < 0) {
      return respond(
          bad_args("\"recent\" must be an integer of at least 0, found " + dump(*wanted)));
    }
    recent = static_cast<std::size_t>(
        std::min<std::uint64_t>(wanted->get<std::uint64_t>(), std::size_t{1} << 20));
  }
  const auto target = context.backend.find_target(*name);
  if (!target)
    return respond(no_target(*name));
  json reply = {{"name", *name}};
  add_source(reply, *target);
  reply["target"] = config::to_json(target->config);
  reply.update(results::to_json(target->results, recent));
  const auto now = std::chrono::system_clock::now();
  reply.update(results::uptime_json(target->results.uptime(), now));
  const auto* covering =
      context.backend.silences().covering(target->config.name, target->config.labels, now);
  reply["silenced"] = covering == nullptr ? json(nullptr) : silence_json(*covering);
  respond(Outcome::ok(std::move(reply)));
}

void add(const json& args, Context& context, const Respond& respond) {
  const auto target = args.find("target");
  if (target == args.end())
    return respond(bad_args("missing \"target\" (a target object or URL string)"));
  auto added = context.backend.add_target(*target);
  if (!added)
    return respond(Outcome::fail(code_of(added.error().reason), added.error().message));
  respond(Outcome::ok({{"name", *added}}));
}

void remove(const json& args, Context& context, const Respond& respond) {
  const auto name = name_arg(args, respond);
  if (!name)
    return;
  if (auto refusal = context.backend.remove_target(*name))
    return respond(Outcome::fail(code_of(refusal->reason), refusal->message));
  respond(Outcome::ok({{"name", *name}}));
}

void fetch(const json& args, Context& context, const Respond& respond) {
  const auto name = name_arg(args, respond);
  if (!name)
    return;
  bool wait = false;
  if (const auto wanted = args.find("wait"); wanted != args.end()) {
    if (!wanted->is_boolean())
      return respond(bad_args("\"wait\" must be true or false, found " + dump(*wanted)));
    wait = wanted->get<bool>();
  }
  FetchDone done;
  if (wait) {
    done = [respond, name = *name](const std::shared_ptr<const results::FullResult>& full) {
      if (!full) {
        return respond(Outcome::fail(code::cancelled,
                                     "the fetch of " + quote_text(name) +
                                         " was cancelled: the target was removed or changed, or "
                                         "fetchd is stopping"));
      }
      respond(Outcome::ok({{"result", results::to_json(*full)}}));
    };
  }
  switch (context.backend.fetch_now(*name, std::move(done))) {
    case FetchNow::started:
      if (!wait)
        respond(Outcome::ok({{"started", true}}));
      return;
    case FetchNow::busy:
      return respond(
          Outcome::fail(code::busy, "a fetch of " + quote_text(*name) + " is already running"));
    case FetchNow::disabled:
      return respond(
          Outcome::fail(code::disabled, quote_text(*name) + " is disabled (enabled: false)"));
    case FetchNow::not_found:
      return respond(no_target(*name));
  }
}

void reload(const json&, Context& context, const Respond& respond) {
  context.backend.reload([respond](const status::ReloadReport& report) {
    if (!report.ok) {
      return respond(Outcome::fail(code::config_invalid,
                                   "the configuration is invalid; the running one is kept",
                                   lines_of(report.errors)));
    }
    json reply = {{"added", report.added},
                  {"removed", report.removed},
                  {"changed", report.changed},
                  {"unchanged", report.unchanged}};
    add_pending_restart(reply, report);
    respond(Outcome::ok(std::move(reply)));
  });
}

// args: "name" and/or "label" (what it silences), "for" (a duration), "comment" (optional).
void silence(const json& args, Context& context, const Respond& respond) {
  alerts::Silence wanted;
  if (const auto name = args.find("name"); name != args.end()) {
    if (!name->is_string())
      return respond(bad_args("\"name\" must be a string, found " + dump(*name)));
    wanted.name = name->get<std::string>();
  }
  if (const auto label = args.find("label"); label != args.end()) {
    auto labels = parse_label_filter(*label);
    if (!labels)
      return respond(bad_args(labels.error().message));
    wanted.labels = std::move(*labels);
  }
  if (!wanted.name && wanted.labels.empty()) {
    return respond(bad_args(
        R"(give "name" (a target) or "label" (labels every target silenced carries), or both)"));
  }
  const auto lasting = args.find("for");
  if (lasting == args.end())
    return respond(bad_args(R"(missing "for" (how long: a duration from "1m" to "8760h"))"));
  if (!lasting->is_string())
    return respond(bad_args(R"("for" must be a duration string ("2h"), found )" + dump(*lasting)));
  const auto duration = config::parse_duration(lasting->get<std::string>());
  if (!duration)
    return respond(bad_args("\"for\": " + duration.error().message));
  if (*duration < alerts::kMinSilenceDuration || *duration > alerts::kMaxSilenceDuration) {
    return respond(bad_args("\"for\" must be from 1m to 8760h (a year), found " + dump(*lasting)));
  }
  if (const auto comment = args.find("comment"); comment != args.end()) {
    if (!comment->is_string())
      return respond(bad_args("\"comment\" must be a string, found " + dump(*comment)));
    wanted.comment = comment->get<std::string>();
  }
  // A name is most often typed by hand: one that is no target is a mistake to point out, not a
  // silence to keep. Targets not there yet are silenced by their labels.
  std::optional<bool> covers_named;  // whether it covers the target it names (by its labels too)
  if (wanted.name) {
    const auto named = context.backend.find_target(*wanted.name);
    if (!named) {
      return respond(Outcome::fail(code::not_found,
                                   "no target named " + quote_text(*wanted.name) +
                                       " (to silence targets before they exist, use labels)"));
    }
    covers_named = wanted.covers(named->config.name, named->config.labels);
  }
  wanted.created = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  wanted.until = wanted.created + *duration;
  if (auto problem = alerts::check_silence(wanted))
    return respond(bad_args(std::move(*problem)));
  auto kept = context.backend.add_silence(std::move(wanted));
  if (!kept)
    return respond(Outcome::fail(code_of(kept.error().reason), kept.error().message));
  // How many targets it covers now: a label silence that covers none may hold a typo.
  std::size_t matching = 0;
  if (covers_named) {
    matching = *covers_named ? 1 : 0;
  } else {
    context.backend.for_each_target([&](const TargetView& target) {
      matching += kept->covers(target.config.name, target.config.labels) ? 1 : 0;
    });
  }
  respond(Outcome::ok({{"silence", silence_json(*kept)}, {"matching", matching}}));
}

void silences(const json&, Context& context, const Respond& respond) {
  const auto now = std::chrono::system_clock::now();
  json list = json::array();
  for (const auto& silence : context.backend.silences().all()) {
    if (silence.active(now))
      list.push_back(silence_json(silence));
  }
  respond(Outcome::ok({{"silences", std::move(list)}}));
}

void unsilence(const json& args, Context& context, const Respond& respond) {
  const auto id = args.find("id");
  if (id == args.end())
    return respond(bad_args(R"(missing "id" (a silence's id, see "silences"))"));
  // A JSON number read from text is unsigned when it is not negative.
  if (!id->is_number_integer() || (!id->is_number_unsigned() && id->get<std::int64_t>() < 0))
    return respond(bad_args("\"id\" must be a silence's id (an integer), found " + dump(*id)));
  auto lifted = context.backend.remove_silence(id->get<std::uint64_t>());
  if (!lifted)
    return respond(Outcome::fail(code_of(lifted.error().reason), lifted.error().message));
  respond(Outcome::ok({{"silence", silence_json(*lifted)}}));
}

void watch(const json& args, Context& context, const Respond& respond) {
  auto filter = parse_watch_filter(args);
  if (!filter)
    return respond(bad_args(filter.error().message));
  if (!context.watch)
    return respond(Outcome::fail(code::bad_request, "watch needs a connection to stream on"));
  respond(Outcome::ok(context.watch(std::move(*filter))));
}

// ---- the table ---------------------------------------------------------------------------------

constexpr std::array<std::string_view, 0> kNoKeys{};
constexpr std::array<std::string_view, 2> kListKeys{"state", "label"};
constexpr std::array<std::string_view, 2> kShowKeys{"name", "recent"};
constexpr std::array<std::string_view, 1> kAddKeys{"target"};
constexpr std::array<std::string_view, 1> kNameKeys{"name"};
constexpr std::array<std::string_view, 2> kFetchKeys{"name", "wait"};
constexpr std::array<std::string_view, 3> kWatchKeys{"targets", "label", "events"};
constexpr std::array<std::string_view, 4> kSilenceKeys{"name", "label", "for", "comment"};
constexpr std::array<std::string_view, 1> kUnsilenceKeys{"id"};

constexpr std::array kCommands = {
    Command{"version", "version", "the daemon's and the protocol's versions", Access::read, kNoKeys,
            version},
    Command{"help", "help", "the commands, their usage and access", Access::read, kNoKeys, help},
    Command{"status", "status",
            "uptime, configuration files, last reload, targets by state, in-flight fetches, rate",
            Access::read, kNoKeys, status},
    Command{"list", "list [state STATE] [label KEY=VALUE]...",
            "every target with its summary, sorted by name; filters by state and labels",
            Access::read, kListKeys, list},
    Command{"show", "show NAME [recent K]",
            "one target: settings, summary, latest result and failure in full, last K results",
            Access::read, kShowKeys, show},
    Command{"add", "add TARGET",
            "add a runtime target (a configuration target object or URL), persisted", Access::admin,
            kAddKeys, add},
    Command{"remove", "remove NAME", "remove a runtime target", Access::admin, kNameKeys, remove},
    Command{"fetch", "fetch NAME [wait]", "fetch a target now; with wait, reply with the result",
            Access::admin, kFetchKeys, fetch},
    Command{"reload", "reload",
            "re-read the configuration (as SIGHUP); reply once applied or refused", Access::admin,
            kNoKeys, reload},
    Command{"watch", "watch [targets NAME...] [label KEY=VALUE]... [events KIND...]",
            "turn the connection into a stream of events: results, state changes, targets added "
            "and removed, reloads",
            Access::read, kWatchKeys, watch},
    Command{"silence", "silence [NAME] [label KEY=VALUE]... for DURATION [comment TEXT]",
            "suppress the notifications about a target, or the targets with these labels, for a "
            "while (1m to 8760h), persisted; fetching goes on",
            Access::admin, kSilenceKeys, silence},
    Command{"silences", "silences", "the silences in effect, with their ids", Access::read, kNoKeys,
            silences},
    Command{"unsilence", "unsilence ID", "lift a silence now", Access::admin, kUnsilenceKeys,
            unsilence},
};

}  // namespace

std::string_view to_string(Access access) {
  return access == Access::admin ? "admin" : "read";
}

std::span<const Command> commands() {
  return kCommands;
}

const Command* find_command(std::string_view name) {
  const auto* const found =
      std::find_if(kCommands.begin(), kCommands.end(),
                   [&](const Command& command) { return command.name == name; });
  return found == kCommands.end() ? nullptr : &*found;
}

void dispatch(const Request& request, Context& context, const Respond& respond) {
  const Command* command = find_command(request.cmd);
  if (command == nullptr) {
    return respond(Outcome::fail(code::unknown_command,
                                 "no command " + quote_text(request.cmd) + " (see \"help\")"));
  }
  if (command->access == Access::admin && !context.admin) {
    return respond(Outcome::fail(
        code::permission_denied,
        quote_text(command->name) +
            " changes the daemon: only root, fetchd's own user and the admin group may run it"));
  }
  for (const auto& [key, value] : request.args.items()) {
    if (std::find(command->keys.begin(), command->keys.end(), key) == command->keys.end()) {
      std::string known;
      for (const auto name : command->keys)
        known += (known.empty() ? "" : ", ") + std::string(name);
      return respond(bad_args("unknown key " + quote_text(key) + " in args of " +
                              quote_text(command->name) +
                              (known.empty() ? " (it takes none)" : " (expected " + known + ")")));
    }
  }
  command->handler(request.args, context, respond);
}

}  // namespace fetchd::control
