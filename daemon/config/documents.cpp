#include "config/documents.h"

#include <algorithm>
#include <string_view>
#include <system_error>

#include "common/json_error.h"
#include "common/read_file.h"
#include "config/checker.h"
#include "config/json_text.h"

namespace fetchd::config {

namespace {

using nlohmann::json;

// Where the token nlohmann stopped at begins. `byte` counts the characters read, the offending
// one included, so it ends a token: a string or a word (literal, number) is traced back to its
// start ("missing comma" then points at the next value, as people look for it); anything else is
// the character itself, or the end of the text.
std::size_t token_start(std::string_view text, std::size_t byte) {
  if (byte == 0)
    return 0;
  std::size_t last = byte - 1;
  if (last >= text.size())
    return text.size();
  auto is_word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '+' || c == '-';
  };
  if (text[last] == '"') {
    // Back to the opening quote: a quote is escaped when an odd number of backslashes precede it.
    for (std::size_t i = last; i-- > 0;) {
      if (text[i] != '"')
        continue;
      std::size_t backslashes = 0;
      while (backslashes < i && text[i - 1 - backslashes] == '\\')
        ++backslashes;
      if (backslashes % 2 == 0)
        return i;
    }
    return last;
  }
  if (is_word(text[last])) {
    while (last > 0 && is_word(text[last - 1]))
      --last;
  }
  return last;
}

// The part of nlohmann's parse_error text after "parse error at line L, column C: ".
std::string syntax_detail(const json::parse_error& error) {
  std::string_view text = error.what();
  const auto colon = text.find(": ");
  if (colon != std::string_view::npos)
    text.remove_prefix(colon + 2);
  return std::string(text);
}

// nlohmann throws out_of_range, which carries no position, for a number beyond double's range
// ("timeout": 1e400). A second, SAX-only pass over the text (on this error path only) finds where.
class ErrorPosition final : public nlohmann::json_sax<json> {
 public:
  std::size_t byte = 0;

  bool null() override { return true; }
  bool boolean(bool /*value*/) override { return true; }
  bool number_integer(number_integer_t /*value*/) override { return true; }
  bool number_unsigned(number_unsigned_t /*value*/) override { return true; }
  bool number_float(number_float_t /*value*/, const string_t& /*text*/) override { return true; }
  bool string(string_t& /*value*/) override { return true; }
  bool binary(binary_t& /*value*/) override { return true; }
  bool start_object(std::size_t /*size*/) override { return true; }
  bool key(string_t& /*value*/) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t /*size*/) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*error*/) override {
    byte = position;
    return false;
  }
};

std::size_t error_byte(const std::string& text) {
  ErrorPosition sax;
  json::sax_parse(text, &sax);
  return sax.byte;
}

bool is_drop_in_name(const std::string& name) {
  return !name.empty() && name[0] != '.' && name.size() > 5 &&
         name.compare(name.size() - 5, 5, ".json") == 0;
}

// The drop-in file names in `directory`, sorted; an empty list when it does not exist.
Expected<std::vector<std::string>> drop_in_names(const std::filesystem::path& directory) {
  std::error_code error;
  std::vector<std::string> names;
  std::filesystem::directory_iterator it(directory, error);
  if (error == std::errc::no_such_file_or_directory)
    return names;
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (!is_drop_in_name(name))
      continue;
    std::error_code status_error;
    if (std::filesystem::is_regular_file(it->path(), status_error))
      names.push_back(name);
  }
  if (error)
    return Error{error.message()};
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

Checked<std::vector<Document>> read_documents(const std::filesystem::path& main_file) {
  Checked<std::vector<Document>> out;
  auto main_text = read_file(main_file);
  if (!main_text) {
    out.errors.push_back(
        {main_file.string(), "", 0, 0, "cannot read: " + main_text.error().message});
    return out;
  }
  std::vector<Document> documents;
  documents.push_back({main_file.string(), std::move(main_text).value()});

  const std::filesystem::path drop_in_dir = main_file.parent_path() / "conf.d";
  const auto names = drop_in_names(drop_in_dir);
  if (!names) {
    out.errors.push_back({drop_in_dir.string(), "", 0, 0, "cannot read: " + names.error().message});
    return out;
  }
  for (const auto& name : *names) {
    const std::filesystem::path path = drop_in_dir / name;
    auto text = read_file(path);
    if (!text) {
      out.errors.push_back({path.string(), "", 0, 0, "cannot read: " + text.error().message});
      continue;
    }
    documents.push_back({path.string(), std::move(text).value()});
  }
  if (out.errors.empty())
    out.value = std::move(documents);
  return out;
}

std::vector<ParsedDocument> parse_documents(const std::vector<Document>& documents,
                                            std::vector<ConfigError>& errors) {
  std::vector<ParsedDocument> parsed;
  for (const auto& document : documents) {
    json root;
    try {
      root = json::parse(document.text);
    } catch (const json::parse_error& error) {
      const auto position = position_at(document.text, token_start(document.text, error.byte));
      errors.push_back({document.name, "", position.line, position.column,
                        "invalid JSON: " + syntax_detail(error)});
      continue;
    } catch (const json::exception& error) {
      const auto position =
          position_at(document.text, token_start(document.text, error_byte(document.text)));
      errors.push_back({document.name, "", position.line, position.column,
                        "invalid JSON: " + json_error_message(error)});
      continue;
    }
    for (auto& duplicate : find_duplicate_keys(document.text)) {
      errors.push_back({document.name, duplicate.pointer, duplicate.position.line,
                        duplicate.position.column,
                        "duplicate key (an object may have each key once)"});
    }
    if (!root.is_object()) {
      errors.push_back({document.name, "", 1, 1,
                        R"(expected an object with "settings", "defaults" and "targets", found )" +
                            found(root)});
      continue;
    }
    parsed.push_back({&document, std::move(root)});
  }
  return parsed;
}

void place_errors(const std::vector<ParsedDocument>& parsed, std::vector<ConfigError>& errors) {
  for (const auto& doc : parsed) {
    std::vector<ConfigError*> unplaced;
    std::vector<std::string> pointers;
    for (auto& error : errors) {
      if (error.line == 0 && error.file == doc.document->name) {
        unplaced.push_back(&error);
        pointers.push_back(error.pointer);
      }
    }
    if (pointers.empty())
      continue;
    const auto positions = locate(doc.document->text, pointers);
    for (ConfigError* error : unplaced) {
      auto it = positions.find(error->pointer);
      if (it == positions.end())
        continue;
      error->line = it->second.line;
      error->column = it->second.column;
    }
  }
}

}  // namespace fetchd::config
