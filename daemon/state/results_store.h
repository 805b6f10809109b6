#pragma once

// The results store: every target's results kept in the state directory across restarts, as an
// append-only log of what happened plus, now and then, a snapshot of everything.
//
// Files (in state_dir):
//   results-<G>.log       records appended since generation G began: a result (the attempt in
//                         full), a target put (new, or changed keeping its results), removed, or
//                         skipped runs; each with a sequence number increasing across restarts
//   results-<G>.snapshot  every target's results as they were when the snapshot visited it, with
//                         the sequence number of that moment; written as .tmp and renamed whole
// Each file starts with a magic and a header record (format version, kind, generation); every
// record is framed as [magic][length][CRC-32C][payload], so a torn tail or a flipped bit is found,
// skipped and reported, and the records after it are still read.
//
// Restoring reads the newest snapshot and replays the logs of its generation and later, applying
// to each target only the records newer than its snapshot (a snapshot is taken a slice at a time
// while results keep arriving, so each target carries its own point in the log).
//
// Costs: the loop thread only queues records (a name and a shared pointer); a helper thread
// encodes and appends them, and fdatasyncs the log every `flush` (settings.results_flush): a
// kill -9 loses at most what was queued since. Writes grow with the fetch rate, not the target
// count: a snapshot is taken once the logs since the last one are twice as large as it (each
// result is then written about 1.5 times in all) and its generation's predecessors are deleted
// once it is complete. The snapshot is encoded on the loop in
// slices that the caller schedules (service/persistence.h), written by the helper thread.
//
// Errors are values: load() fails on a directory it cannot read or a file of another format
// version (never misread); write errors are kept in stats() for the daemon to report, the records
// meanwhile are dropped, and the next snapshot, once writing works again, makes the store whole.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/expected.h"
#include "results/target_results.h"

namespace fetchd::state {

inline constexpr std::uint32_t kResultsFormatVersion = 1;
// Records queued for the writer at most; beyond, they are dropped and a snapshot is asked for.
inline constexpr std::size_t kMaxQueuedRecords = 1'000'000;

struct StoredTarget {
  std::string url;
  results::TargetResults results;
  // The log's sequence number when the snapshot it came from visited it (0: not from a
  // snapshot): the log records up to it are already in `results`.
  std::uint64_t snapshot_sequence = 0;
};

struct RestoredResults {
  std::map<std::string, StoredTarget, std::less<>> targets;
  // Damage found and skipped, one line each, naming the file and what was lost.
  std::vector<std::string> problems;
  std::uint64_t last_sequence = 0;
  std::uint64_t generation = 0;      // the newest generation on disk (0: none)
  std::uint64_t snapshot_bytes = 0;  // of the snapshot read
  std::uint64_t log_bytes = 0;       // of the logs replayed
  std::size_t files = 0;
};

struct ResultsStoreStats {
  std::uint64_t records = 0;         // appended to the log
  std::uint64_t log_bytes = 0;       // written to logs since start
  std::uint64_t snapshot_bytes = 0;  // written to snapshots since start
  std::uint64_t snapshots = 0;       // completed since start
  std::uint64_t dropped = 0;         // records lost to write errors or a full queue
  std::uint64_t disk_bytes = 0;      // the store's files now
  double writer_cpu_seconds = 0;     // the helper thread's CPU time
  std::optional<std::string> error;  // the latest write error, until writing works again
};

class ResultsStore {
 public:
  using Clock = std::chrono::system_clock;

  // Reads the store in `dir` (a missing directory or none of its files: nothing stored). Removes
  // nothing. The settings in effect cut history and days to fit.
  static Expected<RestoredResults> load(const std::filesystem::path& dir,
                                        std::size_t history_length, std::size_t uptime_days);

  // Starts the helper thread, which appends to a new generation after `restored`'s. The directory
  // is created when missing; failing to, or to open the log, is kept as the error (stats()).
  ResultsStore(std::filesystem::path dir, std::chrono::milliseconds flush,
               const RestoredResults& restored);
  ~ResultsStore();
  ResultsStore(const ResultsStore&) = delete;
  ResultsStore& operator=(const ResultsStore&) = delete;

  // The loop thread's side: queue a record. `fresh`: the target starts over (new, or its URL
  // changed); otherwise it keeps its results and takes the new policy.
  void put(std::string_view name, std::string_view url, results::FlapPolicy policy,
           Clock::time_point at, bool fresh);
  void result(std::string_view name, std::shared_ptr<const results::FullResult> result);
  void skipped(std::string_view name, std::uint64_t slots);
  void removed(std::string_view name);

  // Compaction, driven by the caller a slice at a time between begin and end.
  bool wants_snapshot() const;
  bool snapshot_running() const { return snapshot_running_; }
  void begin_snapshot();
  void snapshot_target(std::string_view name, std::string_view url,
                       const results::TargetResults& results);
  void end_snapshot();
  // Snapshot bytes handed to the helper thread and not yet written: the caller waits while this
  // is large, so a slow disk holds back the snapshot rather than filling memory.
  std::size_t snapshot_backlog() const;

  ResultsStoreStats stats() const;
  const std::filesystem::path& dir() const { return dir_; }

  // Writes and syncs everything queued, then stops the helper thread. Idempotent.
  void close();

 private:
  enum class ItemKind : std::uint8_t { record, rotate, chunk, end };
  struct Item {
    ItemKind kind = ItemKind::record;
    std::string payload;  // record: encoded by the writer from the fields below; chunk: the bytes
    std::uint8_t record_kind = 0;
    std::uint64_t sequence = 0;
    std::string name;
    std::string url;
    results::FlapPolicy policy;
    Clock::time_point at;
    bool fresh = false;
    std::uint64_t slots = 0;
    std::shared_ptr<const results::FullResult> result;
    std::uint64_t generation = 0;  // rotate, end
  };

  void enqueue(Item item);
  void hand_over_chunk();
  void run(std::uint64_t generation);
  void write_items(std::vector<Item>& items);
  void append_log(const Item& item);
  bool write_all(int fd, std::string_view bytes, const std::filesystem::path& path);
  void create_log(std::uint64_t generation);
  bool append_to_log(std::string_view bytes);
  void close_log();
  void finish_snapshot(std::uint64_t generation, std::uint64_t targets);
  void sync_log();
  void fail(const std::filesystem::path& path, const char* what, int error);

  std::filesystem::path dir_;
  std::chrono::milliseconds flush_;

  // Loop thread only.
  std::uint64_t sequence_;
  std::uint64_t generation_;
  bool snapshot_running_ = false;
  std::uint64_t snapshot_targets_ = 0;
  std::string chunk_;

  // Shared with the helper thread.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Item> queue_;
  std::size_t queued_records_ = 0;
  std::size_t snapshot_items_ = 0;  // queued rotate, chunk and end items: written at once
  std::size_t backlog_bytes_ = 0;
  bool stopping_ = false;
  bool lost_ = false;                   // records were dropped: the store needs a snapshot
  std::uint64_t losses_ = 0;            // times records were lost (write errors, a full queue)
  std::uint64_t losses_at_rotate_ = 0;  // ... when the snapshot being written began
  std::uint64_t since_snapshot_ = 0;    // log bytes since the newest snapshot began
  std::uint64_t last_snapshot_ = 0;     // its size
  std::chrono::steady_clock::time_point last_attempt_{};  // of a snapshot
  std::chrono::steady_clock::duration retry_after_ = std::chrono::seconds(5);
  ResultsStoreStats stats_;

  // Helper thread only.
  int log_fd_ = -1;
  std::filesystem::path log_path_;
  int snapshot_fd_ = -1;
  std::filesystem::path snapshot_tmp_;
  bool log_dirty_ = false;
  bool log_created_ = false;  // the current log exists with its header: records may go in
  std::string buffer_;

  std::thread writer_;
};

// Framing, shared with the tests and the fuzzer: the records of a file's bytes, in order.
struct FramedRecords {
  std::vector<std::string_view> payloads;
  std::size_t damaged = 0;  // stretches skipped: bad checksum or length, or a torn tail
  std::size_t first_damage_offset = 0;
  bool torn_tail = false;  // the last stretch ended the file (a write cut short)
};
FramedRecords read_framed(std::string_view bytes);
void append_framed(std::string& out, std::string_view payload);

}  // namespace fetchd::state
