#pragma once

// The results feed: one stream of what happens to targets, published where it happens (the
// registry), delivered to every subscriber on the loop. The journal line, the state counts, the
// fetch rate, `fetch --wait`, watch and persistence (service/persistence.h) are subscribers;
// none of them reaches back into the registry or the scheduler.
//
// Subscribers are called synchronously, in registration order, and must not block: they update a
// counter or enqueue. One that throws is logged (the first time for each subscriber, then
// counted) and the event still reaches the others; recording never depends on a subscriber. A
// subscriber that needs to do slow work (write a file, send a request) enqueues into a bounded
// queue of its own and drops or coalesces when it lags.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "results/state_change.h"
#include "results/target_results.h"

namespace fetchd::results {

enum class EventKind : std::uint8_t {
  recorded,  // an attempt was recorded: `result`, and `change` when it changed the state
  added,     // the target started being tracked (new, or re-added after a change)
  removed,   // the target stopped being tracked (removed, or about to be re-added after a change);
             // a fetch of it still in flight is dropped
  stopping,  // the daemon is stopping: every fetch in flight is dropped (`name` is empty)
  reloaded,  // a reload was applied or refused: `ok`, and `detail` its summary (`name` is empty)
  skipped,   // runs skipped because the previous fetch still ran: `slots` (not attempts)
};

struct Event {
  EventKind kind = EventKind::recorded;
  std::string_view name{};
  // The target's state after the event (for `removed`, the state it had).
  State state = State::unknown;
  bool enabled = true;
  std::shared_ptr<const FullResult> result{};  // recorded only
  const StateChange* change = nullptr;         // recorded only, when the state changed
  // added: the target kept its results (a change that kept its URL, or restored at start) rather
  // than starting over; removed: it is about to be added again keeping them.
  bool results_kept = false;
  std::uint64_t slots = 0;    // skipped only
  bool ok = true;             // reloaded only: applied (else refused)
  std::string_view detail{};  // reloaded only
};

class Feed {
 public:
  using Subscriber = std::function<void(const Event&)>;

  // Ends the subscription when destroyed (or on reset()). Must not outlive the feed.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& other) noexcept { *this = std::move(other); }
    Subscription& operator=(Subscription&& other) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { reset(); }
    void reset();

   private:
    friend class Feed;
    Subscription(Feed* feed, std::uint64_t id) : feed_(feed), id_(id) {}
    Feed* feed_ = nullptr;
    std::uint64_t id_ = 0;
  };

  Feed() = default;
  Feed(const Feed&) = delete;
  Feed& operator=(const Feed&) = delete;

  // `name` identifies the subscriber in the log when it throws.
  [[nodiscard]] Subscription subscribe(std::string name, Subscriber subscriber);
  // Delivers to every subscriber registered when it starts; subscribing or unsubscribing from a
  // subscriber is allowed (the change applies from the next event).
  void publish(const Event& event) noexcept;

  std::size_t subscribers() const { return subscribers_.size(); }
  // Exceptions thrown by subscribers so far.
  std::uint64_t failures() const { return failures_; }

 private:
  struct Entry {
    std::uint64_t id;
    std::string name;
    std::shared_ptr<Subscriber> subscriber;
    bool failure_logged = false;
  };
  void unsubscribe(std::uint64_t id);
  void note_failure(std::uint64_t id, const char* what) noexcept;

  std::vector<Entry> subscribers_;
  std::uint64_t next_id_ = 1;
  std::uint64_t failures_ = 0;
};

}  // namespace fetchd::results
