#pragma once

// One periodic fetch job per target on the event loop.
//
// Timing: fixed rate without drift — a job's n-th fetch is due at first + n * interval, whatever
// the previous fetch took. The first fetch is spread over the interval by a hash of the name, so
// thousands of targets never fire at the same instant, and the spread is the same on every start.
// A fetch that overruns its interval makes the job skip the slots it missed (counted, not queued):
// the same target never runs twice at once. At most `max_in_flight` fetches run at once over all
// targets; a job waiting for a permit fetches late, and the lateness is measured. A target whose
// last fetch took half its timeout or more waits in the limit's slow lane, which holds at most half
// the permits, so silent servers cannot starve the ones that answer (see in_flight_limit.h); the
// lateness measured is the prompt lane's. Jobs wake on a 5 ms grid (kWakeGrid), so that fetches due
// close together start in one pass of the loop.
//
// The scheduler knows only the engine: results go to the callbacks, which the daemon wires to the
// results store.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "http/fetch_result.h"
#include "http/fetcher.h"
#include "http/target.h"
#include "scheduler/in_flight_limit.h"

namespace fetchd::scheduler {

struct JobSpec {
  std::string name;
  std::shared_ptr<const http::Target> target;  // shared with the target's configuration
  std::chrono::milliseconds interval{30'000};
};

using Clock = std::chrono::steady_clock;

struct Callbacks {
  // After each fetch that ran to an outcome (cancelled fetches of removed jobs are not reported).
  std::function<void(const std::string& name, const http::FetchResult& result)> on_result;
  // A due slot passed while the previous fetch of the same target was still running.
  std::function<void(const std::string& name, std::uint64_t slots)> on_skipped;
};

struct Stats {
  std::uint64_t fetches_started = 0;
  std::uint64_t fetches_completed = 0;
  std::uint64_t slots_skipped = 0;
  std::size_t in_flight = 0;
  std::size_t waiting_for_permit = 0;
  // Of those, the slow lane's (targets whose last fetch took half their timeout or more).
  std::size_t slow_in_flight = 0;
  std::size_t slow_waiting_for_permit = 0;
  std::size_t jobs = 0;
};

// Where a job's first fetch falls within its interval: deterministic from the name (FNV-1a).
std::chrono::milliseconds first_offset(const std::string& name, std::chrono::milliseconds interval);

// Jobs wake on a grid instead of at their exact due times: the fetches due within one grid step
// start in the same pass of the loop, and their connects, writes and reads then complete in
// batches too, so the loop wakes once per step instead of once per fetch (at 5,000 fetches/s, 25
// fetches per wake-up instead of 1). The price is up to one step of lateness, measured as such
// (from the real due time).
inline constexpr Clock::duration kWakeGrid = std::chrono::milliseconds(5);
// When a job due at `due` wakes: the first grid point at or after it.
Clock::time_point wake_time(Clock::time_point due);

class Scheduler;
struct Job;  // defined in scheduler.cpp

// A running job, held by whoever started it (the target's registry entry): the scheduler keeps
// no index of its own by name. Move-only; destroying or reassigning it stops the job (its timer
// and any fetch in flight are cancelled at once). The scheduler must outlive its handles.
class JobHandle {
 public:
  JobHandle() = default;
  ~JobHandle();
  JobHandle(JobHandle&& other) noexcept;
  JobHandle& operator=(JobHandle&& other) noexcept;
  JobHandle(const JobHandle&) = delete;
  JobHandle& operator=(const JobHandle&) = delete;

  explicit operator bool() const { return job_ != nullptr; }
  const JobSpec& spec() const;

 private:
  friend class Scheduler;
  JobHandle(Scheduler& scheduler, std::shared_ptr<Job> job)
      : scheduler_(&scheduler), job_(std::move(job)) {}
  void stop();

  Scheduler* scheduler_ = nullptr;
  std::shared_ptr<Job> job_;
};

class Scheduler {
 public:
  Scheduler(asio::any_io_executor executor, http::Fetcher& fetcher, std::size_t max_in_flight,
            Callbacks callbacks);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts a job; it runs until its handle is dropped or reassigned, or stop_all().
  [[nodiscard]] JobHandle start(JobSpec spec);
  // Stops every job (shutdown); their handles stay, stopped. The loop then runs out of scheduler
  // work.
  void stop_all();

  enum class Trigger { started, busy, not_found };
  // Fetches the target now, outside its schedule (its periodic slots carry on; one that falls while
  // this fetch runs is skipped). The result goes to on_result like any other, and to `done`.
  // `busy` when a fetch of the target is already running.
  // `not_found` for an empty or stopped handle.
  Trigger fetch_now(const JobHandle& handle,
                    std::function<void(const http::FetchResult&)> done = {});

  void set_max_in_flight(std::size_t limit) { limit_.set_limit(limit); }
  Stats stats() const;
  // How late fetches started compared with their due time (µs), over the most recent 65,536 starts
  // of the last minute, for the benchmark and the status command. A minute, so that a start-up
  // burst (thousands of first fetches queueing for permits) ages out instead of lingering for as
  // many starts as the ring holds.
  std::vector<std::int64_t> recent_lateness_us() const;
  // Every sample since `cursor` (a count of samples taken, 0 at the start), appended to `out` in
  // order; the cursor moves past them. Returns how many were overwritten before being read.
  std::uint64_t read_lateness(std::uint64_t& cursor, std::vector<std::int64_t>& out) const;

 private:
  friend class JobHandle;
  void stop(const std::shared_ptr<Job>& job);
  asio::awaitable<void> run(std::shared_ptr<Job> job);
  // One fetch of the job under a permit; false if the job was stopped meanwhile.
  asio::awaitable<bool> fetch_once(std::shared_ptr<Job> job, Clock::time_point due,
                                   std::function<void(const http::FetchResult&)> done);
  void spawn(const std::shared_ptr<Job>& job, asio::awaitable<void> work);
  void note_lateness(std::chrono::steady_clock::duration lateness);

  asio::any_io_executor executor_;
  http::Fetcher& fetcher_;
  Callbacks callbacks_;
  InFlightLimit limit_;
  std::unordered_set<std::shared_ptr<Job>> jobs_;  // running: for stop_all() and the count
  Stats stats_;
  struct LatenessSample {
    Clock::time_point at;
    std::int64_t micros;
  };
  std::vector<LatenessSample> lateness_ring_;  // sample k at index k % its capacity
  std::uint64_t lateness_taken_ = 0;
};

}  // namespace fetchd::scheduler
