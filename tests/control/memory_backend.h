#pragma once

// A control backend in memory for the control tests: targets, canned outcomes and a real feed,
// with no service, scheduler or network behind it.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/backend.h"
#include "results/fake_results.h"

namespace fetchd::control {

class MemoryBackend final : public Backend {
 public:
  struct Target {
    config::TargetConfig config;
    results::TargetResults results{results::FlapPolicy{}, 10, results::test::kEpoch};
    bool runtime = false;
  };

  status::Snapshot snapshot() const override { return snapshot_; }
  void for_each_target(const std::function<void(const TargetView&)>& visit) const override {
    for (const auto& [name, target] : targets_)
      visit(TargetView{target.config, target.results, target.runtime});
  }
  std::optional<TargetView> find_target(std::string_view name) const override {
    const auto found = targets_.find(std::string(name));
    if (found == targets_.end())
      return std::nullopt;
    return TargetView{found->second.config, found->second.results, found->second.runtime};
  }
  Expected<std::string, Refusal<AddRefused>> add_target(const nlohmann::json& target) override {
    if (add_refusal_)
      return *add_refusal_;
    added_.push_back(target);
    return std::string("added-name");
  }
  std::optional<Refusal<RemoveRefused>> remove_target(const std::string& name) override {
    removed_.push_back(name);
    return remove_refusal_;
  }
  FetchNow fetch_now(const std::string&, FetchDone done) override {
    if (fetch_answer_ == FetchNow::started)
      pending_fetch_ = std::move(done);
    return fetch_answer_;
  }
  void reload(std::function<void(const status::ReloadReport&)> done) override { done(reload_); }
  results::Feed& feed() override { return feed_; }
  const alerts::Silences& silences() const override { return silences_; }
  Expected<alerts::Silence, Refusal<SilenceRefused>> add_silence(alerts::Silence silence) override {
    if (silence_refusal_)
      return *silence_refusal_;
    auto id = silences_.add(std::move(silence));
    if (!id)
      return Refusal<SilenceRefused>{SilenceRefused::invalid, id.error().message};
    return *silences_.find(*id);
  }
  Expected<alerts::Silence, Refusal<UnsilenceRefused>> remove_silence(std::uint64_t id) override {
    if (unsilence_refusal_)
      return *unsilence_refusal_;
    auto removed = silences_.remove(id);
    if (!removed)
      return Refusal<UnsilenceRefused>{UnsilenceRefused::not_found, "no silence"};
    return std::move(removed).value();
  }

  status::Snapshot snapshot_{};
  std::map<std::string, Target> targets_;
  std::optional<Refusal<AddRefused>> add_refusal_;
  std::optional<Refusal<RemoveRefused>> remove_refusal_;
  FetchNow fetch_answer_ = FetchNow::started;
  FetchDone pending_fetch_;
  status::ReloadReport reload_{};
  std::vector<nlohmann::json> added_;
  std::vector<std::string> removed_;
  results::Feed feed_;
  alerts::Silences silences_;
  std::optional<Refusal<SilenceRefused>> silence_refusal_;
  std::optional<Refusal<UnsilenceRefused>> unsilence_refusal_;
};

}  // namespace fetchd::control
