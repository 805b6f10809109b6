#pragma once

// Fleets: which targets belong to which instance. The hash is Prometheus' `hashmod` relabel
// action's (MD5 of the value, its last 8 bytes as a big-endian integer, mod N), so a shard can be
// reasoned about the same way in fetchd's configuration and in Prometheus' relabel rules.

#include <cstdint>
#include <string_view>

#include "config/config.h"

namespace fetchd::config {

// Which of `count` shards `name` belongs to (count ≥ 1).
std::uint64_t shard_of(std::string_view name, std::uint64_t count);
inline bool in_shard(std::string_view name, const Shard& shard) {
  return shard.count <= 1 || shard_of(name, shard.count) == shard.index;
}

}  // namespace fetchd::config
