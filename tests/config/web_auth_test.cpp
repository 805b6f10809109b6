// settings.web_auth_file: the credentials read from their own file, each problem of that file at
// its line and column, a file other users may read refused, and a reload's reading of a changed
// file.

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "common/sha256.h"
#include "config/loader.h"
#include "support/temp_dir.h"

namespace fetchd::config {
namespace {

class WebAuthFile : public ::testing::Test {
 protected:
  // Loads a main document naming an auth file of `text` with mode `mode`.
  Checked<Config> load(const std::string& text, mode_t mode = 0600) {
    test::write_file(auth_path_, text);
    ::chmod(auth_path_.c_str(), mode);
    return load_documents(
        {{"fetchd.json", R"({"settings": {"web_auth_file": ")" + auth_path_.string() + "\"}}"}});
  }
  std::string errors_of(const std::string& text, mode_t mode = 0600) {
    const auto loaded = load(text, mode);
    std::string out;
    for (const auto& error : loaded.errors)
      out += (out.empty() ? "" : "\n") + error.to_string();
    return out;
  }
  std::string at(const std::string& rest) const { return auth_path_.string() + rest; }

  test::TempDir dir_{"fetchd-web-auth"};
  std::filesystem::path auth_path_ = dir_.path() / "web-auth.json";
};

TEST_F(WebAuthFile, CredentialsAreKeptAsDigests) {
  const auto loaded = load(R"({
  "_comment": "for Prometheus",
  "basic_auth": {"prometheus": "pa:ss word"},
  "bearer_tokens": ["abc.DEF-123_~+/==", "next"]
})");
  ASSERT_TRUE(loaded) << loaded.error_text();
  const auto& auth = loaded.value->settings.web_auth;
  EXPECT_TRUE(auth.enabled());
  EXPECT_EQ(auth.basic, (std::vector<Sha256Digest>{sha256("prometheus:pa:ss word")}));
  EXPECT_EQ(auth.bearer, (std::vector<Sha256Digest>{sha256("abc.DEF-123_~+/=="), sha256("next")}));
  EXPECT_EQ(loaded.value->settings.web_auth_file, auth_path_.string());
}

TEST_F(WebAuthFile, WithoutTheSettingThereAreNoCredentials) {
  const auto loaded = load_documents({{"fetchd.json", "{}"}});
  ASSERT_TRUE(loaded) << loaded.error_text();
  EXPECT_FALSE(loaded.value->settings.web_auth.enabled());
}

TEST_F(WebAuthFile, EachProblemIsNamedAtItsLineAndColumn) {
  EXPECT_EQ(errors_of("{\n  \"basic_auth\": {\"a:b\": \"x\", \"\": \"y\", \"u\": \"\"},\n"
                      "  \"bearer_tokens\": [\"has space\", 5, \"\"],\n  \"bearer\": []\n}"),
            at(":2:30: /basic_auth/: expected a user name without ':' (RFC 7617), found \"\"\n") +
                at(":2:18: /basic_auth/a:b: expected a user name without ':' (RFC 7617), found "
                   "\"a:b\"\n") +
                at(":2:39: /basic_auth/u: expected a non-empty string, found \"\"\n") +
                at(":4:3: /bearer: unknown key \"bearer\" (expected one of: basic_auth, "
                   "bearer_tokens)\n") +
                at(":3:21: /bearer_tokens/0: expected a token of letters, digits and -._~+/ (then "
                   "'=' padding, RFC 6750)\n") +
                at(":3:34: /bearer_tokens/1: expected a string, found 5\n") +
                at(":3:37: /bearer_tokens/2: expected a non-empty string, found \"\""));
  EXPECT_EQ(errors_of("{\"bearer_tokens\": []}"),
            at(":1:1: no credentials: give basic_auth users or bearer_tokens"));
  EXPECT_EQ(errors_of("{\"basic_auth\": {\"u\": \"p\"},}"),
            at(":1:27: invalid JSON: syntax error while parsing object key - unexpected '}'; "
               "expected string literal"));
}

TEST_F(WebAuthFile, AFileOtherUsersMayReadIsRefused) {
  EXPECT_EQ(errors_of(R"({"bearer_tokens": ["t"]})", 0644),
            at(": other users may read or change this file of secrets (mode 0644): chmod o-rwx "
               "it"));
  EXPECT_EQ(errors_of(R"({"bearer_tokens": ["t"]})", 0640), "");
}

TEST_F(WebAuthFile, OnlyARegularFileIsRead) {
  // A FIFO would block the read (the reload thread) until someone writes to it.
  const auto fifo = dir_.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto loaded = load_documents(
      {{"fetchd.json", R"({"settings": {"web_auth_file": ")" + fifo.string() + "\"}}"}});
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].to_string(),
            fifo.string() + ": settings.web_auth_file is not a regular file");
}

TEST_F(WebAuthFile, AMissingFileIsAnError) {
  const auto loaded =
      load_documents({{"fetchd.json", R"({"settings": {"web_auth_file": ")" +
                                          (dir_.path() / "none.json").string() + "\"}}"}});
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].to_string(),
            (dir_.path() / "none.json").string() +
                ": cannot read settings.web_auth_file: No such file or directory");
}

TEST_F(WebAuthFile, EveryLoadReadsTheFileAgain) {
  ASSERT_TRUE(load(R"({"bearer_tokens": ["old"]})"));
  const auto changed = load(R"({"bearer_tokens": ["new"]})");
  ASSERT_TRUE(changed) << changed.error_text();
  EXPECT_EQ(changed.value->settings.web_auth.bearer, (std::vector<Sha256Digest>{sha256("new")}));
}

}  // namespace
}  // namespace fetchd::config
