#pragma once

// The persisted form of a target's results: one attempt (as recorded, so that replaying it through
// TargetResults::record() rebuilds exactly what recording it built), and everything a
// TargetResults holds but the duration histogram (a metrics counter, which Prometheus expects to
// start over with the process). state/results_store.h frames, checksums and versions these; this
// module owns their contents. Decoding checks every length and range: damaged data is refused
// (nullopt), never misread.

#include <cstddef>
#include <optional>

#include "common/binary.h"
#include "results/target_results.h"

namespace fetchd::results {

void encode(const Attempt& attempt, BinaryWriter& out);
void encode(const FullResult& result, BinaryWriter& out);
std::optional<Attempt> decode_attempt(BinaryReader& in);

// `history_length` and `uptime_days` are the settings in effect when decoding: the kept history
// and days are cut to fit, as a reload would.
void encode(const TargetResults& results, BinaryWriter& out);
std::optional<TargetResults> decode_target_results(BinaryReader& in, std::size_t history_length,
                                                   std::size_t uptime_days);

}  // namespace fetchd::results
