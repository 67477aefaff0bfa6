#include "data/data_dir.hpp"

#include <cstdlib>

namespace bilevel::data {

std::string printable(const std::string& text, size_t max_bytes) {
  std::string s = text.size() > max_bytes ? text.substr(0, max_bytes) + "…" : text;
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

std::string resolve_data_dir(const std::string& option) {
  if (!option.empty()) return option;
  if (const char* env = std::getenv("BILEVEL_DATA"); env && *env) return env;
  return "data";
}

std::string fetch_command(const std::string& data_dir) {
  const bool is_default = data_dir == "data" || data_dir == "./data";
  const std::string make = is_default ? "make data" : "make data DATA_DIR=" + data_dir;
  return "`" + make + "` (or `bash datasets/fetch.sh " + data_dir + "`)";
}

}  // namespace bilevel::data
