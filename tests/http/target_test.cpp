#include "http/target.h"

#include <gtest/gtest.h>

namespace fetchd::http {
namespace {

Target with_header(std::string name, std::string value) {
  auto target = make_target("http://127.0.0.1/");
  EXPECT_TRUE(target);
  target->headers.push_back({std::move(name), std::move(value)});
  return *target;
}

TEST(Target, DefaultsMatchTheDocumentedOnes) {
  auto target = make_target("http://example.test/");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->method, Method::get);
  EXPECT_EQ(target->timeout, std::chrono::seconds(10));
  EXPECT_EQ(target->max_header_bytes, 64u * 1024);
  EXPECT_EQ(target->max_body_bytes, 1024u * 1024);
  EXPECT_TRUE(target->tls.verify_peer);
  EXPECT_EQ(target->max_redirects, 0);
  EXPECT_TRUE(validate(*target));
}

TEST(Target, AcceptsOrdinaryHeaders) {
  EXPECT_TRUE(validate(with_header("X-Probe", "fetchd\tv1")));
  EXPECT_TRUE(validate(with_header("Authorization", "Bearer abc")));
}

TEST(Target, RejectsHeadersThatCouldInjectOrReframe) {
  const struct {
    std::string name;
    std::string value;
    std::string why;
  } cases[] = {
      {"X-A", "1\r\nX-Injected: 2", "control character"},
      {"X-A", "1\n", "control character"},
      {"X-A", std::string("a\0b", 3), "control character"},
      {"X A", "1", "not a valid token"},
      {"X:A", "1", "not a valid token"},
      {"", "1", "not a valid token"},
      {"Connection", "keep-alive", "managed by fetchd"},
      {"content-length", "5", "managed by fetchd"},
      {"Transfer-Encoding", "chunked", "managed by fetchd"},
  };
  for (const auto& c : cases) {
    auto result = validate(with_header(c.name, c.value));
    ASSERT_FALSE(result) << c.name;
    EXPECT_NE(result.error().message.find(c.why), std::string::npos) << result.error().message;
  }
}

TEST(Target, RejectsBadLimits) {
  auto target = *make_target("http://127.0.0.1/");
  target.timeout = std::chrono::milliseconds(0);
  EXPECT_FALSE(validate(target));
  target = *make_target("http://127.0.0.1/");
  target.max_redirects = 21;
  EXPECT_FALSE(validate(target));
  target = *make_target("http://127.0.0.1/");
  target.tls.server_name = "bad\r\nname";
  EXPECT_FALSE(validate(target));
}

}  // namespace
}  // namespace fetchd::http
