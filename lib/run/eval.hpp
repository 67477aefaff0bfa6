#pragma once
// `bilevel-opt eval RUN_DIR`: the problem's metrics (Problem::evaluate and diagnostics) at a run's saved λ —
// the inner problem solved again from λ — with the run's problem options, or with some changed (`--set
// inner_steps=200`, another dataset split, another instance_seed). With the run's own options it reproduces
// the run's recorded final metrics exactly (the same λ bits, the same deterministic evaluation).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bilevel {

struct EvalParams {
  std::string run_dir;
  std::vector<std::string> sets;  // KEY=VALUE: problem options, or instance_seed
  std::string lambda_file;        // another λ (a .npy, a lambda.bin or a run directory); "" = the run's own
  std::string out_file;           // JSON report, or "" for none
};

// Evaluates and (with out_file) writes the report atomically:
//   {"run", "problem", "problem_options", "instance_seed", "changed": {key: value}, "lambda": {source, shape},
//    "metrics": {name: value}, "recorded": result.json's final metrics (or null)}.
// Throws option_error before evaluating anything for a directory that is not a finished run, an option the
// problem does not take (naming who takes it), or a λ that does not fit the problem.
nlohmann::json run_eval(const EvalParams& params);

// The report as a table: metric, value now, value recorded by the run, and whether they are identical.
std::string eval_table_text(const nlohmann::json& report);

}  // namespace bilevel
