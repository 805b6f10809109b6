#pragma once

// What the loader tests compare: "pointer: message" of each error of loading `text` as the main
// file, one per line (empty when it loads).

#include <string>

#include "config/loader.h"

namespace fetchd::config {

inline std::string errors_of(const std::string& text) {
  const auto loaded = load_documents({{"fetchd.json", text}});
  std::string out;
  for (const auto& error : loaded.errors)
    out += (out.empty() ? "" : "\n") + error.pointer + ": " + error.message;
  return out;
}

}  // namespace fetchd::config
