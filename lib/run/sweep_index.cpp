#include "run/sweep_index.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <set>
#include <sstream>

#include "run/compare_runs.hpp"
#include "sys/files.hpp"
#include "sys/host.hpp"

namespace bilevel {

namespace fs = std::filesystem;

namespace {

std::string json_string_field(const nlohmann::json& j, const std::string& key) {
  if (!j.is_object() || !j.contains(key)) return "";
  const nlohmann::json& v = j.at(key);
  return v.is_string() ? v.get<std::string>() : "";
}

// The options that decide a run's result: a finished run is reused only if these match what the spec gives.
const std::vector<std::string> config_identity_keys = {"problem", "method", "seed", "steps", "budget_cost",
                                                       "budget_seconds", "problem_options", "method_options",
                                                       "run_options", "real"};

// An option's text as a JSON value for programs: integers and finite numbers as numbers, true/false as booleans,
// anything else ("adaptive", "ufo") as the text.
nlohmann::json typed_value(const std::string& text) {
  if (text == "true" || text == "false") return text == "true";
  if (!text.empty()) {
    char* end = nullptr;
    errno = 0;
    const long long i = std::strtoll(text.c_str(), &end, 10);
    if (*end == '\0' && errno == 0) return static_cast<int64_t>(i);
    errno = 0;
    const double d = std::strtod(text.c_str(), &end);
    if (*end == '\0' && errno == 0 && std::isfinite(d)) return d;
  }
  return text;
}

}  // namespace

std::string sweep_run_state(const fs::path& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) return "pending";
  if (!fs::exists(run_dir / "result.json", ec)) return "incomplete";
  try {
    const nlohmann::json result = sys::read_json(run_dir / "result.json");
    const std::string s = json_string_field(result, "status");
    // An ok whose curve is not the one the result describes (cut, spliced by a second writer) is not trusted.
    if (s == "ok" && !curve_mismatch(run_dir, result).empty()) return "incomplete";
    return s.empty() ? "incomplete" : s;
  } catch (const std::exception&) {
    return "incomplete";
  }
}

SweepIndex::SweepIndex(const SweepSpec& spec, const fs::path& out)
    : spec_(spec), out_(out), entries_(spec.runs.size()) {}

void SweepIndex::read_from_disk(size_t i) {
  const fs::path dir = out_ / "runs" / spec_.runs[i].name;
  IndexEntry& e = entries_[i];
  e.status = sweep_run_state(dir);
  e.seconds = -1;
  e.note.clear();
  if (e.status == "pending" || e.status == "incomplete") return;
  try {
    const auto j = sys::read_json(dir / "result.json");
    if (j.contains("wall_seconds") && j["wall_seconds"].is_number()) e.seconds = j["wall_seconds"].get<double>();
    e.note = json_string_field(j, "message");
  } catch (const std::exception&) {
  }
}

void SweepIndex::read_all_from_disk() {
  for (size_t i = 0; i < entries_.size(); ++i) read_from_disk(i);
}

std::map<std::string, size_t> SweepIndex::counts() const {
  std::map<std::string, size_t> c;
  for (const auto& e : entries_) ++c[e.status];
  return c;
}

nlohmann::json SweepIndex::to_json(const std::string& updated) const {
  nlohmann::json runs = nlohmann::json::array();
  for (size_t i = 0; i < spec_.runs.size(); ++i) {
    const auto& r = spec_.runs[i];
    const auto& e = entries_[i];
    nlohmann::json j;
    j["index"] = r.index;
    j["name"] = r.name;
    j["dir"] = "runs/" + r.name;
    nlohmann::json opts = nlohmann::json::object();
    for (const auto& [k, v] : r.varying) opts[k] = typed_value(v);
    j["varying"] = opts;
    nlohmann::json all = nlohmann::json::object();
    for (const auto& [k, v] : r.assignments) all[k] = typed_value(v);
    j["options"] = all;
    j["status"] = e.status;
    if (e.seconds >= 0) j["seconds"] = e.seconds;
    if (!e.note.empty()) j["note"] = e.note;
    runs.push_back(j);
  }
  nlohmann::json idx;
  idx["spec"] = spec_.path;
  if (!spec_.description.empty()) idx["description"] = spec_.description;
  idx["updated"] = updated;
  idx["axes"] = spec_.axes;
  idx["total_runs"] = spec_.runs.size();
  idx["counts"] = counts();
  idx["runs"] = runs;
  return idx;
}

std::string SweepIndex::to_markdown(const std::string& updated) const {
  std::ostringstream md;
  md << "# Sweep " << spec_.path << "\n\n";
  if (!spec_.description.empty()) md << spec_.description << "\n\n";
  md << spec_.runs.size() << " runs:";
  bool first = true;
  for (const auto& [s, n] : counts()) md << (first ? " " : ", ") << n << " " << s, first = false;
  md << ". Updated " << updated << ".\n\n";
  md << "| # | run | status | seconds | note |\n|--:|---|---|--:|---|\n";
  for (size_t i = 0; i < spec_.runs.size(); ++i) {
    const auto& e = entries_[i];
    char secs[32] = "";
    if (e.seconds >= 0) std::snprintf(secs, sizeof secs, "%.2f", e.seconds);
    std::string note = e.note;
    std::replace(note.begin(), note.end(), '|', '/');
    std::replace(note.begin(), note.end(), '\n', ' ');
    md << "| " << i << " | " << spec_.runs[i].name << " | " << e.status << " | " << secs << " | " << note << " |\n";
  }
  return md.str();
}

namespace {
double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

void SweepIndex::update() {
  if (steady_seconds() - last_write_ >= std::max(1.0, 20 * last_write_seconds_)) write();
}

void SweepIndex::write() {
  const double t0 = steady_seconds();
  for (size_t i = 0; i < entries_.size(); ++i)
    if (!entries_[i].in_shard && entries_[i].status != "ok") read_from_disk(i);
  const std::string updated = sys::utc_now_text();
  try {
    sys::write_file_atomic(out_ / "index.json", to_json(updated).dump(2) + "\n");
    sys::write_file_atomic(out_ / "index.md", to_markdown(updated));
  } catch (const std::exception& ex) {
    std::cerr << "bilevel-opt sweep: warning: cannot write the index: " << ex.what() << "\n";
    if (write_error_.empty()) write_error_ = ex.what();
  }
  last_write_ = steady_seconds();
  last_write_seconds_ = last_write_ - t0;
}

std::string sweep_config_difference(const nlohmann::json& want, const nlohmann::json& have_in) {
  nlohmann::json have = have_in;
  // Runs made before budget_grad_evals was renamed budget_cost (the same quantity).
  if (have.is_object() && have.contains("budget_grad_evals") && !have.contains("budget_cost")) {
    have["budget_cost"] = have["budget_grad_evals"];
  }
  for (const auto& key : config_identity_keys) {
    const nlohmann::json a = want.contains(key) ? want[key] : nlohmann::json(),
                         b = have.contains(key) ? have[key] : nlohmann::json();
    if (a.is_object() && b.is_object()) {
      std::set<std::string> ks;
      for (auto it = a.begin(); it != a.end(); ++it) ks.insert(it.key());
      for (auto it = b.begin(); it != b.end(); ++it) ks.insert(it.key());
      for (const auto& k : ks) {
        const auto va = a.contains(k) ? a[k].dump() : "(none)", vb = b.contains(k) ? b[k].dump() : "(none)";
        if (va != vb) return key + "." + k + ": the spec gives " + va + ", the run has " + vb;
      }
    } else if (a != b) {
      return key + ": the spec gives " + a.dump() + ", the run has " + b.dump();
    }
  }
  return "";
}

}  // namespace bilevel
