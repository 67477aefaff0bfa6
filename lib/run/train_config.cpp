#include "run/train_config.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "base/config.hpp"
#include "base/names.hpp"
#include "base/number_text.hpp"
#include "hypergrad/estimator.hpp"
#include "run/build_info.hpp"
#include "sys/files.hpp"

namespace bilevel {

namespace fs = std::filesystem;

namespace {
// max_memory: a number of GiB, or the word "available".
OptionSpec max_memory_option() {
  OptionSpec s = opt_real("max_memory", 0,
                          "refuse (exit 2) a run whose estimator's memory model (README 'Scale') exceeds this many GiB "
                          "for the whole process; available: the memory free when the run starts; 0: no check",
                          0, 1e9);
  s.choices = {"available"};
  s.default_value = "available";
  return s;
}
}  // namespace

const std::vector<OptionSpec>& run_option_specs() {
  static const std::vector<OptionSpec> specs = {
      opt_int("meta_batch", 1, "tasks per outer step (estimated in parallel; at most 10000)", 1, 10000),
      opt_choice("outer_opt", "adam", {"sgd", "adam"}, "outer optimizer"),
      opt_real("outer_lr", 0.001, "outer learning rate (initial value of the schedule)", 0, 1e300, true),
      opt_choice("schedule", "constant", {"constant", "inv", "linear"},
                 "outer lr schedule: constant; inv: lr/(k+1); linear: lr·(1 − fraction of the budget used)"),
      opt_real("adam_beta1", 0.9, "Adam β₁", 0, 1),
      opt_real("adam_beta2", 0.999, "Adam β₂", 0, 1),
      opt_real("adam_eps", 1e-8, "Adam ε", 0, 1e300, true),
      opt_int("eval_every", 100, "evaluate test metrics every N outer steps (and at the start and end)", 1),
      opt_int("log_every", 1, "write a curve row every N outer steps (and at every evaluation)", 1),
      opt_int("instance_seed", 0,
              "seed of the problem instance (fixed matrices, evaluation tasks), kept fixed across --seed", 0),
      opt_int("checkpoint_every", 100,
              "write checkpoint.json every N outer steps, so `train --resume` continues a killed run (0: only when "
              "stopped by a signal)",
              0),
      opt_int("value_steps", 0,
              "on evaluation rows, also log the value function h(λ) = L_V(θ*(λ)) with θ* from this many inner GD "
              "steps, ‖∇h(λ)‖ by CG and ‖∇_θL_T‖ there (value, value_grad_norm, value_inner_grad_norm; 0: off)",
              0, 10000000),
      opt_int("value_cg_iters", 100, "CG iterations of ‖∇h(λ)‖ (value_steps > 0)", 1, 100000),
      max_memory_option(),
      opt_string("lambda_init_file", "",
                 "start from a saved λ instead of the problem's init: a run directory, or a lambda.npy / .npy file "
                 "(float32 or float64, the problem's λ shape)"),
  };
  return specs;
}

std::map<std::string, std::string> read_config_file(const std::string& path) {
  if (!fs::exists(path)) throw option_error("--config '" + path + "': file not found");
  std::string text;
  try {
    text = sys::read_file(path);
  } catch (const usage_error& e) {
    throw option_error(std::string("--config: ") + e.what());
  }
  const std::string head = text.substr(0, 256);
  const auto first = head.find_first_not_of(" \t\r\n");
  if (fs::path(path).extension() == ".json" || (first != std::string::npos && head[first] == '{')) {
    const fs::path dir = fs::path(path).parent_path();
    throw option_error("--config '" + path + "' is JSON, not a TOML config file; to rerun the run whose config.json it "
                       "is: bilevel-opt train --from " + (dir.empty() ? std::string(".") : dir.string()) + " --out NEW_DIR");
  }
  return parse_config_toml(text, path);
}


std::map<std::string, std::string> read_run_config(const std::string& run_dir, const std::string& flag) {
  const fs::path file = fs::path(run_dir) / "config.json";
  nlohmann::json c;
  try {
    c = sys::read_json(file);
  } catch (const usage_error& e) {
    throw option_error(flag + " '" + run_dir + "': " + e.what() + " (expected a run directory of `train`)");
  }
  if (!c.is_object() || !c.contains("problem") || !c["problem"].is_string() || !c.contains("method") ||
      !c["method"].is_string()) {
    throw option_error(flag + " '" + run_dir + "': " + file.string() + " is not a run's config.json (no problem and method)");
  }
  if (c["method"] == "random-search") {
    throw option_error(flag + " '" + run_dir + "' is a random-search run (bilevel-opt search): start a new one with "
                       "search and the options of its config.json");
  }
  std::map<std::string, std::string> out;
  for (const char* key : {"problem", "method", "seed", "steps", "budget_cost", "budget_seconds", "threads"})
    if (c.contains(key) && !c[key].is_object()) out[key] = config_value_text(c[key]);
  // Runs written before the rename: budget_grad_evals limited the same quantity.
  if (!c.contains("budget_cost") && c.contains("budget_grad_evals")) out["budget_cost"] = config_value_text(c["budget_grad_evals"]);
  for (const char* table : {"problem_options", "method_options", "run_options"}) {
    if (!c.contains(table) || !c[table].is_object()) continue;
    for (auto it = c[table].begin(); it != c[table].end(); ++it) out[it.key()] = config_value_text(*it);
  }
  return out;
}

namespace {

// Keys that were renamed: the old name is refused with the new one and what it counts.
void refuse_renamed_keys(const std::map<std::string, std::string>& given) {
  if (given.count("budget_grad_evals")) {
    throw option_error("'budget_grad_evals' was renamed 'budget_cost' (--budget-cost): it counts gradient "
                       "evaluations + Hessian-vector products in full-batch units, the `cost` of curve.jsonl and "
                       "result.json");
  }
}

// Moves the run-level keys of `cfg` (--from's config.json merged with the config file) into `p` where the
// command line left them unset, and returns the rest: problem, method and run options.
std::map<std::string, std::string> apply_config_map(TrainParams& p, std::map<std::string, std::string> cfg) {
  refuse_renamed_keys(cfg);
  auto take = [&](const char* key, auto apply) {
    auto it = cfg.find(key);
    if (it == cfg.end()) return;
    apply(it->second);
    cfg.erase(it);
  };
  take("problem", [&](const std::string& v) { if (p.problem.empty()) p.problem = v; });
  take("method", [&](const std::string& v) { if (p.method.empty()) p.method = v; });
  take("seed", [&](const std::string& v) {
    if (!p.seed_given && p.seed == 0) {
      const int64_t s = parse_int("seed", v);
      if (s < 0) throw option_error("config key 'seed': must be ≥ 0, got " + v);
      p.seed = static_cast<uint64_t>(s);
    }
  });
  take("steps", [&](const std::string& v) { if (p.steps == 0) p.steps = parse_int("steps", v); });
  take("budget_cost", [&](const std::string& v) { if (p.budget_cost == 0) p.budget_cost = parse_real("budget_cost", v); });
  take("budget_seconds",
       [&](const std::string& v) { if (p.budget_seconds == 0) p.budget_seconds = parse_real("budget_seconds", v); });
  take("threads", [&](const std::string& v) {
    if (!p.threads_given) p.threads = static_cast<int>(std::clamp<int64_t>(parse_int("threads", v), 1, 1 << 16));
  });
  return cfg;
}

void check_params(TrainParams& p) {
  if (p.problem.empty()) throw option_error("no problem given (--problem NAME; see `bilevel-opt list problems`)");
  if (p.method.empty()) throw option_error("no method given (--method NAME; see `bilevel-opt list methods`)");
  if (p.steps < 0) throw option_error("--steps must be ≥ 0, got " + std::to_string(p.steps));
  if (p.budget_cost < 0 || !std::isfinite(p.budget_cost)) throw option_error("--budget-cost must be ≥ 0");
  if (p.budget_seconds < 0 || !std::isfinite(p.budget_seconds)) throw option_error("--budget-seconds must be ≥ 0");
  if (p.threads < 1) throw option_error("--threads must be ≥ 1, got " + std::to_string(p.threads));
  if (p.steps == 0 && p.budget_cost == 0 && p.budget_seconds == 0) p.steps = 1000;
}

nlohmann::json config_json(const ResolvedRun& run) {
  const TrainParams& p = run.params;
  nlohmann::json c;
  c["problem"] = p.problem;
  c["method"] = p.method;
  c["seed"] = p.seed;
  c["steps"] = p.steps;
  c["budget_cost"] = p.budget_cost;
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
  if (!p.from_dir.empty()) c["from"] = p.from_dir;
  return c;
}

std::string join_names(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
  return out;
}

// "q" → "ufo", "dim" → "problem quadratic": who declares a key, or "" when nobody does.
std::string owners_of(const std::string& key) {
  std::vector<std::string> methods, problems;
  for (const auto& m : method_registry())
    for (const auto& s : m.options)
      if (s.key == key) methods.push_back(m.name);
  for (const auto& pr : problem_registry())
    for (const auto& s : pr.options)
      if (s.key == key) problems.push_back(pr.name);
  const std::string pr_text = (problems.size() > 1 ? "problems " : "problem ") + join_names(problems);
  if (problems.empty()) return join_names(methods);
  if (methods.empty()) return pr_text;
  return (methods.size() > 1 ? "methods " : "method ") + join_names(methods) + "; " + pr_text;
}

}  // namespace

std::string unplaced_keys_message(const std::map<std::string, std::string>& left, const std::string& here,
                                  const std::vector<std::string>& valid) {
  // The first few keys of each kind and the count: a config of 400 000 bad keys gives one short line.
  constexpr size_t shown = 5;
  std::string msg, names;
  size_t unknown = 0, misplaced = 0;
  for (const auto& [k, v] : left) {
    const std::string owners = owners_of(k);
    if (!owners.empty()) {
      if (++misplaced <= shown) {
        msg += (msg.empty() ? "" : "; ") + ("option '" + k + "' is not taken by " + here + "; it is an option of: " + owners);
      }
      continue;
    }
    if (++unknown > shown) continue;
    names += (names.empty() ? "'" : ", '") + (k.size() > 60 ? k.substr(0, 60) + "…" : k) + "'";
    const std::string hint = suggest(k, valid);
    if (!hint.empty()) names += " (did you mean '" + hint + "'?)";
  }
  if (misplaced > shown) msg += " (and " + std::to_string(misplaced - shown) + " more such options)";
  if (unknown > shown) names += " and " + std::to_string(unknown - shown) + " more (" + std::to_string(unknown) + " in all)";
  if (unknown > 0) {
    msg += (msg.empty() ? "" : "; ") + std::string("unknown option") + (unknown > 1 ? "s " : " ") + names +
           "; valid options here: " + join_names(valid);
  }
  return msg;
}

ResolvedRun resolve_run(const TrainParams& in) {
  ResolvedRun run;
  run.params = in;
  TrainParams& p = run.params;
  std::map<std::string, std::string> cfg;
  if (p.resume) {
    if (!p.from_dir.empty() || !p.config_file.empty() || !p.sets.empty() || !p.problem.empty() || !p.method.empty() ||
        p.seed_given || p.steps != 0 || p.budget_cost != 0 || p.budget_seconds != 0) {
      throw option_error("--resume continues a run with its own options (its config.json); only --threads and "
                         "--quiet may be given (to change options, start a new run: --from DIR --set …)");
    }
    cfg = read_run_config(p.out_dir, "--resume");
  }
  if (!p.from_dir.empty()) cfg = read_run_config(p.from_dir);
  if (!p.config_file.empty()) {
    for (auto& [k, v] : read_config_file(p.config_file)) cfg[k] = v;
  }
  std::map<std::string, std::string> given = apply_config_map(p, std::move(cfg));
  std::set<std::string> set_keys;
  for (const auto& tok : p.sets) {
    auto [k, v] = parse_key_value(tok);
    if (!set_keys.insert(k).second) {
      throw option_error("--set " + k + " is given twice; give each option once");
    }
    given[k] = v;  // the command line wins over --from and --config
  }
  refuse_renamed_keys(given);
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
    throw option_error(unplaced_keys_message(given, "method '" + minfo.name + "' or problem '" + pinfo.name + "'", valid));
  }
  run.config = config_json(run);
  return run;
}

}  // namespace bilevel
