#pragma once
// Stochastic gradient Langevin dynamics (SGLD) for the Gibbs law of an inner problem.
//
// Convention (the one used everywhere in bilevel-opt):
//
//   target   p(θ | λ) ∝ exp(−N·L_T(θ, λ)/τ)
//   step     θ ← θ − η ∇_θ L̂_T(θ, λ; B) + sqrt(2ητ/N) · ξ,      ξ ~ N(0, I_P)
//
// τ is the temperature, N the data scaling (the number of training examples when L_T is a mean over
// them, 1 otherwise) and L̂_T the full inner loss or an unbiased minibatch estimate of it. With
// U = N·L_T/τ this is the Euler–Maruyama step of the Langevin diffusion dθ = −∇U dt + √2 dW with time
// step ητ/N, so as η → 0 its stationary law is p(θ | λ). For a fixed η > 0 it is not: on a quadratic
// L_T with Hessian B the stationary covariance is T·B⁻¹(I − ηB/2)⁻¹, T = τ/N, instead of T·B⁻¹
// (reference/hpo-sgld.md §8.1). τ = 0 is plain gradient descent.
//
// One estimate runs C chains. Each runs T = burn_in + thin·samples steps from its start θ_0 and keeps
// the states θ_t for t = burn_in + thin·m, m = 1..samples. The λ-sensitivity dθ_t/dλ is reset to 0 every
// `window` steps (0: never), so a sample at step t sees k = t − r(t) steps of it, r(t) the last reset
// before t (reference §3.6).
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/rng.hpp"

namespace bilevel {

// sqrt(2ητ/N), the standard deviation of the noise of one step. Requires η > 0, τ ≥ 0, N > 0.
double sgld_noise_std(double eta, double tau, double data_n);

// θ ← θ − η·grad + noise_std·ξ, ξ ~ N(0, I) drawn from `noise` (P draws, in order; none when
// noise_std == 0). theta and grad: (P,).
void sgld_step(Tensor& theta, const Tensor& grad, real eta, real noise_std, Rng& noise);

// `size` distinct indices drawn uniformly from {0, …, n−1} (a partial Fisher–Yates shuffle), in
// the order drawn. Requires 0 < size ≤ n.
std::vector<int64_t> sgld_minibatch(int64_t n, int64_t size, Rng& rng);

// Which chain states are kept, and when the λ-sensitivity is reset.
struct SgldSchedule {
  int64_t burn_in = 0;  // steps before the first kept sample
  int64_t thin = 1;     // steps between kept samples (≥ 1)
  int64_t samples = 1;  // kept samples per chain, M (≥ 1)
  int64_t window = 0;   // reset dθ/dλ to 0 every `window` steps (0: never)

  int64_t total_steps() const { return burn_in + thin * samples; }
  // θ_t is a kept sample (t in 0..total_steps()).
  bool retained(int64_t t) const;
  // The sensitivity is reset to 0 before the step from θ_t (t > 0 and t a multiple of window).
  bool reset_at(int64_t t) const;
  // k: steps since the last reset for a sample at step t ≥ 1.
  int64_t steps_since_reset(int64_t t) const;
  // Some sample θ_k, k > t, still sees the step from θ_t (it lies before the next reset).
  bool sample_ahead(int64_t t) const;
  // First step of the window that contains the step from θ_t: 0, or the last multiple of window ≤ t.
  int64_t window_start(int64_t t) const;
};

// The hypergradient variants of method `sgld` (reference §3.3).
enum class SgldVariant { pathwise, cov, drop_hessian, one_step, two_pass, frozen };
const std::vector<std::string>& sgld_variant_names();  // in enum order
SgldVariant sgld_variant_from_name(const std::string& name);  // throws option_error listing the names

}  // namespace bilevel
