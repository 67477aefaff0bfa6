#include "run/train.hpp"

#include <oneapi/tbb/global_control.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "base/number_text.hpp"
#include "hypergrad/estimator.hpp"
#include "run/meta_batch.hpp"
#include "run/run_dir.hpp"
#include "run/run_state.hpp"
#include "sys/host.hpp"

namespace bilevel {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

void add_metrics(nlohmann::json& row, const Metrics& m) {
  for (const auto& [k, v] : m) row[k] = json_number(v);
}

std::string format_eta(double s) {
  char buf[32];
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 120) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else std::snprintf(buf, sizeof buf, "%.0fm%02.0fs", std::floor(s / 60), std::fmod(s, 60));
  return buf;
}

// What stays fixed while one run goes.
struct Loop {
  const TrainParams& params;
  const Options& run_opts;
  const Problem& problem;
  Estimator& estimator;  // its state (begin_step/end_step) changes from step to step
  Budget budget;
  int64_t meta_batch, eval_every, log_every;
  bool progress;                   // a progress line on stderr
  const std::atomic<bool>* stop;   // may be null

  bool stop_requested() const { return stop != nullptr && stop->load(); }
};

// How the run ends: "ok" until something ends it early.
struct RunEnd {
  std::string status = "ok", message;
  bool ok() const { return status == "ok"; }
};

// What one outer step reports to the curve and the progress line.
struct StepReport {
  double loss = 0, gnorm = 0, lr = 0;
  Metrics extras;  // per-task extras summed over the meta-batch
};

// Evaluation and diagnostics count as evaluation time, not estimator time.
void evaluate_into(nlohmann::json& row, const Loop& loop, RunState& s) {
  const auto t0 = clock_type::now();
  s.last_eval = loop.problem.evaluate(s.lambda);
  s.counters.eval_seconds += seconds_since(t0);
  add_metrics(row, s.last_eval);
}

void diagnostics_into(nlohmann::json& row, const Loop& loop, RunState& s) {
  const auto t0 = clock_type::now();
  add_metrics(row, loop.problem.diagnostics(s.lambda));
  s.counters.eval_seconds += seconds_since(t0);
}

// Row 0: the initial λ, before any step.
nlohmann::json initial_row(const Loop& loop, RunState& s) {
  nlohmann::json row;
  row["step"] = 0;
  row["seconds"] = 0.0;
  row["grad_evals"] = 0;
  row["hvps"] = 0;
  row["outer_loss"] = nullptr;
  row["hypergrad_norm"] = nullptr;
  evaluate_into(row, loop, s);
  diagnostics_into(row, loop, s);
  row["eval_seconds"] = s.counters.eval_seconds;
  return row;
}

// One outer step: the meta-batch's hypergradient at λ, then λ ← optimizer step. Sets `end` when the step
// diverges (λ is then left as it was if the hypergradient itself is not finite).
StepReport outer_step(const Loop& loop, RunState& s, std::vector<HypergradResult>& results, RunEnd& end) {
  const auto t0 = clock_type::now();
  BILEVEL_FAULT_POINT("train_step");
  RunCounters& c = s.counters;
  loop.estimator.begin_step(c.step);
  estimate_tasks(loop.problem, loop.estimator, s.lambda, loop.params.seed, c.step, 0, results);
  MetaBatchResult m = reduce_meta_batch(results, loop.problem.lambda_dim());
  c.grad_evals += m.grad_evals;
  c.hvps += m.hvps;
  c.peak_bytes = std::max(c.peak_bytes, m.peak_bytes);
  loop.estimator.end_step(results);
  // The schedule sees this step's cost already counted (schedule=linear) and the step not yet done.
  StepReport r{m.outer_loss, std::sqrt(norm2(m.grad)), scheduled_lr(loop.run_opts, loop.budget, c),
               std::move(m.extras)};
  if (!std::isfinite(r.gnorm) || !std::isfinite(r.loss)) {
    end = {"diverged", "non-finite hypergradient or outer loss at step " + std::to_string(c.step)};
  } else {
    s.optimizer.step(s.lambda, m.grad, r.lr);
    if (!s.lambda.all_finite()) end = {"diverged", "λ became non-finite at step " + std::to_string(c.step)};
  }
  c.est_seconds += seconds_since(t0);
  ++c.step;
  s.record_loss(r.loss);
  return r;
}

// The curve row after a step; evaluation metrics every eval_every steps and on the last row.
nlohmann::json step_row(const Loop& loop, RunState& s, const StepReport& r, const RunEnd& end, bool last) {
  const RunCounters& c = s.counters;
  nlohmann::json row;
  row["step"] = c.step;
  row["seconds"] = c.est_seconds;
  row["grad_evals"] = c.grad_evals;
  row["hvps"] = c.hvps;
  row["outer_loss"] = json_number(r.loss);
  row["hypergrad_norm"] = json_number(r.gnorm);
  row["outer_lr"] = r.lr;
  for (const auto& [k, v] : loop.estimator.state()) row[k] = json_number(v);
  for (const auto& [k, v] : r.extras)
    if (k == "exact_drawn") row[k] = v;
  if (end.ok()) {
    diagnostics_into(row, loop, s);
    if (c.step % loop.eval_every == 0 || last) evaluate_into(row, loop, s);
  }
  row["eval_seconds"] = c.eval_seconds;
  return row;
}

void print_progress(const Loop& loop, const RunState& s, const StepReport& r) {
  const double frac = loop.budget.fraction(s.counters);
  const double eta = frac > 0 ? s.counters.est_seconds * (1 - frac) / frac : NAN;
  std::fprintf(stderr, "\r  step %lld  %3.0f%%  ETA %s  outer_loss %.4g", static_cast<long long>(s.counters.step),
               100 * frac, format_eta(eta).c_str(), r.loss);
  for (const auto& [k, v] : loop.estimator.state()) std::fprintf(stderr, "  %s %.3g", k.c_str(), v);
  std::fprintf(stderr, "   ");
}

// Outer steps until the budget is used, a stop is requested, the run diverges or something fails (status
// "error" with the message; an internal error says so).
RunEnd train_loop(const Loop& loop, RunState& s, CurveLog& curve) {
  RunEnd end;
  std::vector<HypergradResult> results(static_cast<size_t>(loop.meta_batch));
  try {
    while (true) {
      if (loop.budget.fraction(s.counters) >= 1.0) break;
      if (loop.stop_requested()) {
        end.status = "interrupted";
        break;
      }
      const StepReport r = outer_step(loop, s, results, end);
      const bool last = !end.ok() || loop.budget.fraction(s.counters) >= 1.0 || loop.stop_requested();
      if (s.counters.step % loop.log_every == 0 || last) curve.write_row(step_row(loop, s, r, end, last));
      if (loop.progress) print_progress(loop, s, r);
      if (!end.ok()) break;
    }
    curve.close();
  } catch (const internal_error& e) {
    end = {"error", std::string("internal error: ") + e.what()};
  } catch (const std::exception& e) {
    end = {"error", e.what()};
  }
  if (loop.progress) std::fprintf(stderr, "\n");
  return end;
}

nlohmann::json final_metrics(const Loop& loop, const RunState& s, const RunEnd& end) {
  nlohmann::json fin;
  if (!s.recent_losses.empty()) {
    double sum = 0;
    for (double v : s.recent_losses) sum += v;
    fin["outer_loss"] = json_number(sum / static_cast<double>(s.recent_losses.size()));
  }
  for (const auto& [k, v] : s.last_eval) fin[k] = json_number(v);
  if (end.status == "ok" || end.status == "interrupted") {
    for (const auto& [k, v] : loop.problem.diagnostics(s.lambda)) fin[k] = json_number(v);
  }
  return fin;
}

nlohmann::json result_json(const Loop& loop, const RunState& s, const RunEnd& end, double wall_seconds) {
  const TrainParams& p = loop.params;
  const RunCounters& c = s.counters;
  nlohmann::json res;
  res["status"] = end.status;
  if (!end.message.empty()) res["message"] = end.message;
  res["problem"] = p.problem;
  res["method"] = p.method;
  res["seed"] = p.seed;
  res["steps"] = c.step;
  res["grad_evals"] = c.grad_evals;
  res["hvps"] = c.hvps;
  res["seconds"] = c.est_seconds;
  res["eval_seconds"] = c.eval_seconds;
  res["wall_seconds"] = wall_seconds;
  res["peak_rss_bytes"] = sys::peak_rss_bytes();
  res["peak_estimator_bytes"] = c.peak_bytes;
  res["final"] = final_metrics(loop, s, end);
  res["lambda"] = lambda_summary(s.lambda);
  return res;
}

struct Built {
  std::unique_ptr<Problem> problem;
  std::unique_ptr<Estimator> estimator;
};

// The problem (which may load data) and the estimator are built before anything is written: a missing data
// file or an estimator refused for this problem leaves no run directory behind.
Built build_problem_and_estimator(const ResolvedRun& run, const fs::path& out, bool out_existed) {
  const ProblemInfo& pinfo = find_problem(run.params.problem);
  const MethodInfo& minfo = find_method(run.params.method);
  Built b;
  try {
    b.problem = pinfo.make(run.problem_opts, static_cast<uint64_t>(run.run_opts.get_int("instance_seed")));
    b.estimator = make_estimator(minfo, run.method_opts, *b.problem);
  } catch (...) {
    std::error_code ignored;
    if (!out_existed && fs::is_empty(out, ignored)) fs::remove(out, ignored);
    throw;
  }
  return b;
}

}  // namespace

TrainOutcome run_train(const ResolvedRun& run, const std::atomic<bool>* stop) {
  const TrainParams& p = run.params;
  const fs::path out(p.out_dir);
  const bool out_existed = fs::exists(out);
  sys::ensure_writable_dir(out);
  if (fs::exists(out / "result.json") && !p.force) {
    throw option_error("--out '" + p.out_dir +
                       "' already holds a finished run (result.json); choose another directory or pass --force");
  }
  Built built = build_problem_and_estimator(run, out, out_existed);
  std::error_code ec;
  fs::remove(out / "result.json", ec);
  sys::write_json_atomic(out / "config.json", run.config);

  tbb::global_control threads_ctl(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(p.threads));
  const Options& ro = run.run_opts;
  const Loop loop{p, ro, *built.problem, *built.estimator, Budget{p.steps, p.budget_grad_evals, p.budget_seconds},
                  ro.get_int("meta_batch"), ro.get_int("eval_every"), ro.get_int("log_every"),
                  !p.quiet && ::isatty(STDERR_FILENO), stop};
  RunState state = initial_run_state(*built.problem, ro, p.seed);
  CurveLog curve(out / "curve.jsonl");
  const auto wall_start = clock_type::now();
  curve.write_row(initial_row(loop, state));
  const RunEnd end = train_loop(loop, state, curve);
  const nlohmann::json res = result_json(loop, state, end, seconds_since(wall_start));
  write_run_result(out, state.lambda, res);
  return {end.status, res};
}

}  // namespace bilevel
