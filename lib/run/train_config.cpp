#include "run/train_config.hpp"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "base/config.hpp"
#include "hypergrad/estimator.hpp"
#include "run/build_info.hpp"

namespace bilevel {

namespace fs = std::filesystem;

const std::vector<OptionSpec>& run_option_specs() {
  static const std::vector<OptionSpec> specs = {
      opt_int("meta_batch", 1, "tasks per outer step (estimated in parallel)", 1),
      opt_choice("outer_opt", "adam", {"sgd", "adam"}, "outer optimizer"),
      opt_real("outer_lr", 0.001, "outer learning rate (initial value of the schedule)", 0, 1e300, true),
      opt_choice("schedule", "constant", {"constant", "inv", "linear"},
                 "outer lr schedule: constant; inv: lr/(k+1); linear: lr·(1 − fraction of the budget used)"),
      opt_real("adam_beta1", 0.9, "Adam β₁", 0, 1),
      opt_real("adam_beta2", 0.999, "Adam β₂", 0, 1),
      opt_real("adam_eps", 1e-8, "Adam ε", 0, 1e300, true),
      opt_int("eval_every", 100, "evaluate test metrics every N outer steps (and at the start and end)", 1),
      opt_int("log_every", 1, "write a curve row every N outer steps", 1),
      opt_int("instance_seed", 0,
              "seed of the problem instance (fixed matrices, evaluation tasks), kept fixed across --seed", 0),
  };
  return specs;
}

std::map<std::string, std::string> read_config_file(const std::string& path) {
  if (!fs::exists(path)) throw option_error("--config '" + path + "': file not found");
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << "--config '" << path << "': invalid TOML at line " << e.source().begin.line << ": " << e.description();
    throw option_error(s.str());
  }
  std::map<std::string, std::string> out;
  auto take = [&](const toml::key& k, const toml::node& v) {
    const std::string key(k.str());
    out[key] = toml_scalar_text(v, "config key '" + key + "'");
  };
  for (auto&& [k, v] : tbl) {
    const std::string key(k.str());
    if (auto* sub = v.as_table()) {
      if (key != "problem_options" && key != "method_options" && key != "run") {
        throw option_error("--config '" + path + "': unknown table [" + key +
                           "] (use top-level keys or [problem_options], [method_options], [run])");
      }
      for (auto&& [k2, v2] : *sub) take(k2, v2);
    } else {
      take(k, v);
    }
  }
  return out;
}

namespace {

// Moves the config file's run-level keys into `p` (where the command line left them unset) and returns the
// rest: problem, method and run options.
std::map<std::string, std::string> apply_config_file(TrainParams& p) {
  auto cfg = read_config_file(p.config_file);
  auto take = [&](const char* key, auto apply) {
    auto it = cfg.find(key);
    if (it == cfg.end()) return;
    apply(it->second);
    cfg.erase(it);
  };
  take("problem", [&](const std::string& v) { if (p.problem.empty()) p.problem = v; });
  take("method", [&](const std::string& v) { if (p.method.empty()) p.method = v; });
  take("seed", [&](const std::string& v) {
    if (p.seed == 0) {
      const int64_t s = parse_int("seed", v);
      if (s < 0) throw option_error("config key 'seed': must be ≥ 0, got " + v);
      p.seed = static_cast<uint64_t>(s);
    }
  });
  take("steps", [&](const std::string& v) { if (p.steps == 0) p.steps = parse_int("steps", v); });
  take("budget_grad_evals",
       [&](const std::string& v) { if (p.budget_grad_evals == 0) p.budget_grad_evals = parse_int("budget_grad_evals", v); });
  take("budget_seconds",
       [&](const std::string& v) { if (p.budget_seconds == 0) p.budget_seconds = parse_real("budget_seconds", v); });
  return cfg;
}

void check_params(TrainParams& p) {
  if (p.problem.empty()) throw option_error("no problem given (--problem NAME; see `bilevel-opt list problems`)");
  if (p.method.empty()) throw option_error("no method given (--method NAME; see `bilevel-opt list methods`)");
  if (p.steps < 0) throw option_error("--steps must be ≥ 0, got " + std::to_string(p.steps));
  if (p.budget_grad_evals < 0) throw option_error("--budget-grad-evals must be ≥ 0");
  if (p.budget_seconds < 0 || !std::isfinite(p.budget_seconds)) throw option_error("--budget-seconds must be ≥ 0");
  if (p.threads < 1) throw option_error("--threads must be ≥ 1, got " + std::to_string(p.threads));
  if (p.steps == 0 && p.budget_grad_evals == 0 && p.budget_seconds == 0) p.steps = 1000;
}

nlohmann::json config_json(const ResolvedRun& run) {
  const TrainParams& p = run.params;
  nlohmann::json c;
  c["problem"] = p.problem;
  c["method"] = p.method;
  c["seed"] = p.seed;
  c["steps"] = p.steps;
  c["budget_grad_evals"] = p.budget_grad_evals;
  c["budget_seconds"] = p.budget_seconds;
  c["threads"] = p.threads;
  c["problem_options"] = run.problem_opts.to_json();
  c["method_options"] = run.method_opts.to_json();
  c["run_options"] = run.run_opts.to_json();
  c["version"] = build_version;
  c["git_revision"] = build_git_revision;
  c["build_type"] = build_type;
  c["real"] = real_name;
  if (!p.config_file.empty()) c["config_file"] = p.config_file;
  return c;
}

}  // namespace

ResolvedRun resolve_run(const TrainParams& in) {
  ResolvedRun run;
  run.params = in;
  TrainParams& p = run.params;
  std::map<std::string, std::string> given;
  if (!p.config_file.empty()) given = apply_config_file(p);
  for (const auto& tok : p.sets) {
    auto [k, v] = parse_key_value(tok);
    given[k] = v;
  }
  check_params(p);

  const ProblemInfo& pinfo = find_problem(p.problem);
  const MethodInfo& minfo = find_method(p.method);
  // Problem-specific run defaults sit below the user's values.
  for (const auto& [k, v] : pinfo.run_defaults) given.emplace(k, v);

  run.problem_opts = Options::resolve("problem " + pinfo.name, pinfo.options, given);
  run.method_opts = Options::resolve("method " + minfo.name, minfo.options, given);
  run.run_opts = Options::resolve("run", run_option_specs(), given);
  if (!given.empty()) {
    std::vector<std::string> valid;
    for (const auto& s : pinfo.options) valid.push_back(s.key);
    for (const auto& s : minfo.options) valid.push_back(s.key);
    for (const auto& s : run_option_specs()) valid.push_back(s.key);
    throw_unknown_keys(given, valid);
  }
  run.config = config_json(run);
  return run;
}

}  // namespace bilevel
