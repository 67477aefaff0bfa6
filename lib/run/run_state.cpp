#include "run/run_state.hpp"

#include <algorithm>

namespace bilevel {

void RunState::record_loss(double loss) {
  recent_losses.push_back(loss);
  if (recent_losses.size() > 10) recent_losses.erase(recent_losses.begin());
}

RunState initial_run_state(const Problem& problem, const Options& run_opts, uint64_t seed, const Tensor& lambda0) {
  Rng init_rng(seed, {stream_init});
  Tensor lambda = lambda0.numel() > 0 ? lambda0 : problem.init_lambda(init_rng);
  return RunState{std::move(lambda), OuterOptimizer(outer_optimizer_config(run_opts), problem.lambda_dim()), {}, {}, {}};
}

double Budget::fraction(const RunCounters& c) const {
  double f = 0;
  if (steps > 0) f = std::max(f, static_cast<double>(c.step) / static_cast<double>(steps));
  if (cost > 0) f = std::max(f, c.cost / cost);
  if (seconds > 0) f = std::max(f, c.est_seconds / seconds);
  return std::min(f, 1.0);
}

double scheduled_lr(const Options& run_opts, const Budget& budget, const RunCounters& c) {
  const double lr0 = run_opts.get_real("outer_lr");
  const std::string& schedule = run_opts.get_string("schedule");
  if (schedule == "inv") return lr0 / static_cast<double>(c.step + 1);
  if (schedule == "linear") return lr0 * (1.0 - budget.fraction(c));
  return lr0;
}

}  // namespace bilevel
