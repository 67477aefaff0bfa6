// Method `fmd`: forward-mode differentiation of the inner loop with a dense P×H Jacobian.
#include "hypergrad/unroll.hpp"
#include "optim/gradient_descent.hpp"

namespace bilevel {

using namespace ad;

namespace {

// Forward mode: Z_j = dθ_j/dλ (P×H), Z_{j+1} = (I − αH_j)Z_j − αB_j, Z_0 = dθ₀/dλ.
// Each step needs (H_j Z + B_j)e_k for every column k: a Jacobian-vector product of (θ, λ) ↦ ∇_θL_T,
// computed by double backward with a dummy cotangent u: w(u) = (H u, B ᵀu) is linear in u and
// ∇_u(⟨H u, z⟩ + ⟨Bᵀu, e_k⟩) = H z + B e_k.
class FmdEstimator final : public Estimator {
 public:
  HypergradResult estimate(const Problem& p, const Tensor& lambda, const Task& task, Rng&) const override {
    HypergradResult res;
    PeakMeter meter;
    const int64_t P = p.theta_dim(), H = p.lambda_dim(), r = p.inner().steps;
    const real lr = p.inner().lr;
    std::vector<Tensor> Z = theta0_jacobian(p, lambda, task);  // H columns of (P,)
    Tensor theta = theta0_value(p, lambda, task);
    for (int64_t j = 0; j < r; ++j) {
      const Linearization lin = linearize(p, theta, lambda, task);
      ++res.grad_evals;
      Var u = leaf(Tensor(Shape{P}));
      auto w = grad({lin.grad}, {u}, {lin.theta, lin.lambda}, true);  // w[0] = H u, w[1] = Bᵀu
      std::vector<Tensor> next(static_cast<size_t>(H));
      for (int64_t k = 0; k < H; ++k) {
        Var s = dot(w[0], constant(Z[static_cast<size_t>(k)]));
        if (lin.mixed) s = add(s, view(w[1], k, Shape{}));
        Tensor col = grad(s, {u})[0].value();
        ++res.hvps;
        next[static_cast<size_t>(k)] = Z[static_cast<size_t>(k)];
        axpy(-lr, col, next[static_cast<size_t>(k)]);
      }
      gradient_step(theta, lin.grad.value(), lr);
      Z = std::move(next);
    }
    OuterGrad og = outer_grad(p, theta, lambda, task, res);
    res.outer_loss = og.loss;
    res.grad = og.d_lambda;
    for (int64_t k = 0; k < H; ++k) res.grad[k] += static_cast<real>(dot(Z[static_cast<size_t>(k)], og.d_theta));
    res.peak_bytes = meter.peak();
    return res;
  }
};

std::unique_ptr<Estimator> make_fmd(const Options& o, const Problem& p) {
  const int64_t max_entries = o.get_int("fmd_max_entries");
  const int64_t entries = p.theta_dim() * p.lambda_dim();
  if (entries > max_entries) {
    throw option_error("fmd keeps a dense P×H Jacobian: P = " + std::to_string(p.theta_dim()) + ", H = " +
                       std::to_string(p.lambda_dim()) + " gives " + std::to_string(entries) +
                       " entries, above fmd_max_entries = " + std::to_string(max_entries) +
                       "; use exact (reverse mode) for large λ, or raise fmd_max_entries");
  }
  return std::make_unique<FmdEstimator>();
}

}  // namespace

MethodInfo fmd_method_info() {
  return {.name = "fmd",
          .description = "forward mode: Z ← (I − αH)Z − αB with a dense P×H Jacobian (small λ only)",
          .options = {opt_int("fmd_max_entries", 10000000, "refuse when P·H exceeds this", 1)},
          .make = make_fmd,
          // Z and the next Z (2·P·H), the linearization with one product, θ and a gradient.
          .memory = [](const Options&, const MemorySizes& z) -> MemoryModel {
            const double s = static_cast<double>(z.real_bytes);
            return {2.0 * s * static_cast<double>(z.P) * static_cast<double>(z.H) + static_cast<double>(z.lin_peak_bytes) +
                        unroll_base_bytes(z),
                    "2·P·H·s + L+ + 3·P·s + 2·H·s",
                    "exact with recompute=true or sgld variant=one-step hold O(P + H)"};
          }};
}

}  // namespace bilevel
