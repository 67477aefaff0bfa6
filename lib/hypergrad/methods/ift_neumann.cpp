// Method `ift-neumann`: implicit differentiation at θ_r (hypergrad/implicit.hpp) with H⁻¹∇_θL_V by the
// truncated Neumann series α Σ_{i=0}^{K} (I − αH)^i ∇_θL_V (optim/linear_solvers.hpp).
#include "hypergrad/implicit.hpp"

namespace bilevel {

namespace {

class IftNeumannEstimator final : public Estimator {
 public:
  IftNeumannEstimator(int64_t terms, double alpha) : terms_(terms), alpha_(alpha) {}
  HypergradResult estimate(const Problem& p, const Tensor& lambda, const Task& task, Rng&) const override {
    const double alpha = alpha_ > 0 ? alpha_ : static_cast<double>(p.inner().lr);
    return hypergrad_implicit(
        p, lambda, task,
        [this, alpha](const MatVec& hvp, const Tensor& b) { return neumann_series(hvp, b, terms_, alpha); }, "");
  }

 private:
  int64_t terms_;
  double alpha_;  // 0: the problem's inner learning rate
};

}  // namespace

MethodInfo ift_neumann_method_info() {
  return {.name = "ift-neumann",
          .description = "implicit function theorem at θ_r, H⁻¹ by a truncated Neumann series",
          .options = {opt_int("neumann_iters", 20, "terms of the Neumann series (HVPs)", 0),
                      opt_real("neumann_alpha", 0.0, "series step size (0: the inner learning rate)", 0)},
          .refusal = [](const Problem& p) { return implicit_refusal(p, "ift-neumann"); },
          .make = [](const Options& o, const Problem&) -> std::unique_ptr<Estimator> {
            return std::make_unique<IftNeumannEstimator>(o.get_int("neumann_iters"), o.get_real("neumann_alpha"));
          }};
}

}  // namespace bilevel
