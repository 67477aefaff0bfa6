#include "run/eval.hpp"

#include <filesystem>
#include <map>
#include <sstream>

#include "base/number_text.hpp"
#include "hypergrad/estimator.hpp"
#include "run/number_format.hpp"
#include "run/run_dir.hpp"
#include "run/train_config.hpp"
#include "sys/files.hpp"

namespace bilevel {

namespace fs = std::filesystem;

namespace {

// The run's config.json and result.json (the latter may be missing when --lambda gives λ).
struct SavedRun {
  nlohmann::json config, result;
};

SavedRun read_saved_run(const EvalParams& p) {
  SavedRun r;
  const fs::path dir(p.run_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec) || !fs::exists(dir / "config.json", ec)) {
    throw option_error("eval: '" + p.run_dir + "' is not a run directory (no config.json)");
  }
  try {
    r.config = sys::read_json(dir / "config.json");
    if (fs::exists(dir / "result.json", ec)) r.result = sys::read_json(dir / "result.json");
  } catch (const usage_error& e) {
    throw option_error(std::string("eval: ") + e.what());
  }
  if (!r.config.is_object() || !r.config.contains("problem") || !r.config["problem"].is_string()) {
    throw option_error("eval: " + (dir / "config.json").string() + " is not a run's config (no problem)");
  }
  if (p.lambda_file.empty() && !r.result.is_object()) {
    throw option_error("eval: '" + p.run_dir + "' has no result.json yet (the run has not ended; its λ is written "
                       "at the end — continue it with `train --resume`), or give one with --lambda");
  }
  return r;
}

// The run's problem options with the --set changes; instance_seed (a run option) fixes the instance.
struct EvalSetup {
  const ProblemInfo* info = nullptr;
  Options problem_opts;
  uint64_t instance_seed = 0;
  nlohmann::json changed = nlohmann::json::object();
};

EvalSetup resolve_eval(const EvalParams& p, const nlohmann::json& config) {
  EvalSetup s;
  s.info = &find_problem(config["problem"].get<std::string>());
  std::map<std::string, std::string> given;
  if (config.contains("problem_options") && config["problem_options"].is_object()) {
    for (auto it = config["problem_options"].begin(); it != config["problem_options"].end(); ++it)
      given[it.key()] = config_value_text(*it);
  }
  int64_t instance_seed = 0;
  if (config.contains("run_options") && config["run_options"].is_object() &&
      config["run_options"].contains("instance_seed")) {
    instance_seed = parse_int("instance_seed", config_value_text(config["run_options"]["instance_seed"]));
  }
  std::map<std::string, std::string> left;
  for (const auto& tok : p.sets) {
    auto [k, v] = parse_key_value(tok);
    s.changed[k] = v;
    if (k == "instance_seed") instance_seed = parse_int("instance_seed", v);
    else given[k] = v;
  }
  if (instance_seed < 0) throw option_error("option 'instance_seed': must be ≥ 0");
  s.instance_seed = static_cast<uint64_t>(instance_seed);
  s.problem_opts = Options::resolve("problem " + s.info->name, s.info->options, given);
  if (!given.empty()) {
    std::vector<std::string> valid = {"instance_seed"};
    for (const auto& spec : s.info->options) valid.push_back(spec.key);
    throw option_error("eval: " + unplaced_keys_message(
                                      given, "eval (it takes problem " + s.info->name + "'s options and instance_seed)", valid));
  }
  return s;
}

}  // namespace

nlohmann::json run_eval(const EvalParams& p) {
  const SavedRun saved = read_saved_run(p);
  const EvalSetup setup = resolve_eval(p, saved.config);
  if (!p.out_file.empty()) {
    const auto parent = fs::path(p.out_file).parent_path();
    if (!parent.empty() && p.out_file != "-") sys::ensure_writable_dir(parent, "--out");
    sys::check_output_target(p.out_file, "--out");
  }
  const std::unique_ptr<Problem> problem = setup.info->make(setup.problem_opts, setup.instance_seed);
  const std::string source = p.lambda_file.empty() ? p.run_dir : p.lambda_file;
  Tensor lambda;
  try {
    lambda = read_saved_lambda(source, p.lambda_file.empty() ? "eval" : "--lambda");
  } catch (const usage_error& e) {
    throw option_error(e.what());
  }
  if (lambda.numel() != problem->lambda_dim()) {
    throw option_error("eval: λ from '" + source + "' has " + std::to_string(lambda.numel()) + " values, but problem '" +
                       problem->name() + "' with these options has " + std::to_string(problem->lambda_dim()));
  }
  lambda = lambda.reshaped(Shape{problem->lambda_dim()});

  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [k, v] : problem->evaluate(lambda)) metrics[k] = json_number(v);
  for (const auto& [k, v] : problem->diagnostics(lambda)) metrics[k] = json_number(v);
  nlohmann::json report;
  report["run"] = p.run_dir;
  report["problem"] = problem->name();
  report["problem_options"] = setup.problem_opts.to_json();
  report["instance_seed"] = setup.instance_seed;
  report["changed"] = setup.changed;
  report["lambda"] = {{"source", source}, {"shape", lambda.shape().to_vector()}};
  report["metrics"] = metrics;
  report["recorded"] = saved.result.is_object() && saved.result.contains("final") ? saved.result["final"] : nlohmann::json();
  if (!p.out_file.empty()) sys::write_output(p.out_file, report.dump(2) + "\n");
  return report;
}

std::string eval_table_text(const nlohmann::json& report) {
  std::ostringstream s;
  s << report["problem"].get<std::string>() << " at the λ of " << report["lambda"]["source"].get<std::string>();
  if (!report["changed"].empty()) {
    s << ", with";
    for (auto it = report["changed"].begin(); it != report["changed"].end(); ++it)
      s << " " << it.key() << "=" << it->get<std::string>();
  }
  s << "\n\n| metric | now | recorded by the run | same |\n|---|--:|--:|---|\n";
  const nlohmann::json& rec = report["recorded"];
  for (auto it = report["metrics"].begin(); it != report["metrics"].end(); ++it) {
    const bool has = rec.is_object() && rec.contains(it.key()) && rec[it.key()].is_number();
    const double now = it->is_number() ? it->get<double>() : NAN;
    const double then = has ? rec[it.key()].get<double>() : NAN;
    s << "| " << it.key() << " | " << format_value(now) << " | " << (has ? format_value(then) : "—") << " | "
      << (has ? (now == then ? "yes" : "no") : "") << " |\n";
  }
  return s.str();
}

}  // namespace bilevel
