#include "state/runtime_targets.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "state/atomic_file.h"

namespace fetchd::state {
namespace {

using nlohmann::json;

std::string pointer_to(std::string_view key) {
  return (json::json_pointer() / std::string(key)).to_string();
}

std::string pointer_to(std::string_view key, std::size_t index) {
  return (json::json_pointer() / std::string(key) / index).to_string();
}

// "path: message"
Error file_error(const std::filesystem::path& path, std::string_view message) {
  std::string text = path.string();
  text.append(": ").append(message);
  return Error{std::move(text)};
}

// "path: /pointer: message"
Error document_error(const std::filesystem::path& path, const std::string& pointer,
                     std::string_view message) {
  return file_error(path, pointer + ": " + std::string(message));
}

// Line and column (1-based line; column counted like nlohmann: characters read on the line) of a
// parse error at `byte`, the number of bytes read when it was detected.
std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t byte) {
  const auto read = text.substr(0, std::min(byte, text.size()));
  const auto line = static_cast<std::size_t>(std::count(read.begin(), read.end(), '\n')) + 1;
  const auto last_newline = read.rfind('\n');
  const auto column =
      last_newline == std::string_view::npos ? read.size() : read.size() - last_newline - 1;
  return {line, column};
}

// nlohmann's parse_error text after its "[json.exception...] parse error at line L, column C: "
// prefix (the position is reported separately), or all of it if the format is unexpected.
std::string parse_error_detail(const char* what) {
  const std::string_view text(what);
  const auto at = text.find("parse error");
  if (at != std::string_view::npos) {
    const auto colon = text.find(": ", at);
    if (colon != std::string_view::npos) {
      return std::string(text.substr(colon + 2));
    }
  }
  return std::string(text);
}

Expected<std::vector<json>> parse_document(std::string_view text,
                                           const std::filesystem::path& path) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    const auto [line, column] = line_and_column(text, e.byte);
    return file_error(path, "invalid JSON at line " + std::to_string(line) + ", column " +
                                std::to_string(column) + ": " + parse_error_detail(e.what()));
  } catch (const json::exception& e) {  // e.g. a number too large to represent
    return file_error(path, std::string("invalid JSON: ") + e.what());
  }

  if (!doc.is_object()) {
    return file_error(path,
                      std::string(R"(expected an object with "version" and "targets", found )") +
                          doc.type_name());
  }
  // The version first: a document of another version may have any layout.
  const auto version = doc.find("version");
  if (version == doc.end()) {
    return document_error(
        path, pointer_to("version"),
        "missing (expected " + std::to_string(RuntimeTargetsFile::kFormatVersion) + ")");
  }
  if (!version->is_number_integer()) {
    return document_error(path, pointer_to("version"),
                          std::string("expected an integer, found ") + version->type_name());
  }
  if (*version != RuntimeTargetsFile::kFormatVersion) {
    return document_error(path, pointer_to("version"),
                          "unsupported version " + version->dump() +
                              " (this fetchd reads version " +
                              std::to_string(RuntimeTargetsFile::kFormatVersion) + ")");
  }
  for (const auto& item : doc.items()) {
    if (item.key() != "version" && item.key() != "targets") {
      return document_error(path, pointer_to(item.key()), "unknown key");
    }
  }
  const auto targets = doc.find("targets");
  if (targets == doc.end()) {
    return document_error(path, pointer_to("targets"), "missing (expected an array)");
  }
  if (!targets->is_array()) {
    return document_error(path, pointer_to("targets"),
                          std::string("expected an array, found ") + targets->type_name());
  }
  std::vector<json> result;
  result.reserve(targets->size());
  for (std::size_t i = 0; i < targets->size(); ++i) {
    auto& target = (*targets)[i];
    if (!target.is_object()) {
      return document_error(path, pointer_to("targets", i),
                            std::string("expected a target object, found ") + target.type_name());
    }
    result.push_back(std::move(target));
  }
  return result;
}

// The document as described in the header, or invalid_argument (see save()).
std::error_code serialize_document(const std::vector<json>& targets, std::string& text) {
  text = "{\n  \"version\": " + std::to_string(RuntimeTargetsFile::kFormatVersion) +
         ",\n  \"targets\": [";
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (!targets[i].is_object()) {
      return std::make_error_code(std::errc::invalid_argument);
    }
    text += i == 0 ? "\n    " : ",\n    ";
    try {
      text += targets[i].dump();
    } catch (const json::type_error&) {  // a string that is not valid UTF-8
      return std::make_error_code(std::errc::invalid_argument);
    }
  }
  text += targets.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return {};
}

}  // namespace

RuntimeTargetsFile::RuntimeTargetsFile(std::filesystem::path path) : path_(std::move(path)) {}

Expected<std::vector<json>> RuntimeTargetsFile::load() const {
  // Leftovers of a writer killed mid-write. Failing to remove them is harmless (they only take
  // space; the next save picks a new name), so it does not fail the load.
  (void)remove_stale_temp_files(path_);

  std::string text;
  if (auto ec = read_file(path_, text, kMaxStateFileBytes)) {
    if (ec == std::errc::no_such_file_or_directory) {
      return std::vector<json>{};
    }
    if (ec == std::errc::file_too_large) {
      return file_error(path_, "larger than " + std::to_string(kMaxStateFileBytes >> 20) +
                                   " MiB, refusing to read it");
    }
    return file_error(path_, "cannot read: " + ec.message());
  }
  return parse_document(text, path_);
}

std::error_code RuntimeTargetsFile::save(const std::vector<json>& targets) const {
  std::string text;
  if (auto ec = serialize_document(targets, text)) {
    return ec;
  }
  if (text.size() > kMaxStateFileBytes) {
    return std::make_error_code(std::errc::file_too_large);  // load() would refuse it
  }
  if (auto ec = ensure_directory(path_.parent_path(), kStateDirectoryMode)) {
    return ec;
  }
  return write_file_atomically(path_, text);
}

}  // namespace fetchd::state
