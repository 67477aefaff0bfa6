// Method `ift-cg`: implicit differentiation at θ_r (hypergrad/implicit.hpp) with H⁻¹∇_θL_V by conjugate
// gradients (optim/linear_solvers.hpp). Reports the final CG residual as cg_residual.
#include "hypergrad/implicit.hpp"

namespace bilevel {

MethodInfo ift_cg_method_info() {
  return {.name = "ift-cg",
          .description = "implicit function theorem at θ_r, H⁻¹∇L_V by conjugate gradients",
          .options = {opt_int("cg_iters", 20, "conjugate-gradient iterations (HVPs)", 1),
                      opt_real("cg_tol", 1e-10, "relative residual at which CG stops", 0)},
          .refusal = [](const Problem& p) { return implicit_refusal(p, "ift-cg"); },
          .make = [](const Options& o, const Problem&) {
            const int64_t iters = o.get_int("cg_iters");
            const double tol = o.get_real("cg_tol");
            return make_implicit_estimator(
                [iters, tol](const MatVec& hvp, const Tensor& b) { return conjugate_gradient(hvp, b, iters, tol); },
                "cg_residual");
          },
          .memory = [](const Options&, const MemorySizes& z) { return implicit_memory(z); }};
}

}  // namespace bilevel
