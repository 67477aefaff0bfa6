#include "data/data_dir.hpp"

#include <cstdlib>

namespace bilevel::data {

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
