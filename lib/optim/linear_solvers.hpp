#pragma once
// Iterative solvers of A x = b for a symmetric positive definite A known only through its product with a
// vector: the Hessian-vector products of implicit differentiation (methods ift-cg, ift-neumann), and any
// other estimator that needs H⁻¹v. They never see how the product is computed, so they are tested alone on an
// explicit matrix (tests/optim/test_linear_solvers.cpp).
#include <cstdint>
#include <functional>

#include "tensor/tensor.hpp"

namespace bilevel {

// v ↦ A v, for vectors of b's shape.
using MatVec = std::function<Tensor(const Tensor&)>;

struct LinearSolution {
  Tensor x;             // the approximate solution, of b's shape
  int64_t matvecs = 0;  // products A·v computed
  double residual = 0;  // ‖b − A x‖ as the solver tracks it (CG: by its recurrence); NaN when not tracked
};

// Conjugate gradients from x₀ = 0: at most `max_iters` products. Stops early when ‖r‖ ≤ rel_tol·‖b‖, or when
// the curvature dᵀAd along the search direction is not positive (A is not positive definite there; the
// current iterate is returned). In exact arithmetic it reaches A⁻¹b in at most n iterations.
LinearSolution conjugate_gradient(const MatVec& matvec, const Tensor& b, int64_t max_iters, double rel_tol);

// Truncated Neumann series x = α Σ_{i=0}^{terms} (I − αA)^i b (`terms` products). Converges to A⁻¹b when the
// spectral radius of I − αA is below 1, i.e. 0 < α < 2/λmax(A); the error after K terms is (I − αA)^{K+1}A⁻¹b.
// The residual is not tracked (it would cost one more product): NaN.
LinearSolution neumann_series(const MatVec& matvec, const Tensor& b, int64_t terms, double alpha);

}  // namespace bilevel
