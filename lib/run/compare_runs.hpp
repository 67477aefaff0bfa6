#pragma once
// `compare`, discovery: the run directories under the given folders, and the option values that group them.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/config.hpp"  // config_value_text

namespace bilevel {

struct CompareRun {
  std::filesystem::path dir;
  nlohmann::json config;
  nlohmann::json result;  // null without result.json
  std::string status;     // result.json's status, or "incomplete"
};

// Every directory holding a run's config.json under the given roots (a root may itself be a run), sorted by
// path; hidden folders and symbolic links are not entered. A config.json that is empty, not JSON, not an
// object or names no problem and method skips its directory; a result.json like that (or without a status)
// counts its run incomplete; each adds a one-line warning naming the file to `warnings` (when given).
// Throws option_error for a root that does not exist or when no run is found.
std::vector<CompareRun> compare_find_runs(const std::vector<std::string>& roots,
                                          std::vector<std::string>* warnings = nullptr);

// Value of a --by key in a run's config.json as text ("" when absent): a dotted path ("method_options.q"),
// a top-level key ("method", "seed", "steps"), or an option name looked up in problem_options,
// method_options and run_options ("q", "inner_steps").
std::string compare_config_value(const nlohmann::json& config, const std::string& key);

// j[key] as a double if it is a number, else NaN.
double json_number_or_nan(const nlohmann::json& j, const char* key);

// "" when DIR/curve.jsonl matches `result` (its "curve_rows", and the step of its last row against the
// result's "steps"); else what does not match. Results written before curve_rows existed are checked on the
// last step only.
std::string curve_mismatch(const std::filesystem::path& dir, const nlohmann::json& result);

}  // namespace bilevel
