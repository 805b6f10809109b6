#include "http/url.h"

#include <gtest/gtest.h>

namespace fetchd::http {
namespace {

TEST(Url, ParsesHostPortAndTarget) {
  auto url = parse_url("HTTP://WWW.Example.COM:8080/a/b?x=1#frag");
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_EQ(url->scheme, "http");
  EXPECT_EQ(url->host, "www.example.com");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->target, "/a/b?x=1");
  EXPECT_EQ(url->authority(), "www.example.com:8080");
  EXPECT_EQ(url->to_string(), "http://www.example.com:8080/a/b?x=1");
}

TEST(Url, DefaultsPortAndPath) {
  auto https = parse_url("https://example.test");
  ASSERT_TRUE(https);
  EXPECT_EQ(https->port, 443);
  EXPECT_EQ(https->target, "/");
  EXPECT_EQ(https->authority(), "example.test");
  auto query_only = parse_url("http://example.test?q=1");
  ASSERT_TRUE(query_only);
  EXPECT_EQ(query_only->target, "/?q=1");
}

TEST(Url, AcceptsIpLiterals) {
  auto v6 = parse_url("http://[::1]:8080/x");
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_TRUE(v6->host_is_ipv6_literal);
  EXPECT_EQ(v6->authority(), "[::1]:8080");
  auto v6_default = parse_url("https://[2001:DB8::1]/");
  ASSERT_TRUE(v6_default);
  EXPECT_EQ(v6_default->authority(), "[2001:db8::1]");
  auto v4 = parse_url("http://127.0.0.1:81/");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_FALSE(v4->host_is_ipv6_literal);
}

TEST(Url, RejectsWhatCouldInjectOrIsUnsupported) {
  const struct {
    const char* text;
    const char* why;
  } cases[] = {
      {"http://example.test/a\r\nX-Injected: 1", "control"},
      {"http://example.test/a\nb", "control"},
      {"http://example.test/a b", "space"},
      {"http://exa\tmple.test/", "control"},
      {"http://example.test/\x7f", "control"},
      {"http://example.test/\xc3\xa9", "non-ASCII"},
      {"ftp://example.test/", "scheme"},
      {"example.test/", "http://"},
      {"http://user:pw@example.test/", "user information"},
      {"http://:80/", "missing host"},
      {"http://example.test:0/", "port"},
      {"http://example.test:65536/", "port"},
      {"http://example.test:12ab/", "port"},
      {"http://example.test:/", "empty port"},
      {"http://[::1/", "unterminated"},
      {"http://[not-v6]/", "IPv6"},
      {"http://[::1]x/", "after IPv6"},
      {"http://exa%mple.test/", "host"},
  };
  for (const auto& c : cases) {
    auto url = parse_url(c.text);
    ASSERT_FALSE(url) << c.text;
    EXPECT_NE(url.error().message.find(c.why), std::string::npos)
        << c.text << " -> " << url.error().message;
  }
}

TEST(Url, ResolvesRedirectReferences) {
  auto base = parse_url("https://a.test:8443/dir/page?x=1");
  ASSERT_TRUE(base);
  EXPECT_EQ(base->resolve_reference("http://b.test/z")->to_string(), "http://b.test/z");
  EXPECT_EQ(base->resolve_reference("//c.test/y")->to_string(), "https://c.test/y");
  EXPECT_EQ(base->resolve_reference("/root?q")->to_string(), "https://a.test:8443/root?q");
  EXPECT_EQ(base->resolve_reference("other")->to_string(), "https://a.test:8443/dir/other");
  EXPECT_EQ(base->resolve_reference("?y=2")->to_string(), "https://a.test:8443/dir/page?y=2");
  EXPECT_FALSE(base->resolve_reference("/a\r\nb"));
}

}  // namespace
}  // namespace fetchd::http
