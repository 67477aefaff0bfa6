#pragma once
// The closed forms of the UFOM toy problems (Likhosherstov et al., ICML 2021: the FOM counterexample and the
// q-curve setup; problems ufo-counterexample and ufo-qcurve in problems/ufo_toy.cpp), for tests and experiments.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/options.hpp"

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

// The instance behind a registered toy problem: `problem` is "ufo-counterexample" or "ufo-qcurve" and `o` its
// resolved options (the problems' factories build from this too). std::nullopt for any other problem name.
// Throws option_error for options outside the counterexample family (see counterexample_family).
std::optional<Params> params_for(const std::string& problem, const Options& o);

// ---- §3.1 constants and bounds (ufo_toy_theory.cpp) --------------------------------------------------

// The constants of the bounds: L1 ≥ |f'| (bounded gradient), L2 ≥ |f''|, L3 the Lipschitz constant of f'',
// M1 ≥ |∂φ₀/∂θ|. For these tasks (the official toy code's values): L1 = a_max(½ + A), the slope of the linear
// tails; L2 = a_max; L3 = a_max (f'' falls from a to 0 over the unit-wide cubic blend); M1 = 1 (φ₀ = θ).
struct Constants {
  double L1 = 0, L2 = 0, L3 = 0, M1 = 1;
};
Constants constants(const Params& p);

// The official code's bounds on the FOM bias D ≥ √(E_T(g_FO − g_ex)²) and on V ≥ √(E_T g_ex²):
//   S = L1 L2 α Σ_{j=1}^{r} (1 + α L2)^j,   D = (1 + M1) S,   V = L1 + M1 L1 (1 + α L2)^r + S.
// The sum runs over j = 1..r as in the code (toy.py simulate_bounds); a derivation through
// E_j = dφ_j/dθ − dφ₀/dθ gives j = 0..r−1, a factor 1 + αL2 tighter. L3 does not enter these bounds.
// Requires α ≥ 0, r ≥ 0 and nonnegative constants.
struct Bounds {
  double d = 0, v = 0;
};
Bounds bounds(const Constants& c, double alpha, int64_t r);

// ---- UFOM-SGD on the toy (§4.1 item 3, toy.py simulate_blo), in closed form ---------------------------

// The run of one start x0: for k = 0..iters−1 draw a task i uniformly and u ~ U[0, 1), ξ = [u < q],
//   ĝ = g_FO,i + (ξ/q)(g_ex,i − g_FO,i) at θ_k,   θ_{k+1} = θ_k − (c/(k+1)) ĝ,   cost_{k+1} = cost_k + r + 1 + ξr
// (the toy's stored-trajectory cost model). q = 0 is FOM. Start s takes x0 ~ U(x0_lo, x0_hi) from the Philox
// stream (seed, 1, s) and its task and u draws from (seed, 2, s), so every q and every α sees the same starts,
// tasks and uniforms (common random numbers: q changes only which u count as ξ = 1).
struct SgdSetup {
  double q = 0.1;
  int64_t starts = 2000, iters = 100;
  double c = 10;                  // γ_k = c/(k+1)
  double x0_lo = -50, x0_hi = 50;
  uint64_t seed = 0;
};
// Averages over the starts, index k = 0..iters: mean_sq_grad[k] = mean_s M'(θ_k)², mean_cost[k] = mean_s cost_k.
struct SgdCurve {
  std::vector<double> mean_sq_grad, mean_cost;
};
SgdCurve sgd_curve(const Params& p, const SgdSetup& s);

// The experimental best q (§4.1 item 3): δ = min_k of curves[0] (the smallest q), and for each curve the mean
// cost at the first k where mean_sq_grad[k] ≤ δ (+∞ when it never gets there); `best` is the index of the
// smallest such cost (the first on ties). Requires curves of equal, nonzero length.
struct BestQ {
  double delta = 0;
  std::vector<double> cost_to_delta;
  size_t best = 0;
};
BestQ best_q(const std::vector<SgdCurve>& curves);

}  // namespace bilevel::ufo_toy
