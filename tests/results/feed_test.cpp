#include "results/feed.h"

#include <stdexcept>

#include <gtest/gtest.h>

namespace fetchd::results {
namespace {

Event added(std::string_view name) {
  return Event{.kind = EventKind::added, .name = name};
}

TEST(Feed, DeliversToEverySubscriberInRegistrationOrder) {
  Feed feed;
  std::vector<std::string> seen;
  auto first = feed.subscribe(
      "first", [&](const Event& event) { seen.push_back("first " + std::string(event.name)); });
  auto second = feed.subscribe(
      "second", [&](const Event& event) { seen.push_back("second " + std::string(event.name)); });
  EXPECT_EQ(feed.subscribers(), 2u);
  feed.publish(added("a"));
  EXPECT_EQ(seen, (std::vector<std::string>{"first a", "second a"}));
  first.reset();
  feed.publish(added("b"));
  EXPECT_EQ(seen.back(), "second b");
  EXPECT_EQ(feed.subscribers(), 1u);
}

TEST(Feed, AThrowingSubscriberIsCountedAndTheOthersStillHearEveryEvent) {
  Feed feed;
  int heard = 0;
  auto thrower = feed.subscribe("thrower", [](const Event&) { throw std::runtime_error("bug"); });
  auto odd = feed.subscribe("odd", [](const Event&) { throw 42; });
  auto listener = feed.subscribe("listener", [&](const Event&) { ++heard; });
  for (int i = 0; i < 3; ++i)
    feed.publish(added("a"));
  EXPECT_EQ(heard, 3);
  EXPECT_EQ(feed.failures(), 6u);
}

TEST(Feed, SubscribingAndUnsubscribingFromASubscriberTakesEffectFromTheNextEvent) {
  Feed feed;
  std::vector<std::string> seen;
  Feed::Subscription late;
  Feed::Subscription victim;
  auto changer = feed.subscribe("changer", [&](const Event& event) {
    seen.push_back("changer " + std::string(event.name));
    if (event.name == "a") {
      victim.reset();  // registered after this one: not called for "a" either
      late = feed.subscribe(
          "late", [&](const Event& later) { seen.push_back("late " + std::string(later.name)); });
    }
  });
  victim = feed.subscribe(
      "victim", [&](const Event& event) { seen.push_back("victim " + std::string(event.name)); });
  feed.publish(added("a"));
  feed.publish(added("b"));
  EXPECT_EQ(seen, (std::vector<std::string>{"changer a", "changer b", "late b"}));
}

TEST(Feed, ASubscriberMayEndItsOwnSubscriptionWhileCalled) {
  Feed feed;
  int calls = 0;
  Feed::Subscription once;
  once = feed.subscribe("once", [&](const Event&) {
    ++calls;
    once.reset();
  });
  feed.publish(added("a"));
  feed.publish(added("b"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(feed.subscribers(), 0u);
}

TEST(Feed, AMovedSubscriptionEndsOnce) {
  Feed feed;
  int calls = 0;
  auto subscription = feed.subscribe("moved", [&](const Event&) { ++calls; });
  Feed::Subscription moved = std::move(subscription);
  subscription.reset();  // the moved-from one holds nothing
  feed.publish(added("a"));
  EXPECT_EQ(calls, 1);
  moved.reset();
  feed.publish(added("b"));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace fetchd::results
