#include "run/train.hpp"

#include <oneapi/tbb/global_control.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "base/number_text.hpp"
#include "hypergrad/estimator.hpp"
#include "hypergrad/value_function.hpp"
#include "run/checkpoint.hpp"
#include "run/distributed.hpp"
#include "run/meta_batch.hpp"
#include "run/progress.hpp"
#include "run/run_dir.hpp"
#include "run/run_state.hpp"
#include "run/sweep_index.hpp"
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

// What stays fixed while one run goes.
struct Loop {
  const TrainParams& params;
  const Options& run_opts;
  const Problem& problem;
  Estimator& estimator;  // its state (begin_step/end_step) changes from step to step
  Budget budget;
  int64_t meta_batch, eval_every, log_every, checkpoint_every;
  fs::path dir;
  nlohmann::json identity;         // what a checkpoint must match (run/checkpoint.hpp)
  clock_type::time_point wall_start;  // of this session
  double earlier_wall;             // wall seconds of earlier sessions (a resumed run)
  ProgressLine* progress;          // null: no progress line
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

// The value function on evaluation rows when value_steps > 0 (hypergrad/value_function.hpp), on the task of
// stream_value (for the fixed-task HPO problems, their one task); evaluation time.
void value_into(nlohmann::json& row, const Loop& loop, RunState& s) {
  const int64_t steps = loop.run_opts.get_int("value_steps");
  if (steps == 0) return;
  const auto t0 = clock_type::now();
  Rng rng(loop.params.seed, {stream_value});
  const Task task = loop.problem.sample_task(rng);
  const ValueFunction v =
      value_function(loop.problem, s.lambda, task, {.inner_steps = steps, .cg_iters = loop.run_opts.get_int("value_cg_iters")});
  s.counters.eval_seconds += seconds_since(t0);
  row["value"] = json_number(v.value);
  row["value_grad_norm"] = json_number(v.grad_norm);
  row["value_inner_grad_norm"] = json_number(v.inner_grad_norm);
}

// Evaluation and diagnostics count as evaluation time, not estimator time.
void evaluate_into(nlohmann::json& row, const Loop& loop, RunState& s) {
  const auto t0 = clock_type::now();
  s.last_eval = loop.problem.evaluate(s.lambda);
  s.counters.eval_seconds += seconds_since(t0);
  add_metrics(row, s.last_eval);
  value_into(row, loop, s);
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
  row["cost"] = 0;
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
  estimate_meta_batch(loop.problem, loop.estimator, s.lambda, loop.params.seed, c.step, results, loop.stop);
  MetaBatchResult m = reduce_meta_batch(results, loop.problem.lambda_dim());
  c.grad_evals += m.grad_evals;
  c.hvps += m.hvps;
  c.cost += m.cost;
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

// The curve row after a step; evaluation metrics every eval_every steps and on the last row (train_loop writes
// a row at every such step).
nlohmann::json step_row(const Loop& loop, RunState& s, const StepReport& r, const RunEnd& end, bool last) {
  const RunCounters& c = s.counters;
  nlohmann::json row;
  row["step"] = c.step;
  row["seconds"] = c.est_seconds;
  row["cost"] = c.cost;
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

// The progress line's values: the latest evaluation metric, the outer loss, the estimator's state (q).
void show_progress(const Loop& loop, const RunState& s, const StepReport& r, bool force) {
  if (loop.progress == nullptr) return;
  Metrics values;
  if (!s.last_eval.empty()) values.push_back(s.last_eval.front());
  values.emplace_back("outer_loss", r.loss);
  for (const auto& kv : loop.estimator.state()) values.push_back(kv);
  loop.progress->update(s.counters, values, force);
}

void save_checkpoint(const Loop& loop, RunState& s, const CurveLog& curve) {
  s.counters.wall_seconds = loop.earlier_wall + seconds_since(loop.wall_start);
  write_checkpoint(loop.dir, s, loop.estimator.save_state(), curve.bytes(), loop.identity);
}

// Outer steps until the budget is used, a stop is requested, the run diverges or something fails (status
// "error" with the message; an internal error says so). A stopped run checkpoints where it stopped; its last
// row is an ordinary one, so a resumed run logs exactly the rows an uninterrupted one would.
RunEnd train_loop(const Loop& loop, RunState& s, CurveLog& curve) {
  RunEnd end;
  std::vector<HypergradResult> results(static_cast<size_t>(loop.meta_batch));
  try {
    while (true) {
      if (loop.budget.fraction(s.counters) >= 1.0) break;
      if (loop.stop_requested()) {
        if (std::string lost = lost_ranks(); !lost.empty()) {  // a distributed run whose rank died
          end = {"error", std::move(lost)};
          break;
        }
        end.status = "interrupted";
        save_checkpoint(loop, s, curve);
        break;
      }
      const StepReport r = outer_step(loop, s, results, end);
      const bool last = !end.ok() || loop.budget.fraction(s.counters) >= 1.0;
      // Evaluation steps are always logged, so "evaluate every eval_every steps" holds for any log_every.
      const bool eval_step = s.counters.step % loop.eval_every == 0;
      if (s.counters.step % loop.log_every == 0 || eval_step || last) curve.write_row(step_row(loop, s, r, end, last));
      show_progress(loop, s, r, last);
      if (!end.ok()) break;
      if (!last && loop.checkpoint_every > 0 && s.counters.step % loop.checkpoint_every == 0) save_checkpoint(loop, s, curve);
    }
    curve.close();
  } catch (const step_abandoned& e) {  // a distributed step stopped or lost a rank (run/distributed.hpp)
    end = {e.status, e.what()};
    try {
      if (end.status == "interrupted") save_checkpoint(loop, s, curve);
    } catch (const std::exception& e2) {
      end = {"error", e2.what()};
    }
  } catch (const internal_error& e) {
    end = {"error", std::string("internal error: ") + e.what()};
  } catch (const std::exception& e) {
    end = {"error", e.what()};
  }
  if (loop.progress) loop.progress->clear();
  return end;
}

nlohmann::json final_metrics(const Loop& loop, const RunState& s, const RunEnd& end) {
  nlohmann::json fin;
  if (!s.recent_losses.empty()) {
    double sum = 0;
    for (double v : s.recent_losses) sum += v;
    fin["outer_loss"] = json_number(sum / static_cast<double>(s.recent_losses.size()));
  }
  // The latest evaluation: of the last row for a run that ended by its budget; for an interrupted run, of the
  // last eval_every step before the stop (result.json's final_eval_step). A stopped run does not evaluate λ
  // again: that can take seconds (600 few-shot tasks, a sanitizer build), longer than mpirun waits between its
  // SIGTERM and SIGKILL, and the run would end with no result.json. The resumed run evaluates on its schedule.
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
  res["cost"] = c.cost;
  res["grad_evals"] = c.grad_evals;
  res["hvps"] = c.hvps;
  res["seconds"] = c.est_seconds;
  res["eval_seconds"] = c.eval_seconds;
  res["wall_seconds"] = wall_seconds;
  res["peak_rss_bytes"] = sys::peak_rss_bytes();
  res["peak_estimator_bytes"] = c.peak_bytes;
  if (nlohmann::json d = distributed_stats(); !d.is_null()) res["distributed"] = std::move(d);  // mpirun only
  res["final"] = final_metrics(loop, s, end);
  if (end.status == "interrupted" && !s.last_eval.empty())
    res["final_eval_step"] = c.step / loop.eval_every * loop.eval_every;
  res["lambda"] = lambda_summary(s.lambda, loop.problem.lambda_layout());
  return res;
}

struct Built {
  std::unique_ptr<Problem> problem;
  std::unique_ptr<Estimator> estimator;
  Tensor lambda0;  // from lambda_init_file, or empty
  nlohmann::json memory;  // the estimator's memory model as checked (hypergrad/memory_model.hpp), or null
};

// The problem (which may load data), the estimator and a saved initial λ are built and checked before anything
// is written: a missing data file, an estimator refused for this problem or a λ of the wrong shape leaves no run
// directory behind (run_train removes what it created).
Built build_problem_and_estimator(const ResolvedRun& run, const std::atomic<bool>* stop) {
  const ProblemInfo& pinfo = find_problem(run.params.problem);
  const MethodInfo& minfo = find_method(run.params.method);
  Built b;
  b.problem = pinfo.make(run.problem_opts, static_cast<uint64_t>(run.run_opts.get_int("instance_seed")));
  b.estimator = make_estimator(minfo, run.method_opts, *b.problem);
  const Options& ro = run.run_opts;
  b.memory = check_method_memory(minfo, run.method_opts, *b.problem, run.params.threads, ro.get_int("meta_batch"),
                                 ro.is_word("max_memory", "available") ? -1.0 : ro.get_real("max_memory"));
  b.lambda0 = saved_initial_lambda(run.run_opts, *b.problem);
  wait_for_ranks(stop);
  return b;
}

// Room under PATH_MAX for the longest name a run writes in its directory: "/.checkpoint.json.tmp.HOST.PID"
// (sys/files.cpp's temp files) is at most 98 bytes with a 64-byte host name and a 10-digit pid.
constexpr size_t run_file_name_room = 128;

// `text` cut to about `keep` bytes, at a UTF-8 character boundary, with "…" marking the cut.
std::string abbreviated(const std::string& text, size_t keep) {
  if (text.size() <= keep) return text;
  size_t n = keep;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n) + "…";
}

// The run directory's path, checked before anything is created or computed: every component a name the
// file system takes (at most NAME_MAX bytes), and the whole short enough that the files inside stay under
// PATH_MAX. Otherwise the OS refuses a write after the work (exit 1, a raw error) or mkdir leaves parents behind.
void check_run_dir_path(const std::string& dir, const std::string& flag) {
  const std::string shown = flag + " '" + abbreviated(dir, 60) + "'";
  for (const auto& part : fs::path(dir)) {
    const std::string name = part.string();
    if (name.size() > NAME_MAX) {
      throw option_error(shown + ": the name '" + abbreviated(name, 20) + "' is " + std::to_string(name.size()) +
                         " bytes, longer than " + std::to_string(NAME_MAX) + " (NAME_MAX) for one file or folder name");
    }
  }
  if (dir.size() + run_file_name_room >= PATH_MAX) {
    throw option_error(shown + ": the path is " + std::to_string(dir.size()) + " bytes; a run directory's path must be " +
                       "shorter than " + std::to_string(PATH_MAX - run_file_name_room) + " bytes (PATH_MAX " +
                       std::to_string(PATH_MAX) + " less room for the files inside)");
  }
}

// --out: refused when it holds a finished run (unless --force). --resume: the directory must hold an unfinished
// run (no result.json, or one that says interrupted) made with the options this binary resolves from it.
void check_out_dir(const ResolvedRun& run, const fs::path& out) {
  const TrainParams& p = run.params;
  std::error_code ec;
  const bool has_result = fs::exists(out / "result.json", ec);
  if (!p.resume) {
    if (has_result && !p.force) {
      throw option_error("--out '" + p.out_dir +
                         "' already holds a finished run (result.json); choose another directory or pass --force");
    }
    return;
  }
  if (has_result) {
    const std::string status = sweep_run_state(out);
    if (status != "interrupted") {
      throw option_error("--resume '" + p.out_dir + "': the run already ended (status " + status +
                         "); to run it again: bilevel-opt train --from " + p.out_dir + " --out NEW_DIR");
    }
  }
  const std::string diff = sweep_config_difference(run.config, sys::read_json(out / "config.json"));
  if (!diff.empty()) {
    throw option_error("--resume '" + p.out_dir + "': this binary resolves other options for the run (" + diff +
                       "); it was made by another version or build");
  }
}

// config.json: the resolved options plus how and where the run started; a resumed run keeps its config.json and
// appends the session to its "resumed" list.
nlohmann::json session_config(const ResolvedRun& run, const fs::path& out, int64_t from_step) {
  const nlohmann::json session = {
      {"command_line", run.params.command_line}, {"time", sys::utc_now_text()}, {"host", sys::host_name()}};
  if (!run.params.resume) {
    nlohmann::json c = run.config;
    c["command_line"] = session["command_line"];
    c["start_time"] = session["time"];
    c["host"] = session["host"];
    return c;
  }
  nlohmann::json c = sys::read_json(out / "config.json");
  nlohmann::json s = session;
  s["from_step"] = from_step;
  if (!c.contains("resumed") || !c["resumed"].is_array()) c["resumed"] = nlohmann::json::array();
  c["resumed"].push_back(s);
  return c;
}

// A resumed run continues from its checkpoint (λ, optimizer, counters, estimator state, the curve cut back to
// the checkpoint); without one it starts over. Returns the curve to append to.
std::unique_ptr<CurveLog> start_session(const ResolvedRun& run, const Loop& loop, RunState& state) {
  const fs::path curve_file = loop.dir / "curve.jsonl";
  std::error_code ec;
  if (run.params.resume && fs::exists(loop.dir / checkpoint_file_name, ec)) {
    Checkpoint ck = read_checkpoint(loop.dir, state, loop.identity);
    loop.estimator.load_state(ck.estimator);
    auto curve = std::make_unique<CurveLog>(curve_file, ck.curve_bytes);
    state = std::move(ck.state);
    return curve;
  }
  auto curve = std::make_unique<CurveLog>(curve_file);
  curve->write_row(initial_row(loop, state));
  return curve;
}

}  // namespace

Tensor saved_initial_lambda(const Options& run_opts, const Problem& problem) {
  const std::string& file = run_opts.get_string("lambda_init_file");
  if (file.empty()) return {};
  Tensor t;
  try {
    t = read_saved_lambda(file, "lambda_init_file");
  } catch (const usage_error& e) {
    throw option_error(e.what());
  }
  if (t.numel() != problem.lambda_dim()) {
    throw option_error("lambda_init_file '" + file + "': λ has " + std::to_string(t.numel()) + " values, but problem '" +
                       problem.name() + "' with these options has " + std::to_string(problem.lambda_dim()) +
                       " (its layout: " + problem.lambda_layout().dump() + ")");
  }
  if (!t.all_finite()) throw option_error("lambda_init_file '" + file + "': λ has non-finite values");
  return t.reshaped(Shape{problem.lambda_dim()});
}

TrainOutcome run_train(const ResolvedRun& run, const std::atomic<bool>* stop) {
  const TrainParams& p = run.params;
  check_run_dir_path(p.out_dir, p.resume ? "--resume" : "--out");
  const fs::path out(p.out_dir);
  std::error_code ec;
  const bool out_existed = fs::exists(out, ec);
  if (p.resume && !fs::exists(out / "config.json", ec)) {
    throw option_error("--resume '" + p.out_dir + "': no config.json (not a run directory of `train`)");
  }
  sys::ensure_writable_dir(out, p.resume ? "--resume" : "--out");
  // One writer per run directory: a second train (or a sweep relaunching this run) is refused while it writes.
  const sys::DirLock lock(out, "train", p.resume ? "--resume" : "--out");
  Built built;
  try {
    check_out_dir(run, out);
    built = build_problem_and_estimator(run, stop);
  } catch (...) {
    std::error_code ignored;  // refused before anything was written: leave no directory behind
    if (!out_existed) {
      fs::remove(out / sys::DirLock::file_name, ignored);
      if (fs::is_empty(out, ignored)) fs::remove(out, ignored);
    }
    throw;
  }

  tbb::global_control threads_ctl(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(p.threads));
  const Options& ro = run.run_opts;
  const Budget budget{p.steps, p.budget_cost, p.budget_seconds};
  const nlohmann::json identity = {{"problem", p.problem}, {"method", p.method}, {"seed", p.seed}, {"real", real_name}};
  Loop loop{p,   ro, *built.problem, *built.estimator, budget, ro.get_int("meta_batch"), ro.get_int("eval_every"),
            ro.get_int("log_every"), ro.get_int("checkpoint_every"), out, identity, clock_type::now(), 0.0, nullptr,
            stop};
  RunState state = initial_run_state(*built.problem, ro, p.seed, built.lambda0);
  if (!p.resume) {
    fs::remove(out / "result.json", ec);
    fs::remove(out / checkpoint_file_name, ec);
  }
  std::unique_ptr<CurveLog> curve = start_session(run, loop, state);
  const int64_t resumed_from = p.resume ? state.counters.step : -1;
  loop.earlier_wall = state.counters.wall_seconds;
  sys::write_json_atomic(out / "config.json", session_config(run, out, state.counters.step));
  fs::remove(out / "result.json", ec);
  std::unique_ptr<ProgressLine> progress;
  if (!p.quiet && ::isatty(STDERR_FILENO)) progress = std::make_unique<ProgressLine>(budget, state.counters.wall_seconds);
  loop.progress = progress.get();

  const RunEnd end = train_loop(loop, state, *curve);
  state.counters.wall_seconds = loop.earlier_wall + seconds_since(loop.wall_start);
  nlohmann::json res = result_json(loop, state, end, state.counters.wall_seconds);
  add_curve_record(res, *curve);
  res["memory_model"] = built.memory;
  write_run_result(out, state.lambda, res);
  if (end.ok()) fs::remove(out / checkpoint_file_name, ec);
  if (step_work_abandoned()) {  // still in use by an abandoned distributed step until the process ends
    (void)built.problem.release();
    (void)built.estimator.release();
  }
  return {end.status, res, resumed_from};
}

}  // namespace bilevel
