#include "results/feed.h"

#include <algorithm>
#include <exception>

#include <spdlog/spdlog.h>

namespace fetchd::results {

Feed::Subscription& Feed::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    feed_ = std::exchange(other.feed_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void Feed::Subscription::reset() {
  if (feed_ != nullptr)
    std::exchange(feed_, nullptr)->unsubscribe(id_);
}

Feed::Subscription Feed::subscribe(std::string name, Subscriber subscriber) {
  const std::uint64_t id = next_id_++;
  subscribers_.push_back(
      {id, std::move(name), std::make_shared<Subscriber>(std::move(subscriber)), false});
  return {this, id};
}

void Feed::unsubscribe(std::uint64_t id) {
  // Erasing is safe even during publish(): it walks by id, not by position.
  std::erase_if(subscribers_, [id](const Entry& entry) { return entry.id == id; });
}

void Feed::publish(const Event& event) noexcept {
  // Ids in increasing order: those registered during this call are above `last` and wait for the
  // next event; those removed meanwhile are simply not found.
  const std::uint64_t last = next_id_ - 1;
  std::uint64_t next = 0;
  for (;;) {
    const auto entry = std::lower_bound(
        subscribers_.begin(), subscribers_.end(), next,
        [](const Entry& candidate, std::uint64_t id) { return candidate.id < id; });
    if (entry == subscribers_.end() || entry->id > last)
      return;
    next = entry->id + 1;
    // Kept alive for the call even if the subscriber unsubscribes from inside it.
    const auto subscriber = entry->subscriber;
    const std::uint64_t id = entry->id;
    try {
      (*subscriber)(event);
    } catch (const std::exception& error) {
      note_failure(id, error.what());
    } catch (...) {
      note_failure(id, "an exception that is not a std::exception");
    }
  }
}

void Feed::note_failure(std::uint64_t id, const char* what) noexcept {
  ++failures_;
  const auto entry = std::find_if(subscribers_.begin(), subscribers_.end(),
                                  [id](const Entry& candidate) { return candidate.id == id; });
  if (entry == subscribers_.end() || entry->failure_logged)
    return;
  entry->failure_logged = true;
  try {
    spdlog::error("results feed: subscriber {} threw: {}; further failures are only counted",
                  entry->name, what);
  } catch (...) {  // NOLINT(bugprone-empty-catch): logging must not end the publish
  }
}

}  // namespace fetchd::results
