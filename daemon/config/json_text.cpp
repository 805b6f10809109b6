#include "config/json_text.h"

#include <set>

#include <nlohmann/json.hpp>

namespace fetchd::config {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Advances a line/column count over the text as offsets grow, so that positions for many places
// cost one pass.
class PositionCounter {
 public:
  explicit PositionCounter(std::string_view text) : text_(text) {}

  TextPosition at(std::size_t offset) {
    if (offset > text_.size())
      offset = text_.size();
    if (offset < offset_) {  // only forward; restart when asked to go back
      offset_ = 0;
      position_ = {1, 1};
    }
    for (; offset_ < offset; ++offset_) {
      const auto byte = static_cast<unsigned char>(text_[offset_]);
      if (byte == '\n') {
        ++position_.line;
        position_.column = 1;
      } else if ((byte & 0xC0) != 0x80) {  // not a UTF-8 continuation byte
        ++position_.column;
      }
    }
    return position_;
  }

 private:
  std::string_view text_;
  std::size_t offset_ = 0;
  TextPosition position_{1, 1};
};

// Walks valid JSON text without recursion (depth is bounded only by memory), calling
// `visit(pointer, offset)` at each value with the offset of its key or element start; a visitor
// returning false stops the walk. `on_key(frame_keys, key, pointer, offset)` sees each member key.
class Walker {
 public:
  explicit Walker(std::string_view text) : text_(text) {}

  template <class Visit, class OnKey>
  void run(Visit&& visit, OnKey&& on_key) {
    std::string pointer;
    skip_space();
    std::size_t member_start = pos_;
    while (true) {
      // At a value.
      if (!visit(pointer, member_start))
        return;
      if (pos_ >= text_.size())
        return;
      const char c = text_[pos_];
      if (c == '{' || c == '[') {
        frames_.push_back({c == '{', 0, {}, pointer.size()});
        ++pos_;
        skip_space();
        if (pos_ < text_.size() && (text_[pos_] == '}' || text_[pos_] == ']')) {
          ++pos_;
          frames_.pop_back();
        } else {
          member_start = enter_member(pointer, on_key);
          continue;
        }
      } else {
        skip_scalar();
      }
      // After a value: close finished containers, move to the next member.
      bool next_found = false;
      while (!frames_.empty()) {
        skip_space();
        pointer.resize(frames_.back().pointer_size);
        if (pos_ >= text_.size())
          return;
        if (text_[pos_] == ',') {
          ++pos_;
          skip_space();
          ++frames_.back().index;
          member_start = enter_member(pointer, on_key);
          next_found = true;
          break;
        }
        ++pos_;  // '}' or ']'
        frames_.pop_back();
      }
      if (!next_found)
        return;
    }
  }

 private:
  struct Frame {
    bool object;
    std::size_t index;
    std::set<std::string> keys;
    std::size_t pointer_size;
  };

  template <class OnKey>
  std::size_t enter_member(std::string& pointer, OnKey& on_key) {
    const std::size_t start = pos_;
    Frame& frame = frames_.back();
    if (!frame.object) {
      pointer += "/" + std::to_string(frame.index);
      return start;
    }
    const std::string key = read_key();
    pointer += pointer_token(key);
    on_key(frame.keys, key, pointer, start);
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == ':')
      ++pos_;
    skip_space();
    return start;
  }

  std::string read_key() {
    const std::size_t start = pos_;
    skip_string();
    const std::string_view raw = text_.substr(start, pos_ - start);
    if (raw.size() >= 2 && raw.find('\\') == std::string_view::npos) {
      return std::string(raw.substr(1, raw.size() - 2));
    }
    const auto decoded = nlohmann::json::parse(raw, nullptr, false);
    return decoded.is_string() ? decoded.get<std::string>() : std::string(raw);
  }

  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_]))
      ++pos_;
  }

  void skip_string() {
    ++pos_;  // opening quote
    while (pos_ < text_.size() && text_[pos_] != '"') {
      pos_ += text_[pos_] == '\\' ? 2 : 1;
    }
    ++pos_;  // closing quote
  }

  void skip_scalar() {
    if (text_[pos_] == '"') {
      skip_string();
      return;
    }
    while (pos_ < text_.size() && !is_space(text_[pos_]) && text_[pos_] != ',' &&
           text_[pos_] != '}' && text_[pos_] != ']') {
      ++pos_;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::vector<Frame> frames_;
};

}  // namespace

std::string pointer_token(std::string_view key) {
  std::string out = "/";
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

TextPosition position_at(std::string_view text, std::size_t offset) {
  return PositionCounter(text).at(offset);
}

std::map<std::string, TextPosition> locate(std::string_view text,
                                           const std::vector<std::string>& pointers) {
  std::map<std::string, TextPosition> found;
  std::set<std::string_view> wanted(pointers.begin(), pointers.end());
  if (wanted.empty())
    return found;
  PositionCounter counter(text);
  Walker(text).run(
      [&](const std::string& pointer, std::size_t offset) {
        if (wanted.contains(pointer) && !found.contains(pointer)) {
          found.emplace(pointer, counter.at(offset));
        }
        return found.size() < wanted.size();
      },
      [](auto&, const std::string&, const std::string&, std::size_t) {});
  return found;
}

std::vector<DuplicateKey> find_duplicate_keys(std::string_view text) {
  std::vector<DuplicateKey> duplicates;
  PositionCounter counter(text);
  Walker(text).run([](const std::string&, std::size_t) { return true; },
                   [&](std::set<std::string>& keys, const std::string& key,
                       const std::string& pointer, std::size_t offset) {
                     if (!keys.insert(key).second) {
                       duplicates.push_back({pointer, counter.at(offset)});
                     }
                   });
  return duplicates;
}

}  // namespace fetchd::config
