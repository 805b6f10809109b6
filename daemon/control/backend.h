#pragma once

// What the control commands need of the daemon, and nothing more: read the targets and a status
// snapshot, add and remove runtime targets, fetch now, reload, keep and lift silences. The service
// implements it; command tests use a small in-memory one. Outcomes are typed here; the protocol's
// error codes are control's business (commands.cpp maps them).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "alerts/silences.h"
#include "common/expected.h"
#include "config/config.h"
#include "results/feed.h"
#include "results/target_results.h"
#include "status/snapshot.h"

namespace fetchd::control {

struct TargetView {
  const config::TargetConfig& config;
  const results::TargetResults& results;
  bool runtime = false;  // added at run time, not defined in a configuration file
};

enum class AddRefused { invalid_target, conflict, other_shard, io_error };
enum class RemoveRefused { not_found, config_target, io_error };
template <class Reason>
struct Refusal {
  Reason reason;
  std::string message;
};

// Silences: `invalid` fails alerts::check_silence, `full` means kMaxSilences are kept.
enum class SilenceRefused { invalid, full, io_error };
enum class UnsilenceRefused { not_found, io_error };

enum class FetchNow { started, busy, not_found, disabled };
// With the result as recorded, or nullptr when it was dropped (the target was removed or changed
// meanwhile, or the daemon is stopping).
using FetchDone = std::function<void(std::shared_ptr<const results::FullResult>)>;

class Backend {
 public:
  virtual ~Backend() = default;

  virtual status::Snapshot snapshot() const = 0;
  // Every target in name order.
  virtual void for_each_target(const std::function<void(const TargetView&)>& visit) const = 0;
  virtual std::optional<TargetView> find_target(std::string_view name) const = 0;
  // The runtime target's name (given, or derived from its URL).
  virtual Expected<std::string, Refusal<AddRefused>> add_target(const nlohmann::json& target) = 0;
  virtual std::optional<Refusal<RemoveRefused>> remove_target(const std::string& name) = 0;
  // `done` (may be empty) is called once on the loop after a started fetch, never otherwise.
  virtual FetchNow fetch_now(const std::string& name, FetchDone done) = 0;
  // `done` is called once on the loop when the reload was applied or refused.
  virtual void reload(std::function<void(const status::ReloadReport&)> done) = 0;
  // What happens to the targets, for `watch`; reloads are published there too.
  virtual results::Feed& feed() = 0;

  // The silences kept (expired ones until the backend removes them: ask active(now)).
  virtual const alerts::Silences& silences() const = 0;
  // Keeps `silence` (its id is given here) and persists it; returns it as kept. Whether its name
  // is a target is the command's business, not the backend's.
  virtual Expected<alerts::Silence, Refusal<SilenceRefused>> add_silence(
      alerts::Silence silence) = 0;
  // Lifts the silence now and persists that; returns it.
  virtual Expected<alerts::Silence, Refusal<UnsilenceRefused>> remove_silence(std::uint64_t id) = 0;
};

}  // namespace fetchd::control
