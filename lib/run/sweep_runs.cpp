// The train runs of a parsed sweep spec: their TrainParams, their resolved configs (checked as `train` checks
// them) and their command lines. Apart from sweep_spec.cpp so that the spec parser needs no problem or method
// registry (the fuzz target of sweep specs links only the parser).
#include <filesystem>

#include "run/sweep_spec.hpp"
#include "run/train_config.hpp"

namespace bilevel {

namespace fs = std::filesystem;

TrainParams sweep_run_params(const SweepSpec& spec, const SweepRun& run) {
  TrainParams p;
  for (const auto& [k, v] : run.assignments) {
    if (k == "problem") p.problem = v;
    else if (k == "method") p.method = v;
    else if (k == "config") {
      fs::path cfg(v);
      if (cfg.is_relative()) cfg = fs::absolute(fs::path(spec.path).parent_path() / cfg).lexically_normal();
      p.config_file = cfg.string();
    } else if (k == "seed") {
      const int64_t s = parse_int("seed", v);
      if (s < 0) throw option_error("sweep spec '" + spec.path + "': seed must be ≥ 0, got " + v);
      p.seed = static_cast<uint64_t>(s);
    } else if (k == "steps") p.steps = parse_int("steps", v);
    else if (k == "budget_cost") p.budget_cost = parse_real("budget_cost", v);
    else if (k == "budget_seconds") p.budget_seconds = parse_real("budget_seconds", v);
    else p.sets.push_back(k + "=" + v);
  }
  p.threads = 1;
  p.quiet = true;
  p.force = true;
  return p;
}

std::vector<nlohmann::json> sweep_spec_configs(const SweepSpec& spec) {
  if (spec.runs.empty()) throw option_error("sweep spec '" + spec.path + "': no runs");
  std::vector<nlohmann::json> configs;
  for (const auto& run : spec.runs) {
    try {
      TrainParams p = sweep_run_params(spec, run);
      p.out_dir = "unused";
      configs.push_back(resolve_run(p).config);
    } catch (const option_error& e) {
      throw option_error("sweep spec '" + spec.path + "', run '" + run.name + "': " + e.what());
    }
  }
  return configs;
}

void sweep_spec_validate(const SweepSpec& spec) { sweep_spec_configs(spec); }

std::vector<std::string> sweep_train_argv(const SweepSpec& spec, const SweepRun& run, const std::string& exe,
                                          const fs::path& run_dir, int threads) {
  const TrainParams p = sweep_run_params(spec, run);
  std::vector<std::string> a = {exe, "train"};
  if (!p.problem.empty()) a.insert(a.end(), {"--problem", p.problem});
  if (!p.method.empty()) a.insert(a.end(), {"--method", p.method});
  if (!p.config_file.empty()) a.insert(a.end(), {"--config", p.config_file});
  for (const auto& s : p.sets) a.insert(a.end(), {"--set", s});
  for (const auto& [k, v] : run.assignments) {
    if (k == "seed") a.insert(a.end(), {"--seed", v});
    else if (k == "steps") a.insert(a.end(), {"--steps", v});
    else if (k == "budget_cost") a.insert(a.end(), {"--budget-cost", v});
    else if (k == "budget_seconds") a.insert(a.end(), {"--budget-seconds", v});
  }
  a.insert(a.end(), {"--threads", std::to_string(threads), "--out", run_dir.string(), "--quiet", "--force"});
  return a;
}

}  // namespace bilevel
