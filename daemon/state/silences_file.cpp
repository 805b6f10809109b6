#include "state/silences_file.h"

#include <string>
#include <utility>

#include "common/json_error.h"
#include "state/atomic_file.h"

namespace fetchd::state {

SilencesFile::SilencesFile(std::filesystem::path path) : path_(std::move(path)) {}

Expected<alerts::Silences> SilencesFile::load() const {
  (void)remove_stale_temp_files(path_);  // harmless if it fails: they only take space
  const auto failed = [this](const std::string& message) {
    return Error{path_.string() + ": " + message};
  };
  std::string text;
  if (auto ec = read_file(path_, text, kMaxStateFileBytes)) {
    if (ec == std::errc::no_such_file_or_directory)
      return alerts::Silences{};
    if (ec == std::errc::file_too_large)
      return failed("larger than " + std::to_string(kMaxStateFileBytes >> 20) +
                    " MiB, refusing to read it");
    return failed("cannot read: " + ec.message());
  }
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return failed("invalid JSON: " + json_error_message(e));
  }
  auto silences = alerts::Silences::from_json(document);
  if (!silences)
    return failed(silences.error().message);
  return silences;
}

std::error_code SilencesFile::save(const alerts::Silences& silences) const {
  const auto document = silences.to_json();
  std::string text = "{\n  \"version\": " + document["version"].dump() +
                     ",\n  \"next_id\": " + document["next_id"].dump() + ",\n  \"silences\": [";
  const auto& list = document["silences"];
  for (std::size_t i = 0; i < list.size(); ++i) {
    text += i == 0 ? "\n    " : ",\n    ";
    // Invalid UTF-8 (a comment or label given so) is replaced rather than refused: the silence
    // was accepted, and the file must stay readable.
    text += list[i].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  text += list.empty() ? "]\n}\n" : "\n  ]\n}\n";
  if (text.size() > kMaxStateFileBytes)
    return std::make_error_code(std::errc::file_too_large);
  if (auto ec = ensure_directory(path_.parent_path(), kStateDirectoryMode))
    return ec;
  return write_file_atomically(path_, text);
}

}  // namespace fetchd::state
