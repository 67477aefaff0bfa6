// Method `ift-neumann`: implicit differentiation at θ_r (hypergrad/implicit.hpp) with H⁻¹∇_θL_V by the
// truncated Neumann series α Σ_{i=0}^{K} (I − αH)^i ∇_θL_V (optim/linear_solvers.hpp).
#include "hypergrad/implicit.hpp"

namespace bilevel {

MethodInfo ift_neumann_method_info() {
  return {.name = "ift-neumann",
          .description = "implicit function theorem at θ_r, H⁻¹ by a truncated Neumann series",
          .options = {opt_int("neumann_iters", 20, "terms of the Neumann series (HVPs)", 0),
                      opt_real("neumann_alpha", 0.0, "series step size (0: the inner learning rate)", 0)},
          .refusal = [](const Problem& p) { return implicit_refusal(p, "ift-neumann"); },
          .make = [](const Options& o, const Problem& p) {
            const int64_t terms = o.get_int("neumann_iters");
            const double alpha = o.get_real("neumann_alpha") > 0 ? o.get_real("neumann_alpha")
                                                                  : static_cast<double>(p.inner().lr);
            return make_implicit_estimator(
                [terms, alpha](const MatVec& hvp, const Tensor& b) { return neumann_series(hvp, b, terms, alpha); },
                "");
          },
          .memory = [](const Options&, const MemorySizes& z) { return implicit_memory(z); }};
}

}  // namespace bilevel
