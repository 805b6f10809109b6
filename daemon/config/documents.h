#pragma once

// The configuration's files (internal to the loader): reading the main file and its drop-ins,
// parsing each document, and placing errors at their line and column.

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/loader.h"

namespace fetchd::config {

// The main file, then conf.d/*.json beside it in byte order of their names (see load_config).
Checked<std::vector<Document>> read_documents(const std::filesystem::path& main_file);

struct ParsedDocument {
  const Document* document;
  nlohmann::json root;
};

// The documents that are valid JSON objects. Syntax errors, duplicate keys and a root that is not
// an object go to `errors`.
std::vector<ParsedDocument> parse_documents(const std::vector<Document>& documents,
                                            std::vector<ConfigError>& errors);

// Gives a line and column to each error of `parsed` that has none yet, from its pointer.
void place_errors(const std::vector<ParsedDocument>& parsed, std::vector<ConfigError>& errors);

}  // namespace fetchd::config
