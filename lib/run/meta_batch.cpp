#include "run/meta_batch.hpp"

#include <oneapi/tbb/parallel_for.h>

#include <algorithm>

#include "run/run_state.hpp"
#include "tensor/parallel.hpp"

namespace bilevel {

void estimate_tasks(const Problem& problem, const Estimator& estimator, const Tensor& lambda, uint64_t seed,
                    int64_t step, int64_t first, std::vector<HypergradResult>& out) {
  const int64_t count = static_cast<int64_t>(out.size());
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, count, 1),
      [&](const tbb::blocked_range<int64_t>& range) {
        for (int64_t k = range.begin(); k != range.end(); ++k) {
          const uint64_t task_index = static_cast<uint64_t>(first + k);
          Rng rng(seed, {stream_task, static_cast<uint64_t>(step), task_index});
          Task task = problem.sample_task(rng);
          out[static_cast<size_t>(k)] = estimator.estimate(problem, lambda, task, rng);
        }
      },
      tbb::simple_partitioner());
}

MetaBatchResult reduce_meta_batch(const std::vector<HypergradResult>& results, int64_t lambda_dim) {
  MetaBatchResult m;
  for (const auto& r : results) {
    BILEVEL_CHECK(r.grad.numel() == lambda_dim, "reduce_meta_batch: a hypergradient of " + r.grad.shape().str() +
                                                    " for λ of " + std::to_string(lambda_dim) + " elements");
  }
  // The mean hypergradient, each element summed over the tasks in task order (in element blocks on the threads).
  const auto n = static_cast<int64_t>(results.size());
  const real inv_n = real(1) / static_cast<real>(n);
  m.grad = Tensor::uninitialized(Shape{lambda_dim});
  parallel_elements(lambda_dim, [&](int64_t begin, int64_t end) {
    real* pg = m.grad.data();
    for (int64_t i = begin; i < end; ++i) pg[i] = real(0);
    for (const auto& r : results) {
      const real* pr = r.grad.data();
      for (int64_t i = begin; i < end; ++i) pg[i] += pr[i];  // axpy's 1·x, exactly
    }
    for (int64_t i = begin; i < end; ++i) pg[i] *= inv_n;
  });
  double loss = 0;
  for (const auto& r : results) {
    loss += r.outer_loss;
    m.grad_evals += r.grad_evals;
    m.hvps += r.hvps;
    m.cost += cost_of(r);
    m.peak_bytes = std::max(m.peak_bytes, r.peak_bytes);
    for (const auto& [k, v] : r.extras) {
      auto it = std::find_if(m.extras.begin(), m.extras.end(), [&](const auto& kv) { return kv.first == k; });
      if (it != m.extras.end()) it->second += v;
      else m.extras.emplace_back(k, v);
    }
  }
  m.outer_loss = loss / static_cast<double>(n);
  return m;
}

}  // namespace bilevel
