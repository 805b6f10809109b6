#pragma once

// One scrape of /metrics: every family, generated at scrape time from a read-only view of the
// daemon (the registry and the status snapshot), in pieces of about kPieceBytes so that a scrape
// of 100,000 targets never holds the loop for long nor the whole output in memory. What the
// targets' series say is copied first, in slices (rows of about 470 bytes a target; the output of
// 100,000 targets is 245 MB): between slices the walk over the targets resumes after the last
// name copied, so targets added or removed meanwhile are simply met or missed; a removed target's
// series are gone from the next scrape.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "metrics/exposition.h"
#include "registry/registry.h"
#include "status/snapshot.h"

namespace fetchd::metrics {

inline constexpr std::size_t kPieceBytes = std::size_t{64} * 1024;
// Targets copied into the scrape's rows per piece (a piece that writes nothing): each costs a few
// cache misses, a few microseconds, so a slice takes a few milliseconds (2,000 took up to 12 ms
// on this 2-core machine while it fetched 5,000 targets a second).
inline constexpr std::size_t kRowsPerPiece = 1000;
// Rows visited per piece at most, written or not: a family most targets have no series in (the
// TLS ones over plain-HTTP targets) would otherwise read all 100,000 rows, 34 MB, in one piece
// (13 ms).
inline constexpr std::size_t kRowsVisitedPerPiece = 10000;

// What the last complete scrape cost the daemon, measured on its thread (CLOCK_THREAD_CPUTIME_ID):
// exported by the next scrape, so an operator and the benchmark see it without guessing from the
// process' total CPU.
struct ScrapeCost {
  double cpu_seconds = 0;            // making the pieces (gzip included when the caller adds it)
  double longest_piece_seconds = 0;  // the longest the loop spent on one piece
  std::uint64_t scrapes = 0;         // complete scrapes since start
};

// What a scrape reads. Called on the loop, during the scrape.
struct View {
  const registry::Registry* registry = nullptr;
  std::function<status::Snapshot()> snapshot;
  std::function<const config::Settings&()> settings;
  std::function<std::size_t()> control_clients;
  std::function<double()> loop_lag_seconds;
  const ScrapeCost* last_scrape = nullptr;  // null: not exported
};

// CPU time of the calling thread, seconds.
double thread_cpu_seconds();

class Scrape {
 public:
  Scrape(View view, Format format);
  ~Scrape();
  Scrape(Scrape&&) noexcept;
  Scrape& operator=(Scrape&&) = delete;
  Scrape(const Scrape&) = delete;
  Scrape& operator=(const Scrape&) = delete;

  // The next piece of the exposition, or nullopt once everything has been returned. First the
  // daemon-wide families, then pieces that copy kRowsPerPiece targets each into the scrape's rows
  // and write nothing (empty), then pieces of about kPieceBytes written from the rows.
  std::optional<std::string> next();

  struct Rows;  // what every target's series say, copied once per scrape

 private:
  void daemon_families(std::string& out);
  // Copies the next kRowsPerPiece targets into the rows; true when every target has been copied.
  bool copy_rows();
  // Writes the current target family's samples from row_ on; true when it is complete.
  bool target_family(std::string& out);

  View view_;
  Format format_;
  std::unique_ptr<Rows> rows_;  // from the first piece until the last
  std::string cursor_;          // the last target copied ("" before the first)
  bool copied_ = false;
  std::size_t family_ = 0;   // index into the target families; past them: done
  std::size_t row_ = 0;      // the next row of the current family
  std::size_t visited_ = 0;  // rows visited by the piece being made
  bool done_ = false;
  Labels instance_;  // settings.instance_labels, escaped once per scrape
};

// The process' own figures, as process_* (read from /proc/self): exposed for tests.
struct ProcessFigures {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double start_time_seconds = 0;
};
ProcessFigures process_figures();

}  // namespace fetchd::metrics
