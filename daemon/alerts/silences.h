#pragma once

// Silences: an operator's "do not notify about these targets until then". A silence names one
// target, or labels every target it covers must carry (k=v equality), or both; notifications
// about a covered target are suppressed while it is active (now < until), while fetching and
// recording go on. Pure data and logic, no IO and no clock: every question takes `now`.
//
// The service keeps them (`fetchctl silence`, `silences`, `unsilence`), persists them in
// <state_dir>/silences.json (state/silences_file.h) and removes each one when it expires; the
// notifiers ask covering() before they send.
//
// The document (to_json / from_json), one silence per line in the file:
//   {
//     "version": 1,
//     "next_id": 4,
//     "silences": [
//       {"id":3,"name":"web1","labels":{},"created_ms":1764000000000,"until_ms":1764007200000,
//        "comment":"disk swap"}
//     ]
//   }
// Times are milliseconds since the epoch (UTC). `next_id` is above every id ever given, so that
// an id is never reused, across restarts too.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/expected.h"

namespace fetchd::alerts {

// Bounds of what an operator may keep: every one is enforced by check_silence() and add().
inline constexpr std::size_t kMaxSilences = 10'000;
inline constexpr std::size_t kMaxSilenceCommentBytes = 1'000;
inline constexpr std::size_t kMaxSilenceLabels = 8;
inline constexpr std::size_t kMaxSilenceLabelValueBytes = 256;  // as a target's label values
inline constexpr std::size_t kMaxSilenceNameBytes = 256;
inline constexpr std::chrono::minutes kMinSilenceDuration{1};
inline constexpr std::chrono::hours kMaxSilenceDuration{24 * 365};

struct Silence {
  std::uint64_t id = 0;  // given by Silences::add: unique, never reused
  // Silences this target, or
  std::optional<std::string> name{};
  // every target whose labels include all of these; at least one of name and labels.
  std::map<std::string, std::string> labels{};
  std::chrono::system_clock::time_point created{};
  std::chrono::system_clock::time_point until{};
  std::string comment{};

  // Whether it covers this target (active or not): its name if it has one, and all its labels.
  bool covers(std::string_view target,
              const std::map<std::string, std::string>& target_labels) const;
  bool active(std::chrono::system_clock::time_point now) const { return now < until; }

  bool operator==(const Silence&) const = default;
};

// What a silence covers, for log lines and messages: `name "web1"`, `label env=prod`,
// `name "web1", labels env=prod, team=core`.
std::string describe_matchers(const Silence& silence);

// Why `silence` cannot be kept, or nullopt: neither a name nor labels, a name or label value too
// long, a label name that is not one (config::is_label_name), more than kMaxSilenceLabels labels, a
// comment longer than kMaxSilenceCommentBytes, or a lifetime (until - created) outside
// [kMinSilenceDuration, kMaxSilenceDuration].
std::optional<std::string> check_silence(const Silence& silence);

class Silences {
 public:
  static constexpr int kFormatVersion = 1;

  // Keeps `silence` under the next id (its `id` is ignored) and returns that id. Refused (with the
  // reason) when check_silence() finds a problem or kMaxSilences are kept.
  Expected<std::uint64_t> add(Silence silence);
  // The silence removed, or nullopt when there is none of that id.
  std::optional<Silence> remove(std::uint64_t id);
  // Of the active silences covering the target at `now`, the one that lasts longest (the lowest id
  // among those ending together), or nullptr. O(log n) for silences by name, plus the silences
  // by labels only.
  const Silence* covering(std::string_view target, const std::map<std::string, std::string>& labels,
                          std::chrono::system_clock::time_point now) const;
  // Removes and returns those whose until <= now, by id.
  std::vector<Silence> expire(std::chrono::system_clock::time_point now);
  // The earliest until of those kept, or nullopt when there are none.
  std::optional<std::chrono::system_clock::time_point> next_expiry() const;
  const Silence* find(std::uint64_t id) const;
  // Every silence kept, by id (expired ones too until expire() removes them).
  const std::vector<Silence>& all() const { return silences_; }
  std::size_t size() const { return silences_.size(); }
  bool full() const { return silences_.size() >= kMaxSilences; }
  std::uint64_t next_id() const { return next_id_; }

  // The versioned document described above (keys in a fixed order, silences by id).
  nlohmann::json to_json() const;
  // The document back; the error names the JSON pointer and what is wrong ("/silences/2/until_ms:
  // expected an integer, found string"). Every silence is checked as add() checks it; ids must be
  // unique and below next_id. Expired silences are kept (the caller expires them).
  static Expected<Silences> from_json(const nlohmann::json& document);

 private:
  std::vector<Silence> silences_;  // by id
  // Name → id of the silences with a name; the ids of those with labels only.
  std::multimap<std::string, std::uint64_t, std::less<>> by_name_;
  std::vector<std::uint64_t> by_labels_only_;
  std::uint64_t next_id_ = 1;

  void keep(Silence silence);  // appends and indexes; its id is above every id kept
};

}  // namespace fetchd::alerts
