#include "scheduler/scheduler.h"

#include <utility>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace fetchd::scheduler {

namespace {
constexpr std::size_t kLatenessSamples = 1 << 16;
constexpr Clock::duration kLatenessWindow = std::chrono::minutes(1);
}  // namespace

Clock::time_point wake_time(Clock::time_point due) {
  const auto past_step = due.time_since_epoch() % kWakeGrid;
  return past_step == Clock::duration::zero() ? due : due + (kWakeGrid - past_step);
}

struct Job {
  explicit Job(JobSpec job_spec) : spec(std::move(job_spec)) {}
  JobSpec spec;
  asio::cancellation_signal cancel;
  // A fetch asked for outside the schedule; it has its own signal, as a signal serves one
  // operation.
  asio::cancellation_signal cancel_triggered;
  bool stopped = false;
  bool running = false;  // a fetch of this target is in flight (scheduled or triggered)
  // The last fetch took half its timeout or more: the next one asks in the slow lane.
  bool slow = false;
};

std::chrono::milliseconds first_offset(const std::string& name,
                                       std::chrono::milliseconds interval) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  const auto span = static_cast<std::uint64_t>(std::max<std::int64_t>(interval.count(), 1));
  return std::chrono::milliseconds(static_cast<std::int64_t>(hash % span));
}

Scheduler::Scheduler(asio::any_io_executor executor, http::Fetcher& fetcher,
                     std::size_t max_in_flight, Callbacks callbacks)
    : executor_(std::move(executor)),
      fetcher_(fetcher),
      callbacks_(std::move(callbacks)),
      limit_(max_in_flight) {}

Scheduler::~Scheduler() {
  stop_all();
}

JobHandle::~JobHandle() {
  stop();
}

JobHandle::JobHandle(JobHandle&& other) noexcept
    : scheduler_(std::exchange(other.scheduler_, nullptr)), job_(std::move(other.job_)) {}

JobHandle& JobHandle::operator=(JobHandle&& other) noexcept {
  if (this != &other) {
    stop();
    scheduler_ = std::exchange(other.scheduler_, nullptr);
    job_ = std::move(other.job_);
  }
  return *this;
}

const JobSpec& JobHandle::spec() const {
  return job_->spec;
}

void JobHandle::stop() {
  if (job_ != nullptr)
    scheduler_->stop(job_);
  job_.reset();
  scheduler_ = nullptr;
}

JobHandle Scheduler::start(JobSpec spec) {
  auto job = std::make_shared<Job>(std::move(spec));
  jobs_.insert(job);
  spawn(job, run(job));
  return {*this, std::move(job)};
}

namespace {
// Ends a job's coroutine: a stopped job ends with Asio refusing to resume it, which is the plan.
// Anything else is a bug, logged with the job's name; the job is over, the daemon goes on.
auto end_of_job(std::string name) {
  return [name = std::move(name)](const std::exception_ptr& error) {
    if (!error)
      return;
    try {
      std::rethrow_exception(error);
    } catch (const std::system_error& stopped) {
      if (stopped.code() != asio::error::operation_aborted)
        spdlog::error("scheduler: the job of \"{}\" ended with an error: {}", name, stopped.what());
    } catch (const std::exception& failure) {
      spdlog::error("scheduler: the job of \"{}\" ended with an exception: {}", name,
                    failure.what());
    }
  };
}
}  // namespace

void Scheduler::spawn(const std::shared_ptr<Job>& job, asio::awaitable<void> work) {
  asio::co_spawn(executor_, std::move(work),
                 asio::bind_cancellation_slot(job->cancel.slot(), end_of_job(job->spec.name)));
}

Scheduler::Trigger Scheduler::fetch_now(const JobHandle& handle,
                                        std::function<void(const http::FetchResult&)> done) {
  if (!handle || handle.job_->stopped)
    return Trigger::not_found;
  auto job = handle.job_;
  if (job->running)
    return Trigger::busy;
  job->running = true;
  auto once = [](Scheduler* self, std::shared_ptr<Job> target,
                 std::function<void(const http::FetchResult&)> callback) -> asio::awaitable<void> {
    co_await self->fetch_once(target, Clock::now(), std::move(callback));
  };
  asio::co_spawn(
      executor_, once(this, job, std::move(done)),
      asio::bind_cancellation_slot(job->cancel_triggered.slot(), end_of_job(job->spec.name)));
  return Trigger::started;
}

void Scheduler::stop(const std::shared_ptr<Job>& job) {
  if (job->stopped)
    return;
  job->stopped = true;
  job->cancel.emit(asio::cancellation_type::terminal);
  // A fetch asked for through fetch_now() ends with its job too: nothing else would cancel it
  // once the job is gone (stop_all() only sees the jobs it still has).
  job->cancel_triggered.emit(asio::cancellation_type::terminal);
  jobs_.erase(job);
}

void Scheduler::stop_all() {
  for (const auto& job : jobs_) {
    job->stopped = true;
    job->cancel.emit(asio::cancellation_type::terminal);
    job->cancel_triggered.emit(asio::cancellation_type::terminal);
  }
  jobs_.clear();
}

Stats Scheduler::stats() const {
  Stats stats = stats_;
  stats.in_flight = limit_.in_use();
  stats.waiting_for_permit = limit_.waiting();
  stats.slow_in_flight = limit_.slow_in_use();
  stats.slow_waiting_for_permit = limit_.slow_waiting();
  stats.jobs = jobs_.size();
  return stats;
}

std::vector<std::int64_t> Scheduler::recent_lateness_us() const {
  const auto since = Clock::now() - kLatenessWindow;
  std::vector<std::int64_t> recent;
  recent.reserve(lateness_ring_.size());
  for (const auto& sample : lateness_ring_) {
    if (sample.at >= since)
      recent.push_back(sample.micros);
  }
  return recent;
}

std::uint64_t Scheduler::read_lateness(std::uint64_t& cursor,
                                       std::vector<std::int64_t>& out) const {
  const std::uint64_t oldest_kept =
      lateness_taken_ > kLatenessSamples ? lateness_taken_ - kLatenessSamples : 0;
  const std::uint64_t lost = cursor < oldest_kept ? oldest_kept - cursor : 0;
  for (std::uint64_t k = cursor + lost; k < lateness_taken_; ++k)
    out.push_back(lateness_ring_[k % kLatenessSamples].micros);
  cursor = lateness_taken_;
  return lost;
}

void Scheduler::note_lateness(Clock::duration lateness) {
  const LatenessSample sample{
      Clock::now(), std::chrono::duration_cast<std::chrono::microseconds>(lateness).count()};
  if (lateness_ring_.size() < kLatenessSamples)
    lateness_ring_.push_back(sample);
  else
    lateness_ring_[lateness_taken_ % kLatenessSamples] = sample;
  ++lateness_taken_;
}

asio::awaitable<bool> Scheduler::fetch_once(std::shared_ptr<Job> job, Clock::time_point due,
                                            std::function<void(const http::FetchResult&)> done) {
  // Cleared however this ends, cancellation included, so the target is never stuck as running.
  struct Running {
    Job& job;
    ~Running() { job.running = false; }
  } running{*job};
  job->running = true;
  const auto lane = job->slow ? InFlightLimit::Lane::slow : InFlightLimit::Lane::prompt;
  auto permit = co_await limit_.acquire(lane);
  if (!permit || job->stopped)
    co_return false;
  // The slow lane is held back on purpose (it has half the permits); its waits are counted as
  // skipped slots, and lateness measures what the cap protects: the targets that answer.
  if (lane == InFlightLimit::Lane::prompt)
    note_lateness(Clock::now() - due);
  ++stats_.fetches_started;
  auto result = co_await fetcher_.fetch(*job->spec.target);
  permit.reset();
  if (job->stopped)
    co_return false;
  job->slow = result.total * 2 >= job->spec.target->timeout;
  ++stats_.fetches_completed;
  if (callbacks_.on_result)
    callbacks_.on_result(job->spec.name, result);
  if (done)
    done(result);
  co_return true;
}

asio::awaitable<void> Scheduler::run(std::shared_ptr<Job> job) {
  const auto interval = std::max(job->spec.interval, std::chrono::milliseconds(1));
  asio::steady_timer timer(executor_);
  auto due = Clock::now() + first_offset(job->spec.name, interval);
  for (;;) {
    timer.expires_at(wake_time(due));
    auto [wait_error] =
        co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (wait_error || job->stopped)
      co_return;

    std::uint64_t missed = 0;
    if (job->running) {
      // A fetch asked for through fetch_now() holds this slot.
      missed = 1;
    } else if (!co_await fetch_once(job, due, {})) {
      co_return;
    }

    // Fixed rate: the next slot is the first one still ahead; the ones passed are skipped.
    due += interval;
    const auto now = Clock::now();
    if (due <= now) {
      const auto passed = static_cast<std::uint64_t>((now - due) / interval) + 1;
      due += passed * interval;
      missed += passed;
    }
    if (missed > 0) {
      stats_.slots_skipped += missed;
      if (callbacks_.on_skipped)
        callbacks_.on_skipped(job->spec.name, missed);
    }
  }
}

}  // namespace fetchd::scheduler
