#include "run/random_search.hpp"

#include <oneapi/tbb/global_control.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include "base/number_text.hpp"
#include "hypergrad/estimator.hpp"
#include "run/meta_batch.hpp"
#include "run/progress.hpp"
#include "run/run_dir.hpp"
#include "run/run_state.hpp"
#include "run/train.hpp"
#include "sys/host.hpp"

namespace bilevel {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int64_t max_search_dim = 100;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Everything the search loop reads.
struct Search {
  const TrainParams& params;
  const Problem& problem;
  const Estimator& scorer;  // fo: the inner solve and the outer loss
  Budget budget;
  double low, high;
  int64_t meta_batch, eval_every, log_every;
  ProgressLine* progress;
  const std::atomic<bool>* stop;
};

struct SearchState {
  RunCounters counters;
  Tensor start, best;
  double best_loss = std::numeric_limits<double>::infinity();
  int64_t best_candidate = -1;
  Metrics last_eval;                 // of the best candidate when it was evaluated:
  int64_t last_eval_candidate = -2;  // that candidate's index (-1: the start), -2 before any evaluation
};

Tensor candidate(const Search& s, const SearchState& st, int64_t k) {
  if (k == 0) return st.start;
  Rng rng(s.params.seed, {stream_search, static_cast<uint64_t>(k)});
  Tensor lam(Shape{s.problem.lambda_dim()});
  for (int64_t i = 0; i < lam.numel(); ++i) lam[i] = static_cast<real>(rng.uniform(s.low, s.high));
  return lam;
}

void evaluate_best(const Search& s, SearchState& st, nlohmann::json& row) {
  const auto t0 = clock_type::now();
  st.last_eval = s.problem.evaluate(st.best_candidate < 0 ? st.start : st.best);
  st.last_eval_candidate = st.best_candidate;
  st.counters.eval_seconds += seconds_since(t0);
  for (const auto& [k, v] : st.last_eval) row[k] = json_number(v);
}

// Scores candidate k on its tasks (streams (seed, stream_task, k, task), as train's step k) and keeps the best.
double score_candidate(const Search& s, SearchState& st, int64_t k, std::vector<HypergradResult>& results) {
  const auto t0 = clock_type::now();
  Tensor lam = candidate(s, st, k);
  estimate_tasks(s.problem, s.scorer, lam, s.params.seed, k, 0, results);
  const MetaBatchResult m = reduce_meta_batch(results, s.problem.lambda_dim());
  RunCounters& c = st.counters;
  c.grad_evals += m.grad_evals;
  c.hvps += m.hvps;
  c.cost += m.cost;
  c.peak_bytes = std::max(c.peak_bytes, m.peak_bytes);
  c.est_seconds += seconds_since(t0);
  ++c.step;
  if (std::isfinite(m.outer_loss) && m.outer_loss < st.best_loss) {
    st.best_loss = m.outer_loss;
    st.best = std::move(lam);
    st.best_candidate = k;
  }
  return m.outer_loss;
}

nlohmann::json search_row(SearchState& st, double loss) {
  const RunCounters& c = st.counters;
  return {{"step", c.step},         {"seconds", c.est_seconds},   {"cost", c.cost},
          {"grad_evals", c.grad_evals}, {"hvps", c.hvps},           {"outer_loss", json_number(loss)},
          {"best_outer_loss", json_number(st.best_loss)}, {"best_candidate", st.best_candidate}};
}

std::string search_loop(const Search& s, SearchState& st, CurveLog& curve) {
  std::vector<HypergradResult> results(static_cast<size_t>(s.meta_batch));
  nlohmann::json row0 = {{"step", 0}, {"seconds", 0.0}, {"cost", 0}, {"grad_evals", 0}, {"hvps", 0}, {"outer_loss", nullptr}};
  evaluate_best(s, st, row0);
  row0["eval_seconds"] = st.counters.eval_seconds;
  curve.write_row(row0);
  std::string status = "ok";
  while (s.budget.fraction(st.counters) < 1.0) {
    if (s.stop != nullptr && s.stop->load()) {
      status = "interrupted";
      break;
    }
    const int64_t best_before = st.best_candidate;
    const double loss = score_candidate(s, st, st.counters.step, results);
    const bool last = s.budget.fraction(st.counters) >= 1.0 || (s.stop != nullptr && s.stop->load());
    const bool eval = last || st.counters.step % s.eval_every == 0;
    if (eval || st.counters.step % s.log_every == 0 || st.best_candidate != best_before) {
      nlohmann::json row = search_row(st, loss);
      if (eval) evaluate_best(s, st, row);
      row["eval_seconds"] = st.counters.eval_seconds;
      curve.write_row(row);
    }
    if (s.progress) {
      Metrics values;
      if (!st.last_eval.empty()) values.push_back(st.last_eval.front());
      values.emplace_back("best_outer_loss", st.best_loss);
      s.progress->update(st.counters, values, last);
    }
  }
  curve.close();
  if (s.progress) s.progress->clear();
  return status;
}

nlohmann::json search_result(const Search& s, const SearchState& st, const std::string& status, double wall) {
  const Tensor& best = st.best_candidate < 0 ? st.start : st.best;
  nlohmann::json fin;
  fin["outer_loss"] = json_number(st.best_loss);
  // The last row's evaluation when it is of this best (always so for a search that used its budget); a stop
  // between rows may have left a newer best unevaluated.
  const Metrics eval = st.last_eval_candidate == st.best_candidate ? st.last_eval : s.problem.evaluate(best);
  for (const auto& [k, v] : eval) fin[k] = json_number(v);
  for (const auto& [k, v] : s.problem.diagnostics(best)) fin[k] = json_number(v);
  const RunCounters& c = st.counters;
  return {{"status", status},
          {"problem", s.params.problem},
          {"method", "random-search"},
          {"seed", s.params.seed},
          {"steps", c.step},
          {"best_candidate", st.best_candidate},
          {"cost", c.cost},
          {"grad_evals", c.grad_evals},
          {"hvps", c.hvps},
          {"seconds", c.est_seconds},
          {"eval_seconds", c.eval_seconds},
          {"wall_seconds", wall},
          {"peak_rss_bytes", sys::peak_rss_bytes()},
          {"peak_estimator_bytes", c.peak_bytes},
          {"final", fin},
          {"lambda", lambda_summary(best, s.problem.lambda_layout())}};
}

// Takes the search's own keys (low, high) out of --set, resolves them, and refuses a bad box.
Options take_search_options(TrainParams& p) {
  std::map<std::string, std::string> mine;
  std::vector<std::string> rest;
  for (const auto& tok : p.sets) {
    auto [k, v] = parse_key_value(tok);
    bool ours = false;
    for (const auto& spec : search_option_specs()) ours = ours || spec.key == k;
    if (ours) mine[k] = v;
    else rest.push_back(tok);
  }
  p.sets = rest;
  Options o = Options::resolve("random-search", search_option_specs(), mine);
  if (!(o.get_real("low") < o.get_real("high"))) {
    throw option_error("random search: low (" + o.get_string("low") + ") must be below high (" + o.get_string("high") + ")");
  }
  return o;
}

}  // namespace

const std::vector<OptionSpec>& search_option_specs() {
  static const std::vector<OptionSpec> specs = {
      opt_real("low", -8, "random search: lower end of the box each coordinate of λ is drawn from"),
      opt_real("high", 2, "random search: upper end of the box each coordinate of λ is drawn from"),
  };
  return specs;
}

SearchOutcome run_random_search(TrainParams p, const std::atomic<bool>* stop) {
  const Options search_opts = take_search_options(p);
  p.method = "fo";
  const ResolvedRun run = resolve_run(p);
  const ProblemInfo& pinfo = find_problem(run.params.problem);
  const std::unique_ptr<Problem> problem =
      pinfo.make(run.problem_opts, static_cast<uint64_t>(run.run_opts.get_int("instance_seed")));
  if (problem->lambda_dim() > max_search_dim) {
    throw option_error("random search is a baseline for few hyperparameters: problem '" + problem->name() + "' has " +
                       std::to_string(problem->lambda_dim()) + " (at most " + std::to_string(max_search_dim) +
                       "; e.g. hpo-l2 with --set decay=scalar)");
  }
  const std::unique_ptr<Estimator> scorer = make_estimator(find_method("fo"), run.method_opts, *problem);
  SearchState st;
  st.start = saved_initial_lambda(run.run_opts, *problem);
  if (st.start.numel() == 0) st.start = initial_run_state(*problem, run.run_opts, run.params.seed).lambda;

  const fs::path out(run.params.out_dir);
  sys::ensure_writable_dir(out);
  const sys::DirLock lock(out, "search", "--out");
  std::error_code ec;
  if (fs::exists(out / "result.json", ec) && !run.params.force) {
    throw option_error("--out '" + run.params.out_dir + "' already holds a finished run (result.json); choose another "
                       "directory or pass --force");
  }
  fs::remove(out / "result.json", ec);
  nlohmann::json config = run.config;
  config["method"] = "random-search";
  config["method_options"] = search_opts.to_json();
  config["command_line"] = run.params.command_line;
  config["start_time"] = sys::utc_now_text();
  config["host"] = sys::host_name();
  sys::write_json_atomic(out / "config.json", config);

  tbb::global_control threads_ctl(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(run.params.threads));
  const Budget budget{run.params.steps, run.params.budget_cost, run.params.budget_seconds};
  std::unique_ptr<ProgressLine> progress;
  if (!run.params.quiet && ::isatty(STDERR_FILENO)) progress = std::make_unique<ProgressLine>(budget, 0.0, "candidates");
  const Options& ro = run.run_opts;
  const Search s{run.params, *problem, *scorer, budget, search_opts.get_real("low"), search_opts.get_real("high"),
                 ro.get_int("meta_batch"), ro.get_int("eval_every"), ro.get_int("log_every"), progress.get(), stop};
  const auto wall_start = clock_type::now();
  CurveLog curve(out / "curve.jsonl");
  const std::string status = search_loop(s, st, curve);
  nlohmann::json res = search_result(s, st, status, seconds_since(wall_start));
  add_curve_record(res, curve);
  write_run_result(out, st.best_candidate < 0 ? st.start : st.best, res);
  return {status, res};
}

}  // namespace bilevel
