#pragma once
// The closed forms of the UFOM toy problems (Likhosherstov et al., ICML 2021: the FOM counterexample and the
// q-curve setup; problems ufo-counterexample and ufo-qcurve in problems/ufo_toy.cpp), for tests and experiments.
#include <cstdint>

// One-dimensional tasks with L_in = L_out = f_i, f the C² Huber-like loss of §3.2, inner loop
// φ₀ = θ, φ_{j+1} = φ_j − α f_i'(φ_j), j < r. Everything here is plain double arithmetic, independent
// of the autodiff, so it can check the estimators.
namespace bilevel::ufo_toy {

// f(φ; a, b, A) with centre c = b/a, z = |φ − c|: quadratic a z²/2 for z ≤ A, cubic blend on
// (A, A+1], linear for z > A+1. C², bounded f', Lipschitz f''. Requires a > 0, A ≥ 0.
double f(double phi, double a, double b, double A);
double f_d1(double phi, double a, double b, double A);  // f'
double f_d2(double phi, double a, double b, double A);  // f''

// A toy instance: two tasks, each drawn with probability ½.
struct Params {
  int64_t steps = 10;  // r
  double lr = 0.1;     // α
  double a[2] = {0.5, 1.5};
  double b[2] = {0.0, 0.0};
  double A = 1.0;      // half-width of the quadratic zone (shared by both tasks)
};

// One task's r-step quantities at θ: φ_r, f_i(φ_r), g_FO = f_i'(φ_r), g_ex = f_i'(φ_r)·Πⱼ(1 − α f_i''(φⱼ)).
struct TaskGrads {
  double phi_r = 0, loss = 0, g_fo = 0, g_ex = 0;
};
TaskGrads task_grads(const Params& p, int64_t task, double theta);
double objective(const Params& p, double theta);       // M(θ) = ½ Σᵢ f_i(φ_r^i)
double objective_grad(const Params& p, double theta);  // M'(θ) = ½ Σᵢ g_ex,i

// The §3.2 family built from (r, α, a1, a2, D): b1 = 0, p_i = (1 − α a_i)^r,
// K = |(a1p1² + a2p2²)p2/(a1p1 + a2p2) − p2²|, b2 = 2√(2D)/K, A = |b1/a1 − b2/a2| + 1, and the
// quadratic-zone fixed points: θ_FO = p2 b2/(a1p1 + a2p2) (where FOM's mean gradient vanishes),
// M'(θ_FO) = ½[(a1p1² + a2p2²)θ_FO − b2 p2²] (= √(2D)), θ* = a2p2²c2/(a1p1² + a2p2²) (M'(θ*) = 0).
// Throws option_error (the values come from options) unless 0 < a1 < a2, α a2 < 1, D > 0, r ≥ 1.
struct Family {
  double p1 = 0, p2 = 0, K = 0, b2 = 0, c2 = 0, A = 0;
  double theta_fo = 0, dM_at_theta_fo = 0, theta_star = 0;
};
Family counterexample_family(int64_t r, double alpha, double a1, double a2, double D);
// The instance of that family: a = (a1, a2), b = (0, b2), A.
Params counterexample_params(int64_t r, double alpha, double a1, double a2, double D);
// §4.1 item 2: r = 10, α = 0.01, a = (0.5, 1.5), b = (0, 10), A = 400.
Params qcurve_params();

// §3.1 "true" constants: D² = max_θ mean_T (g_FO − g_ex)², V² = max_θ mean_T g_ex², maxima over
// `points` equally spaced θ in [lo, hi] (both ends included).
struct BiasVariance {
  double d2 = 0, v2 = 0;
};
BiasVariance bias_variance(const Params& p, double lo = -50.0, double hi = 50.0, int64_t points = 10000);

}  // namespace bilevel::ufo_toy
