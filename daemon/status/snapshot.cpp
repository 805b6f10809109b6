#include "status/snapshot.h"

#include <algorithm>

namespace fetchd::status {

std::string ReloadReport::summary() const {
  if (!ok)
    return "refused: " + errors;
  return std::to_string(added.size()) + " added, " + std::to_string(removed.size()) + " removed, " +
         std::to_string(changed.size()) + " changed, " + std::to_string(unchanged) + " unchanged";
}

std::int64_t Snapshot::uptime_s() const {
  return std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::seconds>(taken - started).count());
}

}  // namespace fetchd::status
