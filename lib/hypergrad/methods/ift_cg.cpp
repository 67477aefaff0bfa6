// Method `ift-cg`: implicit differentiation at θ_r (hypergrad/implicit.hpp) with H⁻¹∇_θL_V by conjugate
// gradients (optim/linear_solvers.hpp). Logs the final CG residual as cg_residual.
#include "hypergrad/implicit.hpp"

namespace bilevel {

namespace {

class IftCgEstimator final : public Estimator {
 public:
  IftCgEstimator(int64_t iters, double tol) : iters_(iters), tol_(tol) {}
  HypergradResult estimate(const Problem& p, const Tensor& lambda, const Task& task, Rng&) const override {
    return hypergrad_implicit(
        p, lambda, task,
        [this](const MatVec& hvp, const Tensor& b) { return conjugate_gradient(hvp, b, iters_, tol_); },
        "cg_residual");
  }

 private:
  int64_t iters_;
  double tol_;
};

}  // namespace

MethodInfo ift_cg_method_info() {
  return {.name = "ift-cg",
          .description = "implicit function theorem at θ_r, H⁻¹∇L_V by conjugate gradients",
          .options = {opt_int("cg_iters", 20, "conjugate-gradient iterations (HVPs)", 1),
                      opt_real("cg_tol", 1e-10, "relative residual at which CG stops", 0)},
          .refusal = [](const Problem& p) { return implicit_refusal(p, "ift-cg"); },
          .make = [](const Options& o, const Problem&) -> std::unique_ptr<Estimator> {
            return std::make_unique<IftCgEstimator>(o.get_int("cg_iters"), o.get_real("cg_tol"));
          }};
}

}  // namespace bilevel
