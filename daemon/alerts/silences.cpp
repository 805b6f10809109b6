#include "alerts/silences.h"

#include <algorithm>
#include <utility>

#include "common/quote.h"
#include "config/labels.h"

namespace fetchd::alerts {

namespace {

using nlohmann::json;
using std::chrono::system_clock;

// Times in the document: milliseconds since the epoch, from 1970 to 2191 (system_clock counts
// nanoseconds in 64 bits up to 2262; a year's silence from the bound still fits).
constexpr std::int64_t kLatestSilenceMs = 7'000'000'000'000;

std::int64_t silence_ms(system_clock::time_point time) {
  return std::chrono::floor<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

// "/silences/2/until_ms: message"
Error silence_document_error(const json::json_pointer& at, std::string_view message) {
  return Error{at.to_string() + ": " + std::string(message)};
}

// An integer of at least 1 (a JSON number read from text is unsigned; one built in code may not
// be).
std::optional<std::uint64_t> silence_positive(const json& value) {
  if (value.is_number_unsigned())
    return value.get<std::uint64_t>() >= 1 ? std::optional(value.get<std::uint64_t>())
                                           : std::nullopt;
  if (value.is_number_integer() && value.get<std::int64_t>() >= 1)
    return static_cast<std::uint64_t>(value.get<std::int64_t>());
  return std::nullopt;
}

bool silence_less(const Silence& silence, std::uint64_t id) {
  return silence.id < id;
}

// One silence of the document. Keys: id, name (string or null), labels (object of strings),
// created_ms, until_ms, comment; any other is an error.
Expected<Silence> silence_from_json(const json& item, const json::json_pointer& at) {
  if (!item.is_object())
    return silence_document_error(
        at, std::string("expected a silence object, found ") + item.type_name());
  Silence silence;
  for (const auto& [key, value] : item.items()) {
    const auto here = at / key;
    if (key == "id") {
      if (!value.is_number_unsigned() || value.get<std::uint64_t>() == 0)
        return silence_document_error(here,
                                      "expected an integer of at least 1, found " + value.dump());
      silence.id = value.get<std::uint64_t>();
    } else if (key == "name") {
      if (value.is_null())
        continue;
      if (!value.is_string())
        return silence_document_error(
            here, std::string("expected a string or null, found ") + value.type_name());
      silence.name = value.get<std::string>();
    } else if (key == "labels") {
      if (!value.is_object())
        return silence_document_error(
            here, std::string("expected an object, found ") + value.type_name());
      for (const auto& [label, label_value] : value.items()) {
        if (!label_value.is_string())
          return silence_document_error(
              here / label, std::string("expected a string, found ") + label_value.type_name());
        silence.labels.emplace(label, label_value.get<std::string>());
      }
    } else if (key == "created_ms" || key == "until_ms") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
          value.get<std::int64_t>() > kLatestSilenceMs)
        return silence_document_error(
            here, "expected milliseconds since 1970 (an integer from 0 to " +
                      std::to_string(kLatestSilenceMs) + "), found " + value.dump());
      const auto time =
          system_clock::time_point(std::chrono::milliseconds(value.get<std::int64_t>()));
      (key == "created_ms" ? silence.created : silence.until) = time;
    } else if (key == "comment") {
      if (!value.is_string())
        return silence_document_error(here,
                                      std::string("expected a string, found ") + value.type_name());
      silence.comment = value.get<std::string>();
    } else {
      return silence_document_error(here, "unknown key");
    }
  }
  for (const char* key : {"id", "created_ms", "until_ms"}) {
    if (!item.contains(key))
      return silence_document_error(at / key, "missing");
  }
  if (auto problem = check_silence(silence))
    return silence_document_error(at, *problem);
  return silence;
}

}  // namespace

bool Silence::covers(std::string_view target,
                     const std::map<std::string, std::string>& target_labels) const {
  if (name && *name != target)
    return false;
  return std::all_of(labels.begin(), labels.end(), [&target_labels](const auto& label) {
    const auto found = target_labels.find(label.first);
    return found != target_labels.end() && found->second == label.second;
  });
}

std::string describe_matchers(const Silence& silence) {
  std::string text;
  if (silence.name)
    text = "name " + quote(*silence.name);
  if (!silence.labels.empty()) {
    text += text.empty() ? "" : ", ";
    text += silence.labels.size() == 1 ? "label " : "labels ";
    bool first = true;
    for (const auto& [key, value] : silence.labels) {
      text.append(first ? "" : ", ").append(key).append("=").append(value);
      first = false;
    }
  }
  return text;
}

std::optional<std::string> check_silence(const Silence& silence) {
  if (!silence.name && silence.labels.empty())
    return "a silence needs a target name or labels";
  if (silence.name && (silence.name->empty() || silence.name->size() > kMaxSilenceNameBytes))
    return "the target name must be 1 to " + std::to_string(kMaxSilenceNameBytes) + " bytes";
  if (silence.labels.size() > kMaxSilenceLabels)
    return "at most " + std::to_string(kMaxSilenceLabels) + " labels, found " +
           std::to_string(silence.labels.size());
  for (const auto& [key, value] : silence.labels) {
    if (!config::is_label_name(key))
      return "label " + quote(key) +
             " is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, at most 64 bytes, not starting "
             "with \"__\")";
    if (value.size() > kMaxSilenceLabelValueBytes)
      return "the value of label " + key + " is longer than " +
             std::to_string(kMaxSilenceLabelValueBytes) + " bytes";
  }
  if (silence.comment.size() > kMaxSilenceCommentBytes)
    return "the comment is longer than " + std::to_string(kMaxSilenceCommentBytes) + " bytes";
  const auto lasts = silence.until - silence.created;
  if (lasts < kMinSilenceDuration || lasts > kMaxSilenceDuration)
    return "a silence lasts from 1 minute to 1 year (8760h)";
  return std::nullopt;
}

Expected<std::uint64_t> Silences::add(Silence silence) {
  if (auto problem = check_silence(silence))
    return Error{std::move(*problem)};
  if (full())
    return Error{"at most " + std::to_string(kMaxSilences) + " silences are kept"};
  silence.id = next_id_++;
  const auto id = silence.id;
  keep(std::move(silence));
  return id;
}

void Silences::keep(Silence silence) {
  if (silence.name)
    by_name_.emplace(*silence.name, silence.id);
  else
    by_labels_only_.push_back(silence.id);
  silences_.push_back(std::move(silence));
}

const Silence* Silences::find(std::uint64_t id) const {
  const auto found = std::lower_bound(silences_.begin(), silences_.end(), id, silence_less);
  return found != silences_.end() && found->id == id ? &*found : nullptr;
}

std::optional<Silence> Silences::remove(std::uint64_t id) {
  const auto found = std::lower_bound(silences_.begin(), silences_.end(), id, silence_less);
  if (found == silences_.end() || found->id != id)
    return std::nullopt;
  Silence removed = std::move(*found);
  silences_.erase(found);
  if (removed.name) {
    auto [first, last] = by_name_.equal_range(*removed.name);
    for (auto at = first; at != last; ++at) {
      if (at->second == id) {
        by_name_.erase(at);
        break;
      }
    }
  } else {
    std::erase(by_labels_only_, id);
  }
  return removed;
}

const Silence* Silences::covering(std::string_view target,
                                  const std::map<std::string, std::string>& labels,
                                  system_clock::time_point now) const {
  const Silence* best = nullptr;
  const auto consider = [&](std::uint64_t id) {
    const Silence* silence = find(id);
    if (silence == nullptr || !silence->active(now) || !silence->covers(target, labels))
      return;
    if (best == nullptr || silence->until > best->until ||
        (silence->until == best->until && silence->id < best->id))
      best = silence;
  };
  auto [first, last] = by_name_.equal_range(target);
  for (auto at = first; at != last; ++at)
    consider(at->second);
  for (const auto id : by_labels_only_)
    consider(id);
  return best;
}

std::vector<Silence> Silences::expire(system_clock::time_point now) {
  std::vector<std::uint64_t> ids;
  for (const auto& silence : silences_) {
    if (!silence.active(now))
      ids.push_back(silence.id);
  }
  std::vector<Silence> expired;
  expired.reserve(ids.size());
  for (const auto id : ids)
    expired.push_back(*remove(id));
  return expired;
}

std::optional<system_clock::time_point> Silences::next_expiry() const {
  if (silences_.empty())
    return std::nullopt;
  return std::min_element(silences_.begin(), silences_.end(),
                          [](const Silence& a, const Silence& b) { return a.until < b.until; })
      ->until;
}

json Silences::to_json() const {
  json list = json::array();
  for (const auto& silence : silences_) {
    json item = json::object();
    item["id"] = silence.id;
    item["name"] = silence.name ? json(*silence.name) : json(nullptr);
    item["labels"] = silence.labels;
    item["created_ms"] = silence_ms(silence.created);
    item["until_ms"] = silence_ms(silence.until);
    item["comment"] = silence.comment;
    list.push_back(std::move(item));
  }
  json document = json::object();
  document["version"] = kFormatVersion;
  document["next_id"] = next_id_;
  document["silences"] = std::move(list);
  return document;
}

Expected<Silences> Silences::from_json(const json& document) {
  const json::json_pointer root;
  if (!document.is_object())
    return Error{std::string(R"(expected an object with "version", "next_id" and "silences", )"
                             "found ") +
                 document.type_name()};
  // The version first: a document of another version may have any layout.
  const auto version = document.find("version");
  if (version == document.end())
    return silence_document_error(root / "version",
                                  "missing (expected " + std::to_string(kFormatVersion) + ")");
  if (!version->is_number_integer() || *version != kFormatVersion)
    return silence_document_error(root / "version", "unsupported version " + version->dump() +
                                                        " (this fetchd reads version " +
                                                        std::to_string(kFormatVersion) + ")");
  for (const auto& item : document.items()) {
    if (item.key() != "version" && item.key() != "next_id" && item.key() != "silences")
      return silence_document_error(root / item.key(), "unknown key");
  }
  const auto next_id = document.find("next_id");
  if (next_id == document.end())
    return silence_document_error(root / "next_id", "missing (expected an integer)");
  const auto next = silence_positive(*next_id);
  if (!next)
    return silence_document_error(root / "next_id",
                                  "expected an integer of at least 1, found " + next_id->dump());
  const auto list = document.find("silences");
  if (list == document.end())
    return silence_document_error(root / "silences", "missing (expected an array)");
  if (!list->is_array())
    return silence_document_error(root / "silences",
                                  std::string("expected an array, found ") + list->type_name());
  if (list->size() > kMaxSilences)
    return silence_document_error(root / "silences",
                                  "more than " + std::to_string(kMaxSilences) + " silences");
  std::vector<std::pair<Silence, std::size_t>> read;  // and its index in the document
  read.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto silence = silence_from_json((*list)[i], root / "silences" / i);
    if (!silence)
      return silence.error();
    if (silence->id >= *next)
      return silence_document_error(
          root / "silences" / i / "id",
          "id " + std::to_string(silence->id) + " is not below next_id " + next_id->dump());
    read.emplace_back(std::move(silence).value(), i);
  }
  std::sort(read.begin(), read.end(),
            [](const auto& a, const auto& b) { return a.first.id < b.first.id; });
  Silences silences;
  silences.next_id_ = *next;
  for (std::size_t i = 0; i < read.size(); ++i) {
    if (i > 0 && read[i].first.id == read[i - 1].first.id)
      return silence_document_error(
          root / "silences" / read[i].second / "id",
          "id " + std::to_string(read[i].first.id) + " is given to two silences");
    silences.keep(std::move(read[i].first));
  }
  return silences;
}

}  // namespace fetchd::alerts
