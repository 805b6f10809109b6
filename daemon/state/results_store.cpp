#include "state/results_store.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <isa-l/crc.h>
#include <ranges>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include "common/binary.h"
#include "results/codec.h"
#include "state/atomic_file.h"

namespace fetchd::state {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;
using results::FlapPolicy;
using results::TargetResults;

constexpr std::string_view kFileMagic = "FETCHDRS";
constexpr std::uint32_t kRecordMagic = 0xd1c7f3a5;
constexpr std::size_t kFrameBytes = 12;
constexpr std::size_t kMaxPayload = std::size_t{64} << 20;
constexpr std::size_t kMaxName = std::size_t{64} << 10;
constexpr std::size_t kChunkBytes = std::size_t{256} << 10;
constexpr std::size_t kWriteBufferBytes = std::size_t{1} << 20;
// A snapshot is due once the logs since the last one are twice as large as it (and at least this
// large): each result is then written once in the log and, amortised, half again in snapshots
// (measured by bench/store_bench: 1.8x the encoded attempt), and the disk holds at most about
// four snapshots' worth (the snapshot, its logs, the next one being written).
constexpr std::uint64_t kMinLogBytes = std::uint64_t{1} << 20;
constexpr std::uint64_t kLogsPerSnapshot = 2;
// After records were lost to a write error, a snapshot is tried again after this, doubling after
// each failed try up to the maximum.
constexpr auto kFirstRetry = std::chrono::seconds(5);
constexpr auto kMaxRetry = std::chrono::seconds(300);

enum RecordKind : std::uint8_t {
  kHeader = 1,
  kPut = 2,
  kResult = 3,
  kRemoved = 4,
  kSkipped = 5,
  kTarget = 6,
  kEnd = 7,
};
enum FileKind : std::uint8_t { kLogFile = 0, kSnapshotFile = 1 };

std::uint32_t crc_of(std::string_view bytes) {
  // ISA-L's interface is not const-correct; it does not write to the buffer.
  auto* data = reinterpret_cast<unsigned char*>(const_cast<char*>(bytes.data()));
  return crc32_iscsi(data, static_cast<int>(bytes.size()), 0xffffffffU);
}

void put_u32(std::string& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}
std::uint32_t get_u32(std::string_view bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i)
    value |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return value;
}

// The length of a whole, intact record at `at`, if there is one.
std::optional<std::size_t> record_at(std::string_view bytes, std::size_t at) {
  if (bytes.size() - at < kFrameBytes || get_u32(bytes, at) != kRecordMagic)
    return std::nullopt;
  const std::size_t length = get_u32(bytes, at + 4);
  if (length > kMaxPayload || length > bytes.size() - at - kFrameBytes)
    return std::nullopt;
  if (crc_of(bytes.substr(at + kFrameBytes, length)) != get_u32(bytes, at + 8))
    return std::nullopt;
  return length;
}

struct Name {
  FileKind kind;
  std::uint64_t generation;
};

// "results-<G>.log" / "results-<G>.snapshot"; anything else is not the store's.
std::optional<Name> parse_name(std::string_view file) {
  constexpr std::string_view prefix = "results-";
  if (!file.starts_with(prefix))
    return std::nullopt;
  file.remove_prefix(prefix.size());
  std::uint64_t generation = 0;
  const auto [end, error] = std::from_chars(file.data(), file.data() + file.size(), generation);
  if (error != std::errc() || end == file.data())
    return std::nullopt;
  const std::string_view suffix(end, static_cast<std::size_t>(file.data() + file.size() - end));
  if (suffix == ".log")
    return Name{kLogFile, generation};
  if (suffix == ".snapshot")
    return Name{kSnapshotFile, generation};
  return std::nullopt;
}

fs::path file_of(const fs::path& dir, FileKind kind, std::uint64_t generation) {
  return dir /
         ("results-" + std::to_string(generation) + (kind == kLogFile ? ".log" : ".snapshot"));
}

std::string errno_text(int error) {
  return std::strerror(error);
}

// A read-only view of a whole file, mapped rather than read so that a large snapshot costs page
// cache, not a copy.
class MappedFile {
 public:
  static Expected<MappedFile> open(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
      return Error{path.string() + ": " + errno_text(errno)};
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
      const int error = errno;
      ::close(fd);
      return Error{path.string() + ": " + (error != 0 ? errno_text(error) : "not a regular file")};
    }
    MappedFile file;
    file.size_ = static_cast<std::size_t>(info.st_size);
    if (file.size_ > 0) {
      void* data = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (data == MAP_FAILED) {
        const int error = errno;
        ::close(fd);
        return Error{path.string() + ": " + errno_text(error)};
      }
      file.data_ = data;
    }
    ::close(fd);
    return file;
  }
  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  MappedFile& operator=(MappedFile&&) = delete;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ != nullptr)
      ::munmap(data_, size_);
  }
  std::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

struct Header {
  std::uint64_t version = 0;
  FileKind kind = kLogFile;
  std::uint64_t generation = 0;
  std::uint64_t sequence = 0;  // snapshots: when it began
};

std::string header_payload(FileKind kind, std::uint64_t generation, std::uint64_t sequence) {
  std::string payload;
  BinaryWriter out(payload);
  out.u8(kHeader);
  out.u64(kResultsFormatVersion);
  out.u8(kind);
  out.u64(generation);
  out.u64(sequence);
  return payload;
}

std::optional<Header> parse_header(std::string_view payload) {
  BinaryReader in(payload);
  if (in.u8() != kHeader)
    return std::nullopt;
  Header header;
  header.version = in.u64();
  header.kind = static_cast<FileKind>(in.bounded(kSnapshotFile));
  header.generation = in.u64();
  header.sequence = in.u64();
  if (!in.ok())
    return std::nullopt;
  return header;
}

// Applies what a file holds to the targets being restored.
class Replay {
 public:
  Replay(RestoredResults& restored, std::size_t history_length, std::size_t uptime_days)
      : restored_(restored), history_length_(history_length), uptime_days_(uptime_days) {}

  // An error only for what must not be misread: a file of another format version.
  Expected<bool> file(const fs::path& path, FileKind expected_kind) {
    auto mapped = MappedFile::open(path);
    if (!mapped)
      return mapped.error();
    const std::string_view bytes = mapped->bytes();
    const std::string shown = path.string();
    if (!bytes.starts_with(kFileMagic)) {
      problem(shown + ": not a fetchd results file (no magic), skipped");
      return false;
    }
    const FramedRecords framed = read_framed(bytes.substr(kFileMagic.size()));
    const auto header = framed.payloads.empty() ? std::nullopt : parse_header(framed.payloads[0]);
    if (!header || header->kind != expected_kind) {
      problem(shown + ": its header is damaged, skipped");
      return false;
    }
    if (header->version != kResultsFormatVersion) {
      return Error{shown + ": results format version " + std::to_string(header->version) +
                   ", but this fetchd reads version " + std::to_string(kResultsFormatVersion) +
                   (header->version > kResultsFormatVersion ? " (a newer fetchd wrote it)" : "") +
                   "; move the results-* files out of the state directory to start over"};
    }
    ++restored_.files;
    restored_.last_sequence = std::max(restored_.last_sequence, header->sequence);
    std::size_t unreadable = 0;
    bool ended = false;
    for (std::size_t i = 1; i < framed.payloads.size(); ++i) {
      if (!apply(framed.payloads[i], ended))
        ++unreadable;
    }
    if (expected_kind == kSnapshotFile)
      restored_.snapshot_bytes += bytes.size();
    else
      restored_.log_bytes += bytes.size();
    if (framed.damaged > 0 || unreadable > 0) {
      std::string text = shown + ": ";
      if (framed.damaged > 0) {
        text += std::to_string(framed.damaged) + " damaged stretch" +
                (framed.damaged == 1 ? "" : "es") + " (checksum or length; the first at byte " +
                std::to_string(framed.first_damage_offset + kFileMagic.size()) + ")" +
                (framed.torn_tail ? ", the last a torn end" : "");
      }
      if (unreadable > 0) {
        text += std::string(framed.damaged > 0 ? " and " : "") + std::to_string(unreadable) +
                " unreadable record" + (unreadable == 1 ? "" : "s");
      }
      problem(text + " skipped; the rest restored");
    }
    if (expected_kind == kSnapshotFile && !ended)
      problem(shown + ": ends early (no end record); the targets before it restored");
    return true;
  }

 private:
  bool apply(std::string_view payload, bool& ended) {
    BinaryReader in(payload);
    const auto kind = in.u8();
    if (kind == kEnd) {
      ended = true;
      return true;
    }
    const auto sequence = in.u64();
    auto name = in.text(kMaxName);
    if (!in.ok())
      return false;
    restored_.last_sequence = std::max(restored_.last_sequence, sequence);
    if (kind == kTarget)
      return apply_target(in, std::move(name), sequence);
    auto& targets = restored_.targets;
    // A log record the target's snapshot already holds.
    if (const auto found = targets.find(name);
        found != targets.end() && sequence <= found->second.snapshot_sequence) {
      return true;
    }
    switch (kind) {
      case kPut: {
        auto url = in.text(kMaxPayload);
        const auto at = Clock::time_point(Clock::duration(in.i64()));
        FlapPolicy policy;
        policy.down_after = static_cast<std::uint32_t>(in.bounded(UINT32_MAX));
        policy.up_after = static_cast<std::uint32_t>(in.bounded(UINT32_MAX));
        const bool fresh = in.boolean();
        if (!in.ok())
          return false;
        auto found = targets.find(name);
        if (fresh || found == targets.end()) {
          targets.insert_or_assign(
              std::move(name), StoredTarget{std::move(url), TargetResults(policy, history_length_,
                                                                          at, uptime_days_)});
        } else {
          found->second.url = std::move(url);
          found->second.results.set_policy(policy);
        }
        return true;
      }
      case kResult: {
        auto attempt = results::decode_attempt(in);
        if (!attempt)
          return false;
        auto found = targets.find(name);
        if (found == targets.end()) {
          // Its put was lost to damage: a target of unknown URL, kept until the next start
          // finds whether the configuration still has it.
          const auto since = attempt->result.started;
          found = targets
                      .try_emplace(
                          std::move(name),
                          StoredTarget{{}, TargetResults({}, history_length_, since, uptime_days_)})
                      .first;
        }
        found->second.results.record(std::move(*attempt));
        return true;
      }
      case kRemoved:
        targets.erase(name);
        return true;
      case kSkipped: {
        const auto slots = in.u64();
        if (!in.ok())
          return false;
        if (const auto found = targets.find(name); found != targets.end())
          found->second.results.record_skipped(slots);
        return true;
      }
      default:
        return false;
    }
  }

  bool apply_target(BinaryReader& in, std::string name, std::uint64_t sequence) {
    auto url = in.text(kMaxPayload);
    auto results = results::decode_target_results(in, history_length_, uptime_days_);
    if (!in.ok() || !results)
      return false;
    restored_.targets.insert_or_assign(std::move(name),
                                       StoredTarget{std::move(url), std::move(*results), sequence});
    return true;
  }

  void problem(std::string text) { restored_.problems.push_back(std::move(text)); }

  RestoredResults& restored_;
  std::size_t history_length_;
  std::size_t uptime_days_;
};

}  // namespace

FramedRecords read_framed(std::string_view bytes) {
  FramedRecords framed;
  std::size_t at = 0;
  while (at < bytes.size()) {
    if (const auto length = record_at(bytes, at)) {
      framed.payloads.push_back(bytes.substr(at + kFrameBytes, *length));
      at += kFrameBytes + *length;
      continue;
    }
    if (framed.damaged++ == 0)
      framed.first_damage_offset = at;
    // Resynchronise on the next intact record.
    std::size_t next = at + 1;
    for (; next < bytes.size(); ++next) {
      next = bytes.find(static_cast<char>(kRecordMagic & 0xff), next);
      if (next == std::string_view::npos || record_at(bytes, next))
        break;
    }
    if (next == std::string_view::npos || next >= bytes.size()) {
      framed.torn_tail = true;
      break;
    }
    at = next;
  }
  return framed;
}

void append_framed(std::string& out, std::string_view payload) {
  put_u32(out, kRecordMagic);
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  put_u32(out, crc_of(payload));
  out.append(payload);
}

Expected<RestoredResults> ResultsStore::load(const fs::path& dir, std::size_t history_length,
                                             std::size_t uptime_days) {
  RestoredResults restored;
  std::error_code error;
  fs::directory_iterator entries(dir, error);
  if (error == std::errc::no_such_file_or_directory)
    return restored;
  if (error)
    return Error{"cannot read the state directory " + dir.string() + ": " + error.message()};
  std::vector<Name> names;
  for (; entries != fs::directory_iterator(); entries.increment(error)) {
    if (const auto name = parse_name(entries->path().filename().string()))
      names.push_back(*name);
  }
  if (error)
    return Error{"cannot read the state directory " + dir.string() + ": " + error.message()};
  std::sort(names.begin(), names.end(), [](const Name& a, const Name& b) {
    return a.generation != b.generation ? a.generation < b.generation : a.kind < b.kind;
  });
  Replay replay(restored, history_length, uptime_days);
  // The newest snapshot that can be read, then every log from its generation on.
  std::uint64_t base = 0;
  for (const auto& name : std::ranges::reverse_view(names)) {
    if (name.kind != kSnapshotFile)
      continue;
    auto read = replay.file(file_of(dir, kSnapshotFile, name.generation), kSnapshotFile);
    if (!read)
      return read.error();
    if (*read) {
      base = name.generation;
      break;
    }
  }
  for (const auto& name : names) {
    restored.generation = std::max(restored.generation, name.generation);
    if (name.kind != kLogFile || name.generation < base)
      continue;
    auto read = replay.file(file_of(dir, kLogFile, name.generation), kLogFile);
    if (!read)
      return read.error();
  }
  return restored;
}

ResultsStore::ResultsStore(fs::path dir, std::chrono::milliseconds flush,
                           const RestoredResults& restored)
    : dir_(std::move(dir)),
      flush_(flush),
      sequence_(restored.last_sequence),
      generation_(restored.generation + 1),
      since_snapshot_(restored.log_bytes),
      last_snapshot_(restored.snapshot_bytes),
      writer_([this, first = generation_] { run(first); }) {}

ResultsStore::~ResultsStore() {
  close();
}

void ResultsStore::close() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable())
    writer_.join();
}

void ResultsStore::enqueue(Item item) {
  const bool record = item.kind == ItemKind::record;
  {
    const std::lock_guard lock(mutex_);
    if (stopping_)
      return;
    if (record && queued_records_ >= kMaxQueuedRecords) {
      ++stats_.dropped;
      lost_ = true;
      ++losses_;
      return;
    }
    queued_records_ += record ? 1 : 0;
    snapshot_items_ += record ? 0 : 1;
    backlog_bytes_ += item.kind == ItemKind::chunk ? item.payload.size() : 0;
    queue_.push_back(std::move(item));
  }
  // Records wait for the flush; the snapshot's pieces are written as they come.
  if (!record)
    wake_.notify_one();
}

void ResultsStore::put(std::string_view name, std::string_view url, FlapPolicy policy,
                       Clock::time_point at, bool fresh) {
  Item item;
  item.record_kind = kPut;
  item.sequence = ++sequence_;
  item.name = name;
  item.url = url;
  item.policy = policy;
  item.at = at;
  item.fresh = fresh;
  enqueue(std::move(item));
}

void ResultsStore::result(std::string_view name,
                          std::shared_ptr<const results::FullResult> result) {
  Item item;
  item.record_kind = kResult;
  item.sequence = ++sequence_;
  item.name = name;
  item.result = std::move(result);
  enqueue(std::move(item));
}

void ResultsStore::skipped(std::string_view name, std::uint64_t slots) {
  Item item;
  item.record_kind = kSkipped;
  item.sequence = ++sequence_;
  item.name = name;
  item.slots = slots;
  enqueue(std::move(item));
}

void ResultsStore::removed(std::string_view name) {
  Item item;
  item.record_kind = kRemoved;
  item.sequence = ++sequence_;
  item.name = name;
  enqueue(std::move(item));
}

bool ResultsStore::wants_snapshot() const {
  if (snapshot_running_)
    return false;
  const std::lock_guard lock(mutex_);
  if (lost_)
    return std::chrono::steady_clock::now() - last_attempt_ >= retry_after_;
  return since_snapshot_ >= std::max(kLogsPerSnapshot * last_snapshot_, kMinLogBytes);
}

void ResultsStore::begin_snapshot() {
  snapshot_running_ = true;
  snapshot_targets_ = 0;
  chunk_.clear();
  {
    const std::lock_guard lock(mutex_);
    // A try while records are lost that fails too waits twice as long for the next.
    if (lost_ && last_attempt_ != std::chrono::steady_clock::time_point{})
      retry_after_ = std::min<std::chrono::steady_clock::duration>(2 * retry_after_, kMaxRetry);
    last_attempt_ = std::chrono::steady_clock::now();
  }
  Item item;
  item.kind = ItemKind::rotate;
  item.generation = ++generation_;
  item.sequence = sequence_;
  enqueue(std::move(item));
}

void ResultsStore::snapshot_target(std::string_view name, std::string_view url,
                                   const TargetResults& results) {
  std::string payload;
  BinaryWriter out(payload);
  out.u8(kTarget);
  out.u64(sequence_);  // every record so far is in `results`
  out.text(name);
  out.text(url);
  results::encode(results, out);
  append_framed(chunk_, payload);
  ++snapshot_targets_;
  if (chunk_.size() >= kChunkBytes)
    hand_over_chunk();
}

void ResultsStore::hand_over_chunk() {
  if (chunk_.empty())
    return;
  Item item;
  item.kind = ItemKind::chunk;
  item.payload = std::exchange(chunk_, {});
  enqueue(std::move(item));
}

void ResultsStore::end_snapshot() {
  hand_over_chunk();
  Item item;
  item.kind = ItemKind::end;
  item.generation = generation_;
  item.slots = snapshot_targets_;
  enqueue(std::move(item));
  snapshot_running_ = false;
}

std::size_t ResultsStore::snapshot_backlog() const {
  const std::lock_guard lock(mutex_);
  return backlog_bytes_;
}

ResultsStoreStats ResultsStore::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

void ResultsStore::fail(const fs::path& path, const char* what, int error) {
  const std::lock_guard lock(mutex_);
  stats_.error = std::string("cannot ") + what + " " + path.string() + ": " + errno_text(error);
  lost_ = true;
  ++losses_;
}

bool ResultsStore::write_all(int fd, std::string_view bytes, const fs::path& path) {
  while (!bytes.empty()) {
    const auto wrote = ::write(fd, bytes.data(), bytes.size());
    if (wrote < 0) {
      if (errno == EINTR)
        continue;
      fail(path, "write", errno);
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(wrote));
  }
  return true;
}

void ResultsStore::create_log(std::uint64_t generation) {
  close_log();
  log_created_ = false;
  if (const auto error = ensure_directory(dir_)) {
    fail(dir_, "create", error.value());
    return;
  }
  log_path_ = file_of(dir_, kLogFile, generation);
  const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
                        kStateFileMode);
  if (fd < 0) {
    fail(log_path_, "create", errno);
    return;
  }
  std::string start(kFileMagic);
  append_framed(start, header_payload(kLogFile, generation, 0));
  if (!write_all(fd, start, log_path_)) {
    ::close(fd);
    return;
  }
  log_fd_ = fd;
  log_dirty_ = true;
  log_created_ = true;
  const std::lock_guard lock(mutex_);
  stats_.log_bytes += start.size();
  since_snapshot_ += start.size();
}

bool ResultsStore::append_to_log(std::string_view bytes) {
  if (!log_created_)
    return false;
  if (log_fd_ < 0) {
    log_fd_ = ::open(log_path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (log_fd_ < 0) {
      fail(log_path_, "open", errno);
      return false;
    }
  }
  if (!write_all(log_fd_, bytes, log_path_))
    return false;
  log_dirty_ = true;
  return true;
}

void ResultsStore::sync_log() {
  if (log_fd_ < 0 || !log_dirty_)
    return;
  if (::fdatasync(log_fd_) != 0)
    fail(log_path_, "sync", errno);
  log_dirty_ = false;
}

void ResultsStore::close_log() {
  if (log_fd_ < 0)
    return;
  sync_log();
  ::close(log_fd_);
  log_fd_ = -1;
}

void ResultsStore::append_log(const Item& item) {
  std::string payload;
  BinaryWriter out(payload);
  out.u8(item.record_kind);
  out.u64(item.sequence);
  out.text(item.name);
  switch (item.record_kind) {
    case kPut:
      out.text(item.url);
      out.i64(item.at.time_since_epoch().count());
      out.u64(item.policy.down_after);
      out.u64(item.policy.up_after);
      out.boolean(item.fresh);
      break;
    case kResult:
      results::encode(*item.result, out);
      break;
    case kSkipped:
      out.u64(item.slots);
      break;
    default:
      break;
  }
  append_framed(buffer_, payload);
}

void ResultsStore::finish_snapshot(std::uint64_t generation, std::uint64_t targets) {
  if (snapshot_fd_ < 0)
    return;
  std::string end;
  BinaryWriter out(end);
  out.u8(kEnd);
  out.u64(targets);
  std::string framed;
  append_framed(framed, end);
  const auto path = file_of(dir_, kSnapshotFile, generation);
  bool ok = write_all(snapshot_fd_, framed, snapshot_tmp_);
  if (ok && ::fsync(snapshot_fd_) != 0) {
    fail(snapshot_tmp_, "sync", errno);
    ok = false;
  }
  ::close(snapshot_fd_);
  snapshot_fd_ = -1;
  if (ok && ::rename(snapshot_tmp_.c_str(), path.c_str()) != 0) {
    fail(path, "rename a snapshot to", errno);
    ok = false;
  }
  if (!ok) {
    ::unlink(snapshot_tmp_.c_str());
    return;
  }
  const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  // What the new snapshot and the logs from its generation on hold, older files held before.
  std::error_code error;
  for (fs::directory_iterator it(dir_, error); !error && it != fs::directory_iterator();
       it.increment(error)) {
    const auto name = parse_name(it->path().filename().string());
    if (name && name->generation < generation)
      fs::remove(it->path(), error);
  }
  std::error_code size_error;
  const auto size = fs::file_size(path, size_error);
  const std::lock_guard lock(mutex_);
  ++stats_.snapshots;
  last_snapshot_ = size_error ? 0 : size;
  // Whole only if nothing was lost since it began: a record lost after its target was visited is
  // in neither the snapshot nor the log, and the next snapshot must pick it up.
  if (losses_ == losses_at_rotate_) {
    lost_ = false;
    retry_after_ = kFirstRetry;
    stats_.error.reset();
  }
}

void ResultsStore::write_items(std::vector<Item>& items) {
  const auto write_buffer = [this] {
    if (buffer_.empty())
      return;
    if (append_to_log(buffer_)) {
      const std::lock_guard lock(mutex_);
      stats_.log_bytes += buffer_.size();
      since_snapshot_ += buffer_.size();
    } else {
      const std::lock_guard lock(mutex_);
      lost_ = true;
      ++losses_;
    }
    buffer_.clear();
  };
  std::uint64_t records = 0;
  std::uint64_t dropped = 0;
  // Under mutex_: the records dropped so far count as a loss before a rotation marks where the
  // snapshot begins, so that only later losses keep it from making the store whole.
  const auto count_dropped = [&] {
    stats_.dropped += dropped;
    if (dropped > 0) {
      lost_ = true;
      ++losses_;
    }
    dropped = 0;
  };
  for (auto& item : items) {
    switch (item.kind) {
      case ItemKind::record:
        if (!log_created_) {
          ++dropped;
          break;
        }
        append_log(item);
        ++records;
        if (buffer_.size() >= kWriteBufferBytes)
          write_buffer();
        break;
      case ItemKind::rotate: {
        write_buffer();
        {
          const std::lock_guard lock(mutex_);
          count_dropped();
          since_snapshot_ = 0;
          losses_at_rotate_ = losses_;
        }
        create_log(item.generation);
        if (snapshot_fd_ >= 0) {
          ::close(snapshot_fd_);
          ::unlink(snapshot_tmp_.c_str());
        }
        snapshot_tmp_ = file_of(dir_, kSnapshotFile, item.generation);
        snapshot_tmp_ += ".tmp";
        snapshot_fd_ =
            ::open(snapshot_tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kStateFileMode);
        if (snapshot_fd_ < 0) {
          fail(snapshot_tmp_, "open", errno);
          break;
        }
        std::string start(kFileMagic);
        append_framed(start, header_payload(kSnapshotFile, item.generation, item.sequence));
        if (!write_all(snapshot_fd_, start, snapshot_tmp_)) {
          ::close(snapshot_fd_);
          snapshot_fd_ = -1;
          ::unlink(snapshot_tmp_.c_str());
        }
        const std::lock_guard lock(mutex_);
        stats_.snapshot_bytes += start.size();
        break;
      }
      case ItemKind::chunk: {
        if (snapshot_fd_ >= 0 && !write_all(snapshot_fd_, item.payload, snapshot_tmp_)) {
          ::close(snapshot_fd_);
          snapshot_fd_ = -1;
          ::unlink(snapshot_tmp_.c_str());
        }
        const std::lock_guard lock(mutex_);
        backlog_bytes_ -= item.payload.size();
        stats_.snapshot_bytes += item.payload.size();
        break;
      }
      case ItemKind::end:
        write_buffer();
        finish_snapshot(item.generation, item.slots);
        break;
    }
  }
  write_buffer();
  const std::lock_guard lock(mutex_);
  stats_.records += records;
  count_dropped();
}

void ResultsStore::run(std::uint64_t generation) {
  // What a writer killed mid-snapshot left.
  std::error_code error;
  for (fs::directory_iterator it(dir_, error); !error && it != fs::directory_iterator();
       it.increment(error)) {
    const auto file = it->path().filename().string();
    if (file.starts_with("results-") && file.ends_with(".snapshot.tmp"))
      fs::remove(it->path(), error);
  }
  create_log(generation);
  auto next_sync = std::chrono::steady_clock::now() + flush_;
  for (;;) {
    std::vector<Item> items;
    bool stop = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_sync, [this] { return stopping_ || snapshot_items_ > 0; });
      items.swap(queue_);
      queued_records_ = 0;
      snapshot_items_ = 0;
      stop = stopping_;
    }
    write_items(items);
    const auto now = std::chrono::steady_clock::now();
    // The log is open only while it is written and synced, so that the state directory's file
    // system can be remounted read-only between flushes.
    if (now >= next_sync || stop) {
      close_log();
      next_sync = now + flush_;
    }
    timespec cpu{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    std::uint64_t disk = 0;
    std::error_code scan_error;
    for (fs::directory_iterator it(dir_, scan_error); !scan_error && it != fs::directory_iterator();
         it.increment(scan_error)) {
      std::error_code size_error;
      const auto size = it->file_size(size_error);
      if (!size_error && it->path().filename().string().starts_with("results-"))
        disk += size;
    }
    {
      const std::lock_guard lock(mutex_);
      stats_.writer_cpu_seconds =
          static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) / 1e9;
      stats_.disk_bytes = disk;
    }
    if (stop)
      break;
  }
  close_log();
  if (snapshot_fd_ >= 0) {
    ::close(snapshot_fd_);
    ::unlink(snapshot_tmp_.c_str());
  }
}

}  // namespace fetchd::state
