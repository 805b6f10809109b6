#include "status/snapshot.h"

#include <algorithm>

namespace fetchd::status {

std::string ReloadReport::summary() const {
  if (!ok)
    return "refused: " + errors;
  return std::to_string(added.size()) + " added, " + std::to_string(removed.size()) + " removed, " +
         std::to_string(changed.size()) + " changed, " + std::to_string(unchanged) + " unchanged";
}

Lateness lateness_of(std::vector<std::int64_t> samples_us) {
  if (samples_us.empty())
    return {};
  const auto at = [&samples_us](std::size_t rank) {
    std::nth_element(samples_us.begin(), samples_us.begin() + static_cast<std::ptrdiff_t>(rank),
                     samples_us.end());
    return samples_us[rank];
  };
  const std::size_t last = samples_us.size() - 1;
  return {.p50_us = at(last / 2), .p99_us = at(last * 99 / 100), .max_us = at(last)};
}

std::int64_t Snapshot::uptime_s() const {
  return std::chrono::duration_cast<std::chrono::seconds>(running_for).count();
}

}  // namespace fetchd::status
