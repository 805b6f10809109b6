#include "ctl/requests.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "alerts/silences.h"
#include "config/duration.h"
#include "ctl/options.h"

namespace fetchd::ctl {

namespace {

Expected<Request> failed(const ArgCursor& cursor) {
  return Error{cursor.error()};
}

// Reads the one NAME a command takes; `on_option` reads the command's options (true when it took
// one).
template <class OnOption>
Expected<std::string> read_name(ArgCursor& cursor, OnOption&& on_option) {
  std::string name;
  while (cursor.more()) {
    std::string value;
    if (on_option(cursor))
      continue;
    if (cursor.positional(value)) {
      if (!name.empty()) {
        cursor.fail("unexpected argument \"" + value + "\"");
        break;
      }
      name = std::move(value);
    } else {
      cursor.reject_current();
    }
  }
  if (cursor.failed())
    return Error{cursor.error()};
  if (name.empty())
    return Error{"missing NAME"};
  return name;
}

Expected<Request> no_arguments(const Args& args, std::string cmd) {
  ArgCursor cursor(args);
  if (cursor.more())
    cursor.reject_current();
  if (cursor.failed())
    return failed(cursor);
  return Request{.cmd = std::move(cmd)};
}

// "KEY=VALUE" into `into`; the same key twice with different values is a mistake.
bool add_label(ArgCursor& cursor, const std::string& text, nlohmann::json& into) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    cursor.fail("--label \"" + text + "\": expected KEY=VALUE");
    return false;
  }
  const std::string key = text.substr(0, equals);
  const std::string value = text.substr(equals + 1);
  if (into.contains(key) && into[key] != value) {
    cursor.fail("--label " + key + " given twice");
    return false;
  }
  into[key] = value;
  return true;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return std::string(text);
}

// "Name: value" into headers; names compare case-insensitively, as in HTTP.
bool add_header(ArgCursor& cursor, const std::string& text, nlohmann::json& into) {
  const auto colon = text.find(':');
  const std::string name = colon == std::string::npos ? "" : trim(text.substr(0, colon));
  if (name.empty() || name.find_first_of(" \t") != std::string::npos) {
    cursor.fail("--header \"" + text + "\": expected 'NAME: VALUE'");
    return false;
  }
  for (const auto& [existing, value] : into.items()) {
    if (lower(existing) == lower(name)) {
      cursor.fail("--header " + name + " given twice");
      return false;
    }
  }
  into[name] = trim(text.substr(colon + 1));
  return true;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_status_code(std::string_view text) {
  return text.size() == 3 && text[0] >= '1' && text[0] <= '5' && is_digit(text[1]) &&
         is_digit(text[2]);
}

// "200", "2xx", "200-299", or a comma-separated list of them, as expect.status takes them: a code
// is a number, a class or range a string.
// "a, b,c" as {"a", "b", "c"}: the items of an option's comma-separated list, blanks trimmed.
std::vector<std::string> comma_items(std::string_view text) {
  std::vector<std::string> items;
  for (;;) {
    const auto comma = text.find(',');
    items.push_back(trim(text.substr(0, comma)));
    if (comma == std::string_view::npos)
      return items;
    text.remove_prefix(comma + 1);
  }
}

bool add_expect_status(ArgCursor& cursor, const std::string& text, nlohmann::json& into) {
  for (const auto& item : comma_items(text)) {
    const bool is_class =
        item.size() == 3 && item[0] >= '1' && item[0] <= '5' && item.substr(1) == "xx";
    const bool is_range = item.size() == 7 && item[3] == '-' && is_status_code(item.substr(0, 3)) &&
                          is_status_code(item.substr(4));
    if (is_status_code(item)) {
      into.push_back(std::stoi(item));
    } else if (is_class || is_range) {
      into.push_back(item);
    } else {
      cursor.fail("--expect-status \"" + text + "\": expected codes (200), ranges (200-299) or " +
                  "classes (2xx), separated by commas");
      return false;
    }
  }
  return true;
}

bool check_duration(ArgCursor& cursor, std::string_view option, const std::string& text) {
  auto parsed = config::parse_duration(text);
  if (!parsed) {
    // Worded as the configuration's errors are ("expected a duration like ..., found ...").
    cursor.fail(std::string(option) + R"(: expected a duration like "10s", found ")" + text +
                "\": " + parsed.error().message);
    return false;
  }
  return true;
}

}  // namespace

Expected<Request> build_version(const Args& args) {
  return no_arguments(args, "version");
}

Expected<Request> build_commands(const Args& args) {
  return no_arguments(args, "help");
}

Expected<Request> build_status(const Args& args) {
  return no_arguments(args, "status");
}

Expected<Request> build_reload(const Args& args) {
  return no_arguments(args, "reload");
}

Expected<Request> build_list(const Args& args) {
  ArgCursor cursor(args);
  nlohmann::json request_args = nlohmann::json::object();
  nlohmann::json labels = nlohmann::json::object();
  while (cursor.more()) {
    std::string value;
    if (cursor.option("--state", value)) {
      if (value != "up" && value != "down" && value != "unknown") {
        cursor.fail("--state \"" + value + "\": expected up, down or unknown");
      } else {
        request_args["state"] = value;
      }
    } else if (cursor.option("--label", value)) {
      add_label(cursor, value, labels);
    } else {
      cursor.reject_current();
    }
  }
  if (cursor.failed())
    return failed(cursor);
  if (!labels.empty())
    request_args["label"] = std::move(labels);
  Request request{.cmd = "list"};
  if (!request_args.empty())
    request.args = std::move(request_args);
  return request;
}

Expected<Request> build_show(const Args& args) {
  ArgCursor cursor(args);
  std::optional<int> recent;
  auto name = read_name(cursor, [&](ArgCursor& in) {
    std::string value;
    if (!in.option("--recent", value))
      return false;
    // The daemon caps K at the history's length.
    const bool digits =
        !value.empty() && value.size() <= 9 && std::all_of(value.begin(), value.end(), is_digit);
    if (!digits) {
      in.fail("--recent \"" + value + "\": expected a whole number of results");
    } else {
      recent = std::stoi(value);
    }
    return true;
  });
  if (!name)
    return Error{name.error()};
  nlohmann::json request_args = {{"name", *name}};
  if (recent)
    request_args["recent"] = *recent;
  return Request{.cmd = "show", .args = std::move(request_args)};
}

Expected<Request> build_remove(const Args& args) {
  ArgCursor cursor(args);
  auto name = read_name(cursor, [](ArgCursor&) { return false; });
  if (!name)
    return Error{name.error()};
  return Request{.cmd = "remove", .args = {{"name", *name}}};
}

Expected<Request> build_fetch(const Args& args) {
  ArgCursor cursor(args);
  bool wait = false;
  auto name = read_name(cursor, [&](ArgCursor& in) {
    if (!in.flag("--wait"))
      return false;
    wait = true;
    return true;
  });
  if (!name)
    return Error{name.error()};
  Request request{.cmd = "fetch", .args = {{"name", *name}}};
  if (wait) {
    request.args["wait"] = true;
    request.waits_for_fetch = true;
  }
  return request;
}

Expected<Request> build_add(const Args& args) {
  ArgCursor cursor(args);
  std::vector<std::string> positionals;
  std::optional<std::string> json_text;
  nlohmann::json target = nlohmann::json::object();
  nlohmann::json labels = nlohmann::json::object();
  nlohmann::json headers = nlohmann::json::object();
  nlohmann::json statuses = nlohmann::json::array();
  bool options_given = false;
  while (cursor.more()) {
    std::string value;
    if (cursor.option("--json", value)) {
      json_text = std::move(value);
      continue;
    }
    if (cursor.option("--interval", value)) {
      if (check_duration(cursor, "--interval", value))
        target["interval"] = value;
    } else if (cursor.option("--timeout", value)) {
      if (check_duration(cursor, "--timeout", value))
        target["timeout"] = value;
    } else if (cursor.option("--method", value)) {
      std::string upper = value;
      std::transform(upper.begin(), upper.end(), upper.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      if (upper != "GET" && upper != "HEAD") {
        cursor.fail("--method \"" + value + "\": expected GET or HEAD");
      } else {
        target["method"] = upper;
      }
    } else if (cursor.option("--label", value)) {
      add_label(cursor, value, labels);
    } else if (cursor.option("--header", value)) {
      add_header(cursor, value, headers);
    } else if (cursor.flag("--insecure")) {
      target["tls"] = {{"verify", false}};
    } else if (cursor.option("--expect-status", value)) {
      add_expect_status(cursor, value, statuses);
    } else if (cursor.positional(value)) {
      positionals.push_back(std::move(value));
      continue;
    } else {
      cursor.reject_current();
      continue;
    }
    options_given = true;
  }
  if (cursor.failed())
    return failed(cursor);

  if (json_text) {
    if (!positionals.empty() || options_given)
      return Error{"add --json TARGET takes no other arguments (put every setting in TARGET)"};
    auto parsed = nlohmann::json::parse(*json_text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded())
      return Error{"--json: TARGET is not valid JSON"};
    if (!parsed.is_object() && !parsed.is_string())
      return Error{
          R"(--json: TARGET must be an object ({"name": ..., "url": ...}) or a URL string)"};
    return Request{.cmd = "add", .args = {{"target", std::move(parsed)}}};
  }
  if (positionals.size() < 2)
    return Error{positionals.empty() ? "missing NAME and URL" : "missing URL"};
  if (positionals.size() > 2)
    return Error{"unexpected argument \"" + positionals[2] + "\""};
  nlohmann::json full = {{"name", positionals[0]}, {"url", positionals[1]}};
  for (const auto& [key, value] : target.items())
    full[key] = value;
  if (!labels.empty())
    full["labels"] = std::move(labels);
  if (!headers.empty())
    full["headers"] = std::move(headers);
  if (!statuses.empty()) {
    full["expect"] = {{"status", statuses.size() == 1 ? statuses[0] : statuses}};
  }
  return Request{.cmd = "add", .args = {{"target", std::move(full)}}};
}

Expected<Request> build_watch(const Args& args) {
  constexpr std::array<std::string_view, 5> kKinds{"result", "state", "added", "removed", "reload"};
  ArgCursor cursor(args);
  nlohmann::json targets = nlohmann::json::array();
  nlohmann::json labels = nlohmann::json::object();
  nlohmann::json events = nlohmann::json::array();
  while (cursor.more()) {
    std::string value;
    if (cursor.option("--label", value)) {
      add_label(cursor, value, labels);
    } else if (cursor.option("--events", value)) {
      for (const auto& kind : comma_items(value)) {
        if (std::find(kKinds.begin(), kKinds.end(), kind) == kKinds.end()) {
          cursor.fail("--events \"" + value +
                      "\": expected kinds among result, state, added, removed, reload, "
                      "separated by commas");
          break;
        }
        events.push_back(kind);
      }
    } else if (cursor.positional(value)) {
      targets.push_back(value);
    } else {
      cursor.reject_current();
    }
  }
  if (cursor.failed())
    return failed(cursor);
  nlohmann::json request_args = nlohmann::json::object();
  if (!targets.empty())
    request_args["targets"] = std::move(targets);
  if (!labels.empty())
    request_args["label"] = std::move(labels);
  if (!events.empty())
    request_args["events"] = std::move(events);
  Request request{.cmd = "watch", .streams = true};
  if (!request_args.empty())
    request.args = std::move(request_args);
  return request;
}

Expected<Request> build_wait(const Args& args) {
  ArgCursor cursor(args);
  std::string state = "up";
  std::chrono::milliseconds timeout{30'000};
  auto name = read_name(cursor, [&](ArgCursor& in) {
    std::string value;
    if (in.option("--state", value)) {
      if (value != "up" && value != "down" && value != "unknown")
        in.fail("--state \"" + value + "\": expected up, down or unknown");
      state = value;
      return true;
    }
    if (in.option("--timeout", value)) {
      if (check_duration(in, "--timeout", value))
        timeout = *config::parse_duration(value);
      return true;
    }
    return false;
  });
  if (!name)
    return name.error();
  return Request{.cmd = "watch",
                 .args = {{"targets", {*name}}, {"events", {"state"}}},
                 .streams = true,
                 .awaited_state = state,
                 .wait_timeout = timeout};
}

Expected<Request> build_silence(const Args& args) {
  ArgCursor cursor(args);
  std::vector<std::string> names;
  nlohmann::json labels = nlohmann::json::object();
  std::optional<std::string> lasting;
  std::optional<std::string> comment;
  while (cursor.more()) {
    std::string value;
    if (cursor.option("--label", value)) {
      add_label(cursor, value, labels);
    } else if (cursor.option("--for", value)) {
      if (!check_duration(cursor, "--for", value))
        break;
      const auto duration = *config::parse_duration(value);
      if (duration < alerts::kMinSilenceDuration || duration > alerts::kMaxSilenceDuration)
        cursor.fail("--for \"" + value + "\": a silence lasts from 1m to 8760h (a year)");
      lasting = std::move(value);
    } else if (cursor.option("--comment", value)) {
      if (value.size() > alerts::kMaxSilenceCommentBytes)
        cursor.fail("--comment: at most " + std::to_string(alerts::kMaxSilenceCommentBytes) +
                    " bytes");
      comment = std::move(value);
    } else if (cursor.positional(value)) {
      names.push_back(std::move(value));
    } else {
      cursor.reject_current();
    }
  }
  if (cursor.failed())
    return failed(cursor);
  if (names.size() > 1)
    return Error{"unexpected argument \"" + names[1] +
                 "\" (one NAME; --label for several targets)"};
  if (names.empty() && labels.empty())
    return Error{"missing NAME or --label KEY=VALUE"};
  if (!lasting)
    return Error{"missing --for DUR (how long: 1m to 8760h)"};
  nlohmann::json request_args = nlohmann::json::object();
  if (!names.empty())
    request_args["name"] = names[0];
  if (!labels.empty())
    request_args["label"] = std::move(labels);
  request_args["for"] = *lasting;
  if (comment)
    request_args["comment"] = *comment;
  return Request{.cmd = "silence", .args = std::move(request_args)};
}

Expected<Request> build_silences(const Args& args) {
  return no_arguments(args, "silences");
}

Expected<Request> build_unsilence(const Args& args) {
  ArgCursor cursor(args);
  auto id = read_name(cursor, [](ArgCursor&) { return false; });
  if (!id)
    return Error{id.error().message == "missing NAME" ? "missing ID" : id.error().message};
  const bool digits = id->size() <= 18 && std::all_of(id->begin(), id->end(), is_digit);
  if (!digits || std::stoull(*id) == 0)
    return Error{"ID \"" + *id + "\": expected a silence's id (a number; see fetchctl silences)"};
  return Request{.cmd = "unsilence", .args = {{"id", std::stoull(*id)}}};
}

}  // namespace fetchd::ctl
