#include "state/atomic_file.h"

#include <filesystem>
#include <set>
#include <string>
#include <sys/stat.h>
#include <sys/types.h>
#include <system_error>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace fetchd::state {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// Names of the entries of `dir`.
std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Sets the umask for the scope of a test, so modes can be checked exactly.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(previous_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t previous_;
};

TEST(AtomicFile, WritesReplacesAndReadsBack) {
  TempDir dir("fetchd-atomic");
  const auto path = dir.path() / "data.json";
  ASSERT_FALSE(write_file_atomically(path, "first"));
  std::string contents;
  ASSERT_FALSE(read_file(path, contents));
  EXPECT_EQ(contents, "first");

  const std::string big(3 * 1024 * 1024 + 17, 'x');  // several write() calls and read chunks
  ASSERT_FALSE(write_file_atomically(path, big));
  ASSERT_FALSE(read_file(path, contents));
  EXPECT_EQ(contents, big);

  ASSERT_FALSE(write_file_atomically(path, ""));
  ASSERT_FALSE(read_file(path, contents));
  EXPECT_EQ(contents, "");

  EXPECT_EQ(entries(dir.path()), std::set<std::string>{"data.json"}) << "no temp file is left";
}

TEST(AtomicFile, WritesOwnerOnlyMode) {
  ScopedUmask umask(022);
  TempDir dir("fetchd-atomic");
  const auto path = dir.path() / "data.json";
  ASSERT_FALSE(write_file_atomically(path, "x"));
  EXPECT_EQ(mode_of(path), 0600);

  // A replaced file gets the state file mode, whatever the old one had.
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  ASSERT_FALSE(write_file_atomically(path, "y"));
  EXPECT_EQ(mode_of(path), 0600);
}

TEST(AtomicFile, RelativePathUsesCurrentDirectory) {
  TempDir dir("fetchd-atomic");
  const auto previous = fs::current_path();
  fs::current_path(dir.path());
  const auto ec = write_file_atomically("relative.json", "r");
  fs::current_path(previous);
  ASSERT_FALSE(ec) << ec.message();
  std::string contents;
  ASSERT_FALSE(read_file(dir.path() / "relative.json", contents));
  EXPECT_EQ(contents, "r");
}

TEST(AtomicFile, RejectsPathWithoutFileName) {
  TempDir dir("fetchd-atomic");
  EXPECT_EQ(write_file_atomically(dir.path() / "", "x"), std::errc::invalid_argument);
}

TEST(AtomicFile, WriteUnderRegularFileFailsWithNotADirectory) {
  // Works even as root, which bypasses permission bits.
  TempDir dir("fetchd-atomic");
  test::write_file(dir.path() / "plain", "not a directory");
  EXPECT_EQ(write_file_atomically(dir.path() / "plain" / "data.json", "x"),
            std::errc::not_a_directory);
  EXPECT_EQ(entries(dir.path()), std::set<std::string>{"plain"});
}

TEST(AtomicFile, FailedRenameRemovesTempFileAndKeepsTarget) {
  TempDir dir("fetchd-atomic");
  const auto path = dir.path() / "data.json";
  fs::create_directory(path);  // rename(2) of a file over a directory fails with EISDIR
  test::write_file(path / "inside", "kept");
  EXPECT_EQ(write_file_atomically(path, "x"), std::errc::is_a_directory);
  EXPECT_EQ(entries(dir.path()), std::set<std::string>{"data.json"}) << "temp file removed";
  EXPECT_EQ(entries(path), std::set<std::string>{"inside"});
}

TEST(AtomicFile, WriteIntoUnwritableDirectoryFails) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root bypasses permission bits";
  }
  TempDir dir("fetchd-atomic");
  const auto locked = dir.path() / "locked";
  fs::create_directory(locked);
  test::write_file(locked / "data.json", "old");
  ASSERT_EQ(::chmod(locked.c_str(), 0500), 0);
  const auto ec = write_file_atomically(locked / "data.json", "new");
  ASSERT_EQ(::chmod(locked.c_str(), 0700), 0);
  EXPECT_EQ(ec, std::errc::permission_denied) << ec.message();
  std::string contents;
  ASSERT_FALSE(read_file(locked / "data.json", contents));
  EXPECT_EQ(contents, "old");
}

TEST(AtomicFile, ReadMissingFileIsNoSuchFile) {
  TempDir dir("fetchd-atomic");
  std::string contents = "stale";
  EXPECT_EQ(read_file(dir.path() / "missing.json", contents), std::errc::no_such_file_or_directory);
  EXPECT_EQ(contents, "");
  EXPECT_EQ(read_file(dir.path() / "no-dir" / "missing.json", contents),
            std::errc::no_such_file_or_directory);
}

TEST(AtomicFile, ReadEnforcesSizeBound) {
  TempDir dir("fetchd-atomic");
  const auto path = dir.path() / "data.json";
  test::write_file(path, "hello");
  std::string contents;
  EXPECT_FALSE(read_file(path, contents, 5));
  EXPECT_EQ(contents, "hello");
  EXPECT_EQ(read_file(path, contents, 4), std::errc::file_too_large);
  EXPECT_EQ(contents, "");

  // A sparse file just over the default bound: refused from its size, nothing is allocated.
  const auto huge = dir.path() / "huge.json";
  test::write_file(huge, "");
  fs::resize_file(huge, kMaxStateFileBytes + 1);
  EXPECT_EQ(read_file(huge, contents), std::errc::file_too_large);
}

TEST(AtomicFile, ReadRefusesWhatIsNotARegularFile) {
  TempDir dir("fetchd-atomic");
  std::string contents;
  EXPECT_EQ(read_file(dir.path(), contents), std::errc::is_a_directory);
  // A FIFO without a writer would block a plain open(); it must be refused at once.
  const auto fifo = dir.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(read_file(fifo, contents), std::errc::invalid_argument);
}

TEST(AtomicFile, RemovesStaleTempFilesOfThatFileOnly) {
  TempDir dir("fetchd-atomic");
  const auto path = dir.path() / "targets.json";
  test::write_file(path, "current");
  for (const char* name : {"targets.json.tmp.123.0", "targets.json.tmp.x", "targets.json.tmp",
                           "targets.json.tmpfoo", "other.json.tmp.1.0"}) {
    test::write_file(dir.path() / name, "leftover");
  }
  fs::create_directory(dir.path() / "targets.json.tmp.dir");  // not a file we make: kept
  fs::create_symlink(path, dir.path() / "targets.json.tmp.link");

  EXPECT_FALSE(remove_stale_temp_files(path));
  EXPECT_EQ(entries(dir.path()),
            (std::set<std::string>{"targets.json", "targets.json.tmp", "targets.json.tmpfoo",
                                   "other.json.tmp.1.0", "targets.json.tmp.dir",
                                   "targets.json.tmp.link"}));
  std::string contents;
  ASSERT_FALSE(read_file(path, contents));
  EXPECT_EQ(contents, "current");

  EXPECT_FALSE(remove_stale_temp_files(dir.path() / "missing-dir" / "targets.json"));
}

TEST(AtomicFile, EnsureDirectoryCreatesParentsWithMode) {
  ScopedUmask umask(022);
  TempDir dir("fetchd-atomic");
  const auto nested = dir.path() / "a" / "b" / "c";
  ASSERT_FALSE(ensure_directory(nested));
  EXPECT_TRUE(fs::is_directory(nested));
  EXPECT_EQ(mode_of(dir.path() / "a"), 0750);
  EXPECT_EQ(mode_of(nested), 0750);

  EXPECT_FALSE(ensure_directory(nested)) << "an existing directory is fine";
  EXPECT_FALSE(ensure_directory(dir.path() / "trailing" / "")) << "trailing separator";
  EXPECT_TRUE(fs::is_directory(dir.path() / "trailing"));
  EXPECT_FALSE(ensure_directory(""));

  test::write_file(dir.path() / "plain", "x");
  EXPECT_EQ(ensure_directory(dir.path() / "plain"), std::errc::not_a_directory);
  EXPECT_EQ(ensure_directory(dir.path() / "plain" / "sub"), std::errc::not_a_directory);
}

}  // namespace
}  // namespace fetchd::state
