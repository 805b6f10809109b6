#include "metrics/loop_lag.h"

#include <algorithm>

namespace fetchd::metrics {

void LoopLag::start() {
  stopped_ = false;
  due_ = std::chrono::steady_clock::now() + kPeriod;
  arm();
}

void LoopLag::stop() {
  stopped_ = true;
  timer_.cancel();
}

void LoopLag::arm() {
  timer_.expires_at(due_);
  timer_.async_wait([this](std::error_code error) {
    if (error || stopped_)
      return;
    const auto now = std::chrono::steady_clock::now();
    samples_[next_] = now - due_;
    next_ = (next_ + 1) % kSamples;
    // Due again one period from now: a long stall counts once, not as a burst of late timers.
    due_ = now + kPeriod;
    arm();
  });
}

double LoopLag::max_seconds() const {
  const auto most = *std::max_element(samples_.begin(), samples_.end());
  return std::chrono::duration<double>(most).count();
}

}  // namespace fetchd::metrics
