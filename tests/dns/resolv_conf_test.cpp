#include "dns/resolv_conf.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace fetchd::dns {
namespace {

using namespace std::chrono_literals;

RetryOptions from_text(std::string_view text) {
  RetryOptions options;
  apply_resolv_conf(text, "resolv.conf", options);
  return options;
}

TEST(ResolvConf, WithoutOptionsGlibcsDefaultsApply) {
  const auto options = from_text("nameserver 192.0.2.1\nsearch example.test\n");
  EXPECT_EQ(options.timeout, 5s);
  EXPECT_EQ(options.attempts, 2);
  EXPECT_EQ(options.source, "defaults");
}

TEST(ResolvConf, TimeoutAndAttemptsFromOptionsLines) {
  const auto options = from_text("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n");
  EXPECT_EQ(options.timeout, 2s);
  EXPECT_EQ(options.attempts, 1);
  EXPECT_EQ(options.source, "resolv.conf");
}

TEST(ResolvConf, TheLastValueWinsAndOtherOptionsAreIgnored) {
  const auto options = from_text(
      "options rotate timeout:3\r\n"
      "options\tndots:2 attempts:4\n"
      "# options timeout:9\n"
      "; options attempts:5\n"
      "options edns0 timeout:1\n");
  EXPECT_EQ(options.timeout, 1s);
  EXPECT_EQ(options.attempts, 4);
}

TEST(ResolvConf, ValuesAreBoundedAsGlibcBoundsThem) {
  auto options = from_text("options timeout:99 attempts:99\n");
  EXPECT_EQ(options.timeout, 30s);
  EXPECT_EQ(options.attempts, 5);
  options = from_text("options timeout:0 attempts:0\n");
  EXPECT_EQ(options.timeout, 1s);
  EXPECT_EQ(options.attempts, 1);
  options = from_text("options timeout:99999999999999999999 attempts:x timeout:\n");
  EXPECT_EQ(options.timeout, 30s);
  EXPECT_EQ(options.attempts, 2);
}

TEST(ResolvConf, ResOptionsApplyAfterTheFile) {
  const test::TempDir dir("resolv-conf");
  test::write_file(dir.path() / "resolv.conf", "options timeout:2 attempts:3\n");
  ::setenv("RES_OPTIONS", "attempts:1", 1);
  const auto options = system_retry_options(dir.path() / "resolv.conf");
  ::unsetenv("RES_OPTIONS");
  EXPECT_EQ(options.timeout, 2s);
  EXPECT_EQ(options.attempts, 1);
  EXPECT_EQ(options.source, "RES_OPTIONS");
}

TEST(ResolvConf, AMissingFileGivesTheDefaults) {
  const test::TempDir dir("resolv-conf");
  const auto options = system_retry_options(dir.path() / "absent");
  EXPECT_EQ(options.timeout, 5s);
  EXPECT_EQ(options.attempts, 2);
  EXPECT_EQ(options.source, "defaults");
}

}  // namespace
}  // namespace fetchd::dns
