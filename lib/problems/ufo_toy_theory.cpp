// The UFOM toy's theory and its α-sweep experiment (Likhosherstov et al., ICML 2021; reference ufom.md §3.1 and
// §4.1 item 3): the constants and bounds of the FOM bias and of the exact gradient, and UFOM-SGD on the two
// tasks in closed form, fast enough for the sweep's 400 000 runs. Declared in problems/ufo_toy.hpp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "base/errors.hpp"
#include "problems/ufo_toy.hpp"
#include "tensor/rng.hpp"

namespace bilevel::ufo_toy {

namespace {

// Random streams of sgd_curve: (seed, purpose, start).
enum SgdStream : uint64_t { sgd_x0 = 1, sgd_draws = 2 };

}  // namespace

Constants constants(const Params& p) {
  const double a_max = std::max(p.a[0], p.a[1]);
  Constants c;
  c.L1 = a_max * (0.5 + p.A);
  c.L2 = a_max;
  c.L3 = a_max;
  c.M1 = 1;
  return c;
}

Bounds bounds(const Constants& c, double alpha, int64_t r) {
  if (!(alpha >= 0 && r >= 0 && c.L1 >= 0 && c.L2 >= 0 && c.M1 >= 0)) {
    throw internal_error("ufo_toy::bounds: needs α ≥ 0, r ≥ 0 and nonnegative constants");
  }
  const double grow = 1 + alpha * c.L2;
  double sum = 0, power = 1;
  for (int64_t j = 1; j <= r; ++j) {
    power *= grow;
    sum += power;  // Σ_{j=1}^{r} (1 + αL2)^j
  }
  const double s = c.L1 * c.L2 * alpha * sum;
  Bounds b;
  b.d = (1 + c.M1) * s;
  b.v = c.L1 + c.M1 * c.L1 * power + s;  // power = (1 + αL2)^r
  return b;
}

SgdCurve sgd_curve(const Params& p, const SgdSetup& s) {
  if (!(s.q >= 0 && s.q <= 1 && s.starts >= 1 && s.iters >= 0 && s.x0_lo < s.x0_hi)) {
    throw internal_error("ufo_toy::sgd_curve: needs q in [0, 1], starts ≥ 1, iters ≥ 0, x0_lo < x0_hi");
  }
  const size_t n = static_cast<size_t>(s.iters) + 1;
  SgdCurve curve;
  curve.mean_sq_grad.assign(n, 0.0);
  curve.mean_cost.assign(n, 0.0);
  const double r = static_cast<double>(p.steps);
  for (int64_t start = 0; start < s.starts; ++start) {
    const uint64_t id = static_cast<uint64_t>(start);
    double theta = Rng(s.seed, {sgd_x0, id}).uniform(s.x0_lo, s.x0_hi);
    Rng draws(s.seed, {sgd_draws, id});
    double cost = 0;
    for (size_t k = 0;; ++k) {
      const TaskGrads g[2] = {task_grads(p, 0, theta), task_grads(p, 1, theta)};
      const double dm = 0.5 * (g[0].g_ex + g[1].g_ex);  // M'(θ_k)
      curve.mean_sq_grad[k] += dm * dm;
      curve.mean_cost[k] += cost;
      if (k + 1 == n) break;
      // Both draws every step, whatever q, so that every q sees the same tasks and uniforms.
      const int64_t task = draws.randint(2);
      const bool exact = draws.uniform() < s.q;
      const TaskGrads& t = g[task];
      const double g_hat = exact ? t.g_fo + (t.g_ex - t.g_fo) / s.q : t.g_fo;
      theta -= s.c / static_cast<double>(k + 1) * g_hat;
      cost += r + 1 + (exact ? r : 0.0);
    }
  }
  const double inv = 1.0 / static_cast<double>(s.starts);
  for (size_t k = 0; k < n; ++k) {
    curve.mean_sq_grad[k] *= inv;
    curve.mean_cost[k] *= inv;
  }
  return curve;
}

BestQ best_q(const std::vector<SgdCurve>& curves) {
  if (curves.empty() || curves[0].mean_sq_grad.empty()) throw internal_error("ufo_toy::best_q: no curves");
  for (const SgdCurve& c : curves) {
    if (c.mean_sq_grad.size() != curves[0].mean_sq_grad.size() || c.mean_cost.size() != c.mean_sq_grad.size()) {
      throw internal_error("ufo_toy::best_q: curves of different lengths");
    }
  }
  BestQ b;
  b.delta = *std::min_element(curves[0].mean_sq_grad.begin(), curves[0].mean_sq_grad.end());
  for (const SgdCurve& c : curves) {
    double cost = std::numeric_limits<double>::infinity();
    for (size_t k = 0; k < c.mean_sq_grad.size(); ++k) {
      if (c.mean_sq_grad[k] <= b.delta) {
        cost = c.mean_cost[k];
        break;
      }
    }
    b.cost_to_delta.push_back(cost);
  }
  b.best = static_cast<size_t>(std::min_element(b.cost_to_delta.begin(), b.cost_to_delta.end()) -
                               b.cost_to_delta.begin());
  return b;
}

}  // namespace bilevel::ufo_toy
