#pragma once
// One outer step's meta-batch in two halves: computing the per-task results (in parallel, any subset of the
// tasks anywhere) and reducing them in task order (serially, so the sums are the same bits whoever computed
// the parts and however many threads did).
#include <cstdint>
#include <vector>

#include "hypergrad/estimator.hpp"

namespace bilevel {

// Tasks first, first + 1, …, first + out.size() − 1 of outer step `step`, estimated at `lambda` in parallel
// (oneTBB); task i's result goes to out[i − first]. Task i samples its data and draws its estimator's coins
// from Rng(seed, {stream_task, step, i}) only, so its result depends on nothing else.
void estimate_tasks(const Problem& problem, const Estimator& estimator, const Tensor& lambda, uint64_t seed,
                    int64_t step, int64_t first, std::vector<HypergradResult>& out);

struct MetaBatchResult {
  Tensor grad;              // (H,): mean hypergradient over the tasks
  double outer_loss = 0;    // mean outer loss
  int64_t grad_evals = 0;   // sums over the tasks
  int64_t hvps = 0;
  double cost = 0;          // Σ cost_of over the tasks
  int64_t peak_bytes = 0;   // max over the tasks
  Metrics extras;           // per key, the sum over the tasks (keys in order of first appearance)
};

// The meta-batch mean of `results` (every task of the step, in task order), summed in that order.
MetaBatchResult reduce_meta_batch(const std::vector<HypergradResult>& results, int64_t lambda_dim);

}  // namespace bilevel
