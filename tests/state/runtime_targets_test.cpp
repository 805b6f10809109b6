#include "state/runtime_targets.h"

#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "state/atomic_file.h"
#include "support/temp_dir.h"

namespace fetchd::state {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::TempDir;

std::vector<json> sample_targets() {
  return {
      json::parse(R"({"name": "www.163.com", "url": "http://www.163.com/"})"),
      json::parse(R"({"name": "api", "url": "https://api.example/health?x=1", "interval": "30s",
                      "headers": {"Authorization": "Bearer t0k\"en"},
                      "labels": {"team": "payments", "city": "北京"},
                      "expect": {"status": [200, "300-399"], "max_latency": "250ms"}})"),
      json::parse(R"({"name": "empty-object-fields", "labels": {}, "headers": {}})"),
  };
}

std::string read_text(const fs::path& path) {
  std::string text;
  EXPECT_FALSE(read_file(path, text)) << path;
  return text;
}

// The load error for a file holding `contents`; fails the test if it loads.
std::string load_error(const fs::path& path, const std::string& contents) {
  test::write_file(path, contents);
  auto loaded = RuntimeTargetsFile(path).load();
  EXPECT_FALSE(loaded) << "loaded: " << contents;
  return loaded ? std::string() : loaded.error().message;
}

TEST(RuntimeTargets, RoundTripKeepsTargetsAndOrder) {
  TempDir dir("fetchd-state");
  const RuntimeTargetsFile file(dir.path() / "targets.json");
  EXPECT_EQ(file.path(), dir.path() / "targets.json");

  const auto targets = sample_targets();
  ASSERT_FALSE(file.save(targets));
  auto loaded = file.load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(*loaded, targets);

  const std::vector<json> fewer = {targets[1]};
  ASSERT_FALSE(file.save(fewer));
  loaded = file.load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(*loaded, fewer);

  ASSERT_FALSE(file.save({}));
  loaded = file.load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(loaded->empty());
}

TEST(RuntimeTargets, DocumentIsVersionedWithOneTargetPerLine) {
  TempDir dir("fetchd-state");
  const RuntimeTargetsFile file(dir.path() / "targets.json");
  ASSERT_FALSE(file.save(
      {json::parse(R"({"url": "http://b/", "name": "b"})"), json::parse(R"({"name": "a"})")}));
  EXPECT_EQ(read_text(file.path()),
            "{\n"
            "  \"version\": 1,\n"
            "  \"targets\": [\n"
            "    {\"name\":\"b\",\"url\":\"http://b/\"},\n"
            "    {\"name\":\"a\"}\n"
            "  ]\n"
            "}\n");
  ASSERT_FALSE(file.save({}));
  EXPECT_EQ(read_text(file.path()), "{\n  \"version\": 1,\n  \"targets\": []\n}\n");
}

TEST(RuntimeTargets, MissingFileOrDirectoryIsEmpty) {
  TempDir dir("fetchd-state");
  for (const auto& path : {dir.path() / "targets.json", dir.path() / "no-dir" / "targets.json"}) {
    auto loaded = RuntimeTargetsFile(path).load();
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_TRUE(loaded->empty());
  }
  EXPECT_FALSE(fs::exists(dir.path() / "no-dir")) << "load creates nothing";
}

TEST(RuntimeTargets, JsonSyntaxErrorNamesFileLineAndColumn) {
  TempDir dir("fetchd-state");
  const auto path = dir.path() / "targets.json";
  EXPECT_EQ(load_error(path,
                       "{\n"
                       "  \"version\": 1,\n"
                       "  \"targets\": [\n"
                       "    {\"name\": x}\n"
                       "  ]\n"
                       "}\n"),
            path.string() +
                ": invalid JSON at line 4, column 14: syntax error while parsing value - invalid "
                "literal; last read: '\"name\": x'");

  // A cut-off document (what a non-atomic writer leaves after a crash).
  const auto truncated = load_error(path, "{\n  \"version\": 1,\n  \"targets\": [\n    {\"na");
  EXPECT_EQ(truncated.rfind(path.string() + ": invalid JSON at line 4, column 8: ", 0), 0)
      << truncated;

  const auto empty = load_error(path, "");
  EXPECT_EQ(empty.rfind(path.string() + ": invalid JSON at line 1, column 0: ", 0), 0) << empty;
}

TEST(RuntimeTargets, UnknownVersionIsAnError) {
  TempDir dir("fetchd-state");
  const auto path = dir.path() / "targets.json";
  EXPECT_EQ(load_error(path, R"({"version": 2, "targets": [], "new_field": true})"),
            path.string() + ": /version: unsupported version 2 (this fetchd reads version 1)");
  EXPECT_EQ(load_error(path, R"({"version": 1.0, "targets": []})"),
            path.string() + ": /version: expected an integer, found number");
  EXPECT_EQ(load_error(path, R"({"version": "1", "targets": []})"),
            path.string() + ": /version: expected an integer, found string");
  EXPECT_EQ(load_error(path, R"({"targets": []})"),
            path.string() + ": /version: missing (expected 1)");
}

TEST(RuntimeTargets, DocumentErrorsNameTheJsonPointer) {
  TempDir dir("fetchd-state");
  const auto path = dir.path() / "targets.json";
  const struct {
    const char* contents;
    std::string message;
  } cases[] = {
      {R"([])", "expected an object with \"version\" and \"targets\", found array"},
      {R"({"version": 1})", "/targets: missing (expected an array)"},
      {R"({"version": 1, "targets": {}})", "/targets: expected an array, found object"},
      {R"({"version": 1, "targets": [{}, "www.163.com"]})",
       "/targets/1: expected a target object, found string"},
      {R"({"version": 1, "targets": [], "target": []})", "/target: unknown key"},
      {R"({"version": 1, "targets": [], "a/b": 0})", "/a~1b: unknown key"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(load_error(path, c.contents), path.string() + ": " + c.message);
  }
}

TEST(RuntimeTargets, OversizedFileIsAnErrorNotAnAllocation) {
  TempDir dir("fetchd-state");
  const auto path = dir.path() / "targets.json";
  test::write_file(path, "");
  fs::resize_file(path, kMaxStateFileBytes + 1);
  auto loaded = RuntimeTargetsFile(path).load();
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().message, path.string() + ": larger than 64 MiB, refusing to read it");
}

TEST(RuntimeTargets, SaveCreatesStateDirectoryWithModes) {
  const mode_t previous_umask = ::umask(022);
  TempDir dir("fetchd-state");
  const RuntimeTargetsFile file(dir.path() / "var" / "lib" / "fetchd" / "targets.json");
  const auto ec = file.save(sample_targets());
  ::umask(previous_umask);
  ASSERT_FALSE(ec) << ec.message();
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "var" / "lib" / "fetchd").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750);
  ASSERT_EQ(::stat(file.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600);
  auto loaded = file.load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(*loaded, sample_targets());
}

TEST(RuntimeTargets, SaveRefusesWhatItCannotStoreAndWritesNothing) {
  TempDir dir("fetchd-state");
  const RuntimeTargetsFile file(dir.path() / "state" / "targets.json");
  EXPECT_EQ(file.save({json::object(), json("www.163.com")}), std::errc::invalid_argument);
  EXPECT_EQ(file.save({json{{"name", std::string("bad\xff utf-8")}}}), std::errc::invalid_argument);
  EXPECT_FALSE(fs::exists(dir.path() / "state"));
}

TEST(RuntimeTargets, PathUnderRegularFileFailsEvenAsRoot) {
  TempDir dir("fetchd-state");
  test::write_file(dir.path() / "plain", "x");
  const RuntimeTargetsFile file(dir.path() / "plain" / "state" / "targets.json");
  EXPECT_EQ(file.save(sample_targets()), std::errc::not_a_directory);
  const RuntimeTargetsFile direct(dir.path() / "plain" / "targets.json");
  EXPECT_EQ(direct.save(sample_targets()), std::errc::not_a_directory);
  auto loaded = direct.load();
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().message, direct.path().string() + ": cannot read: Not a directory");
}

TEST(RuntimeTargets, PermissionErrorsWithoutRoot) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root bypasses permission bits (PathUnderRegularFileFailsEvenAsRoot covers "
                    "the error path as root)";
  }
  TempDir dir("fetchd-state");
  const auto locked = dir.path() / "locked";
  fs::create_directory(locked);
  const RuntimeTargetsFile file(locked / "targets.json");
  ASSERT_FALSE(file.save(sample_targets()));
  ASSERT_EQ(::chmod(locked.c_str(), 0500), 0);
  EXPECT_EQ(file.save({}), std::errc::permission_denied);
  ASSERT_EQ(::chmod(file.path().c_str(), 0), 0);
  auto loaded = file.load();
  ASSERT_EQ(::chmod(locked.c_str(), 0700), 0);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().message, file.path().string() + ": cannot read: Permission denied");
}

TEST(RuntimeTargets, LoadRemovesLeftoverTempFiles) {
  TempDir dir("fetchd-state");
  const RuntimeTargetsFile file(dir.path() / "targets.json");
  ASSERT_FALSE(file.save(sample_targets()));
  test::write_file(dir.path() / "targets.json.tmp.4242.0", "{\"version\": 1, \"targ");
  test::write_file(dir.path() / "targets.json.tmp.1.7", "");
  auto loaded = file.load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(*loaded, sample_targets());
  EXPECT_FALSE(fs::exists(dir.path() / "targets.json.tmp.4242.0"));
  EXPECT_FALSE(fs::exists(dir.path() / "targets.json.tmp.1.7"));

  // Also when the state file itself was never written (killed during the very first save).
  fs::remove(file.path());
  test::write_file(dir.path() / "targets.json.tmp.9.0", "{");
  loaded = file.load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(loaded->empty());
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
}  // namespace fetchd::state
