#include "state/silences_file.h"

#include <filesystem>
#include <string>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "state/atomic_file.h"
#include "support/temp_dir.h"

namespace fetchd::state {
namespace {

using namespace std::chrono_literals;
using test::TempDir;

const auto kCreated = std::chrono::system_clock::time_point(std::chrono::seconds(1'764'000'000));

std::string load_error(const SilencesFile& file, const std::string& contents) {
  test::write_file(file.path(), contents);
  auto loaded = file.load();
  EXPECT_FALSE(loaded) << "loaded: " << contents;
  return loaded ? std::string() : loaded.error().message;
}

TEST(SilencesFile, AMissingFileIsNoSilences) {
  TempDir dir("fetchd-silences");
  const SilencesFile file(dir.path() / "missing-dir" / "silences.json");
  auto loaded = file.load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->size(), 0u);
  EXPECT_EQ(loaded->next_id(), 1u);
}

TEST(SilencesFile, RoundTripOneSilencePerLinePrivateFile) {
  TempDir dir("fetchd-silences");
  const SilencesFile file(dir.path() / "state" / "silences.json");
  alerts::Silences silences;
  ASSERT_TRUE(silences.add({.name = "web",
                            .created = kCreated,
                            .until = kCreated + 2h,
                            .comment = "swap \"disk\"\n北京"}));
  ASSERT_TRUE(
      silences.add({.labels = {{"env", "prod"}}, .created = kCreated, .until = kCreated + 1h}));
  silences.remove(1);
  ASSERT_FALSE(file.save(silences));  // creates the state directory
  auto loaded = file.load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->all(), silences.all());
  EXPECT_EQ(loaded->next_id(), 3u);

  std::string text;
  ASSERT_FALSE(read_file(file.path(), text));
  EXPECT_EQ(text,
            "{\n  \"version\": 1,\n  \"next_id\": 3,\n  \"silences\": [\n"
            "    {\"comment\":\"\",\"created_ms\":1764000000000,\"id\":2,\"labels\":{\"env\":"
            "\"prod\"},\"name\":null,\"until_ms\":1764003600000}\n  ]\n}\n");
  struct stat info {};
  ASSERT_EQ(::stat(file.path().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  ASSERT_FALSE(file.save(alerts::Silences{}));
  ASSERT_FALSE(read_file(file.path(), text));
  EXPECT_EQ(text, "{\n  \"version\": 1,\n  \"next_id\": 1,\n  \"silences\": []\n}\n");
}

TEST(SilencesFile, ADamagedFileNamesItselfAndWhatIsWrong) {
  TempDir dir("fetchd-silences");
  const SilencesFile file(dir.path() / "silences.json");
  const std::string path = file.path().string();
  EXPECT_EQ(load_error(file, "{\"version\": 1,\n \"next_id\": }"),
            path +
                ": invalid JSON: parse error at line 2, column 13: syntax error while parsing "
                "value - unexpected '}'; expected '[', '{', or a literal");
  EXPECT_EQ(load_error(file, R"({"version": 1, "next_id": 1, "silences": [{"id": 1, "name": "a",
                                 "created_ms": 0, "until_ms": 60000}]})"),
            path + ": /silences/0/id: id 1 is not below next_id 1");
  EXPECT_EQ(load_error(file, R"({"version": 7})"),
            path + ": /version: unsupported version 7 (this fetchd reads version 1)");
}

TEST(SilencesFile, AnUnwritableStateDirectoryIsAnError) {
  TempDir dir("fetchd-silences");
  test::write_file(dir.path() / "state", "not a directory");
  const SilencesFile file(dir.path() / "state" / "silences.json");
  EXPECT_TRUE(file.save(alerts::Silences{}));
}

}  // namespace
}  // namespace fetchd::state
