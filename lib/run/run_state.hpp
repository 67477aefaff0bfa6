#pragma once
// The state of a training run between two outer steps, apart from the problem (fixed) and the estimator's
// own state (adaptive-q statistics, persistent chains: Estimator::save_state). λ, the outer optimizer's
// moments, the step, the cost counters, the last losses and evaluation are all a run needs to continue bit for
// bit (run/checkpoint.hpp writes them), because every random number of the loop is a pure function of
// (seed, stream, step, task) — no generator position is carried.
#include <cstdint>
#include <vector>

#include "base/options.hpp"
#include "optim/outer.hpp"
#include "problems/problem.hpp"

namespace bilevel {

// Purposes of the loop's random streams: Rng(seed, {stream_init}) draws the initial λ, Rng(seed,
// {stream_task, step, task}) samples task `task` of outer step `step` and drives its estimate.
// Rng(seed, {stream_search, k}) draws candidate k of a random search (run/random_search.hpp).
// Rng(seed, {stream_value}) samples the task the value function is measured on (run option value_steps).
enum RunStream : uint64_t { stream_init = 1, stream_task = 2, stream_search = 3, stream_value = 4 };

struct RunCounters {
  int64_t step = 0;          // outer steps done
  int64_t grad_evals = 0;    // cumulative, over every task of every step
  int64_t hvps = 0;
  double cost = 0;           // cumulative oracle cost in full-batch units (cost_of: grad_evals + hvps for
                             // full-batch estimators); what --budget-cost limits and compare's --x cost reads
  int64_t peak_bytes = 0;    // largest tensor memory one estimate held
  double est_seconds = 0;    // estimator time (the outer steps, evaluation excluded)
  double eval_seconds = 0;   // evaluation and diagnostics time
  double wall_seconds = 0;   // wall time of earlier sessions of this run (before a --resume)
};

struct RunState {
  Tensor lambda;                      // (H,)
  OuterOptimizer optimizer;
  RunCounters counters;
  std::vector<double> recent_losses;  // outer losses of the last ≤ 10 steps, oldest first
  Metrics last_eval;                  // the latest evaluation metrics

  void record_loss(double loss);      // appends to recent_losses, keeping the last 10
};

// λ from the problem's init_lambda on stream_init (or `lambda0` when it is not empty: a λ loaded with the run
// option lambda_init_file), and a fresh outer optimizer from the run options.
RunState initial_run_state(const Problem& problem, const Options& run_opts, uint64_t seed, const Tensor& lambda0 = {});

// The budget of `train`: each limit that is > 0 ends the run when reached.
struct Budget {
  int64_t steps = 0;
  double cost = 0;         // RunCounters::cost
  double seconds = 0;      // estimator seconds

  // Largest fraction of any limit used, clamped to 1; the run ends at 1.
  double fraction(const RunCounters& c) const;
};

// The outer learning rate of the step about to be taken: outer_lr, divided by (step + 1) for schedule=inv,
// times (1 − budget fraction) for schedule=linear.
double scheduled_lr(const Options& run_opts, const Budget& budget, const RunCounters& c);

}  // namespace bilevel
