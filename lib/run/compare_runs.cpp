#include "run/compare_runs.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>

#include "base/errors.hpp"
#include "sys/files.hpp"

namespace bilevel {

namespace fs = std::filesystem;

namespace {

bool is_run_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "config.json", ec);
}

void collect_runs(const fs::path& dir, std::vector<fs::path>& out) {
  if (is_run_dir(dir)) {
    out.push_back(dir);
    return;
  }
  std::vector<fs::path> children;
  std::error_code ec;
  for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code ec2;
    if (it->is_directory(ec2) && !it->is_symlink(ec2)) children.push_back(it->path());
  }
  std::sort(children.begin(), children.end());
  for (const auto& c : children) collect_runs(c, out);
}

// FILE as a JSON object into `out`: "" when it is one, else why it is not ("FILE is empty", "FILE is not
// JSON (…)", "FILE is not a JSON object"), naming the file. A number beyond double range (1e400) is not JSON
// here, as nlohmann reports it (out_of_range) rather than as a parse error.
std::string read_json_object(const fs::path& file, nlohmann::json& out) {
  std::string text;
  try {
    text = sys::read_file(file);
  } catch (const usage_error& e) {
    return e.what();
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return file.string() + " is empty";
  try {
    out = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    std::string why = e.what();
    if (why.rfind("[json.exception.", 0) == 0 && why.find("] ") != std::string::npos) why = why.substr(why.find("] ") + 2);
    return file.string() + " is not JSON (" + why + ")";
  }
  if (!out.is_object()) return file.string() + " is not a JSON object";
  return "";
}

// A run directory: its config.json, which must be a JSON object naming the problem and method, or the
// directory is skipped; and its result.json if it has one, which must be a JSON object with a status, or the
// run counts as incomplete. Either case adds a warning naming the file: a damaged run is never dropped or
// miscounted silently.
std::optional<CompareRun> read_run(const fs::path& d, std::vector<std::string>& warnings) {
  CompareRun run;
  run.dir = d;
  std::string why = read_json_object(d / "config.json", run.config);
  if (why.empty() && (!run.config.contains("problem") || !run.config.contains("method")))
    why = (d / "config.json").string() + " names no problem and method (not a config.json of `bilevel-opt train`)";
  if (!why.empty()) {
    warnings.push_back(why + "; the directory is skipped");
    return std::nullopt;
  }
  run.status = "incomplete";
  std::error_code ec;
  if (fs::exists(d / "result.json", ec)) {
    why = read_json_object(d / "result.json", run.result);
    if (why.empty() && !(run.result.contains("status") && run.result["status"].is_string()))
      why = (d / "result.json").string() + " has no status";
    if (why.empty()) {
      run.status = run.result["status"].get<std::string>();
    } else {
      run.result = nullptr;  // written atomically, so unreadable means damaged afterwards
      warnings.push_back(why + "; the run counts as incomplete");
    }
  }
  return run;
}

}  // namespace

std::vector<CompareRun> compare_find_runs(const std::vector<std::string>& roots, std::vector<std::string>* warnings) {
  if (roots.empty()) throw option_error("compare: no directories given");
  std::vector<fs::path> dirs;
  for (const auto& r : roots) {
    std::error_code ec;
    if (!fs::is_directory(r, ec)) throw option_error("compare: '" + r + "' is not a directory");
    collect_runs(r, dirs);
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  std::vector<CompareRun> runs;
  std::vector<std::string> own;
  std::vector<std::string>& notes = warnings ? *warnings : own;
  const size_t notes_before = notes.size();
  for (const auto& d : dirs) {
    if (auto run = read_run(d, notes)) runs.push_back(std::move(*run));
  }
  if (runs.empty()) {
    std::string list;
    for (const auto& r : roots) list += (list.empty() ? "" : ", ") + r;
    const size_t skipped = notes.size() - notes_before;
    throw option_error("compare: no run directories (with a config.json from `bilevel-opt train`) under " + list +
                       (skipped == 0 ? std::string()
                                     : " (" + std::to_string(skipped) + " skipped, the first: " + notes[notes_before] + ")"));
  }
  return runs;
}

std::string compare_config_value(const nlohmann::json& config, const std::string& key) {
  if (!config.is_object()) return "";
  if (key.find('.') != std::string::npos) {
    const nlohmann::json* j = &config;
    std::stringstream ss(key);
    std::string part;
    while (std::getline(ss, part, '.')) {
      if (!j->is_object() || !j->contains(part)) return "";
      j = &(*j)[part];
    }
    return j->is_object() ? "" : config_value_text(*j);
  }
  if (config.contains(key) && !config[key].is_object()) return config_value_text(config[key]);
  for (const char* table : {"problem_options", "method_options", "run_options"}) {
    if (config.contains(table) && config[table].is_object() && config[table].contains(key))
      return config_value_text(config[table][key]);
  }
  return "";
}

double json_number_or_nan(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return NAN;
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

std::string curve_mismatch(const fs::path& dir, const nlohmann::json& result) {
  const fs::path file = dir / "curve.jsonl";
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(file, ec))) return "curve.jsonl is missing or not a regular file";
  std::string text;
  try {
    text = sys::read_file(file);
  } catch (const std::exception& e) {
    return e.what();
  }
  auto expect = [&](const char* key, int64_t have, const char* what) -> std::string {
    if (!result.contains(key) || !result[key].is_number_integer()) return "";
    const int64_t want = result[key].get<int64_t>();
    if (want == have) return "";
    return "curve.jsonl has " + std::to_string(have) + " " + what + ", result.json says " + std::to_string(want);
  };
  const auto rows = static_cast<int64_t>(std::count(text.begin(), text.end(), '\n'));
  if (auto m = expect("curve_rows", rows, "rows"); !m.empty()) return m;
  if (text.empty() || text.back() != '\n') return "curve.jsonl does not end with a whole row";
  const auto start = text.rfind('\n', text.size() - 2);
  nlohmann::json last;
  try {
    last = nlohmann::json::parse(text.substr(start == std::string::npos ? 0 : start + 1));
  } catch (const std::exception&) {
    return "the last row of curve.jsonl is not JSON";
  }
  if (!last.is_object() || !last.contains("step") || !last["step"].is_number_integer()) {
    return "the last row of curve.jsonl has no step";
  }
  if (auto m = expect("steps", last["step"].get<int64_t>(), "steps in its last row"); !m.empty()) return m;
  return "";
}

}  // namespace bilevel
