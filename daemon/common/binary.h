#pragma once

// A compact binary encoding for what the daemon persists (results/codec.h, state/results_store.h):
// unsigned LEB128 varints, zigzag for signed values, length-prefixed strings. The reader never
// trusts a length: every read is checked against what is left, and the first failure makes every
// later read fail too, so a decoder checks ok() once at the end instead of after every field.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fetchd {

class BinaryWriter {
 public:
  explicit BinaryWriter(std::string& out) : out_(out) {}

  void u8(std::uint8_t value) { out_.push_back(static_cast<char>(value)); }
  void boolean(bool value) { u8(value ? 1 : 0); }
  void u64(std::uint64_t value) {
    while (value >= 0x80) {
      out_.push_back(static_cast<char>((value & 0x7f) | 0x80));
      value >>= 7;
    }
    out_.push_back(static_cast<char>(value));
  }
  void i64(std::int64_t value) {
    u64((static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63));
  }
  void text(std::string_view value) {
    u64(value.size());
    out_.append(value);
  }
  std::string& out() { return out_; }

 private:
  std::string& out_;
};

class BinaryReader {
 public:
  explicit BinaryReader(std::string_view in) : in_(in) {}

  std::uint8_t u8() {
    if (!ok_ || in_.empty())
      return fail<std::uint8_t>();
    const auto value = static_cast<std::uint8_t>(in_.front());
    in_.remove_prefix(1);
    return value;
  }
  bool boolean() {
    const auto value = u8();
    if (value > 1)
      return fail<bool>();
    return value == 1;
  }
  std::uint64_t u64() {
    std::uint64_t value = 0;
    const std::size_t most = in_.size() < 10 ? in_.size() : 10;
    for (std::size_t i = 0; i < most; ++i) {
      const auto byte = static_cast<std::uint8_t>(in_[i]);
      // The tenth byte may only carry the top bit.
      if (i == 9 && byte > 1)
        break;
      value |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) {
        in_.remove_prefix(i + 1);
        return value;
      }
    }
    return fail<std::uint64_t>();
  }
  std::int64_t i64() {
    const auto value = u64();
    return static_cast<std::int64_t>(value >> 1) ^ -static_cast<std::int64_t>(value & 1);
  }
  // A value that must fit in [0, max]: anything larger is corrupt data, not a value to clamp.
  std::uint64_t bounded(std::uint64_t max) {
    const auto value = u64();
    return value > max ? fail<std::uint64_t>() : value;
  }
  std::string text(std::size_t max_bytes) {
    const auto size = bounded(max_bytes);
    if (!ok_ || size > in_.size())
      return fail<std::string>();
    std::string value(in_.substr(0, size));
    in_.remove_prefix(size);
    return value;
  }

  bool ok() const { return ok_; }
  bool at_end() const { return in_.empty(); }
  std::size_t left() const { return in_.size(); }
  // For a decoder that finds a value out of range.
  void invalidate() { ok_ = false; }

 private:
  template <class T>
  T fail() {
    ok_ = false;
    in_ = {};
    return T{};
  }

  std::string_view in_;
  bool ok_ = true;
};

}  // namespace fetchd
