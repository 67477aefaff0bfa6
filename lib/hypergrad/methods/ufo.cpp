// Method `ufo`: UFOM (Likhosherstov et al., ICML 2021), fo plus a randomly drawn exact correction, unbiased for
// the r-step hypergradient; q fixed or chosen adaptively by the optimal-q rule of hypergrad/ufo.hpp.
#include <algorithm>
#include <cmath>

#include "hypergrad/reverse.hpp"
#include "hypergrad/ufo.hpp"
#include "hypergrad/unroll.hpp"

namespace bilevel {

namespace {

// UFOM: ĝ = g_FO + (ξ/q)(g_ex − g_FO), ξ ~ Bernoulli(q) per task; fixed or adaptive q.
class UfoEstimator final : public Estimator {
 public:
  UfoEstimator(const Options& o, const Problem& p)
      : store_(trajectory_option(o)), clip_(static_cast<real>(o.get_real("clip"))) {
    adaptive_ = o.is_word("q", "adaptive");
    if (!adaptive_) {
      q_ = o.get_real("q");
    }
    paper_ = o.get_string("adaptive_variant") == "paper";
    beta_ = o.get_real("beta");
    q_min_ = o.get_real("q_min");
    kappa_ = o.get_real("kappa");
    const double r = static_cast<double>(p.inner().steps);
    if (paper_) {
      // The official code's constants: n = inner_iters = r + 1, C_det = n + 1, C_rnd = n(n+1)/2.
      const double n = r + 1;
      c_det_ = n + 1;
      c_rnd_ = n * (n + 1) / 2;
    } else {
      // Our own counters: the forward pass costs r + 1 gradients; the exact branch r HVPs when the
      // trajectory is stored, or r HVPs plus r(r−1)/2 recomputed gradients when recomputing.
      c_det_ = r + 1;
      c_rnd_ = store_ == Trajectory::recompute ? r + r * (r - 1) / 2 : r;
    }
    if (adaptive_) q_ = q_min_;
  }

  void begin_step(int64_t) override {
    if (!adaptive_) return;
    if (n_s_ == 0) {
      q_ = q_min_;
      return;
    }
    const double corr = 1.0 - std::pow(beta_, static_cast<double>(n_s_));
    double d2 = d_bar_ / corr;
    const double v2 = v_bar_ / corr;
    if (paper_) d2 /= 10.0;  // the official code's heuristic factor
    q_ = ufo_optimal_q(d2, v2, c_det_, c_rnd_, kappa_, q_min_);
  }

  HypergradResult estimate(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng) const override {
    HypergradResult res;
    PeakMeter meter;
    const bool draw = rng.bernoulli(q_);
    if (!draw) {
      res.grad = hypergrad_reverse(p, lambda, task, 0, Trajectory::graphs, res, &res.outer_loss);
      res.extras = {{"exact_drawn", 0.0}};
    } else {
      Tensor g_fo;
      Tensor g_ex = hypergrad_reverse(p, lambda, task, p.inner().steps, store_, res, &res.outer_loss, &g_fo, clip_);
      Tensor diff = sub(g_ex, g_fo);
      res.grad = g_fo;
      axpy(static_cast<real>(1.0 / q_), diff, res.grad);
      const double d2 = paper_ ? norm2(sub(res.grad, g_ex)) : norm2(diff);
      res.extras = {{"exact_drawn", 1.0}, {"d2", d2}, {"v2", norm2(g_ex)}};
    }
    res.peak_bytes = meter.peak();
    return res;
  }

  void end_step(const std::vector<HypergradResult>& results) override {
    if (!adaptive_) return;
    for (const auto& r : results) {
      if (r.extras.empty() || r.extras[0].second == 0.0) continue;
      ++n_s_;
      d_bar_ = beta_ * d_bar_ + (1 - beta_) * r.extras[1].second;
      v_bar_ = beta_ * v_bar_ + (1 - beta_) * r.extras[2].second;
    }
  }

  Metrics state() const override { return {{"q", q_}}; }

  // Adaptive q carries its EMA statistics (and the q they gave) from step to step; a fixed q carries nothing.
  EstimatorState save_state() const override {
    if (!adaptive_) return {};
    return {{}, {{"n_s", static_cast<double>(n_s_)}, {"d_bar", d_bar_}, {"v_bar", v_bar_}, {"q", q_}}};
  }
  void load_state(const EstimatorState& s) override {
    const bool fits = adaptive_ ? s.tensors.empty() && s.scalars.size() == 4 && s.scalars[0].first == "n_s" &&
                                      s.scalars[1].first == "d_bar" && s.scalars[2].first == "v_bar" &&
                                      s.scalars[3].first == "q"
                                : s.empty();
    if (!fits) {
      throw usage_error(std::string("ufo: saved state does not fit this estimator (") +
                        (adaptive_ ? "adaptive q needs n_s, d_bar, v_bar, q" : "a fixed q keeps no state") + ")");
    }
    if (!adaptive_) return;
    n_s_ = static_cast<int64_t>(s.scalars[0].second);
    d_bar_ = s.scalars[1].second;
    v_bar_ = s.scalars[2].second;
    q_ = s.scalars[3].second;
  }

 private:
  Trajectory store_;
  real clip_ = 0;  // exact branch: α·v clipped to ±clip_ after each adjoint step (0 = off)
  bool adaptive_ = false;
  bool paper_ = false;
  double q_ = 1.0, beta_ = 0.99, q_min_ = 0.05, kappa_ = 2.0;
  double c_det_ = 1, c_rnd_ = 1;
  int64_t n_s_ = 0;
  double d_bar_ = 0, v_bar_ = 0;
};

OptionSpec q_option() {
  OptionSpec s = opt_real("q", 0.1, "probability of the exact correction per task, or 'adaptive'", 0, 1, true);
  s.choices = {"adaptive"};
  return s;
}

}  // namespace

double ufo_optimal_q(double d2, double v2, double c_det, double c_rnd, double kappa, double q_min) {
  auto objective = [&](double q) { return (c_det + q * c_rnd) * std::pow(v2 + (1 / q - 1) * d2, kappa); };
  double q;
  if (d2 <= 0) {
    q = q_min;  // FOM is unbiased here: no correction needed
  } else if (v2 <= d2) {
    if (kappa >= 1) {
      q = 1;
    } else {
      // Minimise numerically on [q_min, 1].
      q = 1;
      double best = objective(1);
      for (int i = 0; i <= 10000; ++i) {
        const double t = q_min + (1 - q_min) * i / 10000.0;
        const double f = objective(t);
        if (f < best) best = f, q = t;
      }
    }
  } else {
    const double a = c_rnd * (v2 - d2), b = (1 - kappa) * c_rnd * d2, c = -kappa * c_det * d2;
    const double f1 = a + b + c;
    q = f1 <= 0 ? 1.0 : (-b + std::sqrt(b * b - 4 * a * c)) / (2 * a);
  }
  return std::clamp(q, q_min, 1.0);
}

MethodInfo ufo_method_info() {
  return {
      .name = "ufo",
      .description = "UFOM: fo + (ξ/q)(exact − fo), ξ ~ Bernoulli(q) per task; unbiased; q fixed or adaptive",
      .options = {q_option(), recompute_option("exact branch rebuilds θ_j (O(1) memory, O(r²) time)"), store_option(), clip_option(),
                  opt_real("beta", 0.99, "adaptive q: EMA factor of the D² and V² estimates", 0, 1, true),
                  opt_real("q_min", 0.05, "adaptive q: lower bound on q", 0, 1, true),
                  opt_real("kappa", 2.0, "adaptive q: exponent κ in argmin_q T(q)·S(q)^κ", 0, 1e300, true),
                  opt_choice("adaptive_variant", "clean", {"clean", "paper"},
                             "clean: D² = ‖g_fo − g_ex‖²; paper: the official code's statistic, D²/10 and its cost "
                             "constants")},
      .make = [](const Options& o, const Problem& p) -> std::unique_ptr<Estimator> {
        return std::make_unique<UfoEstimator>(o, p);
      },
      // The exact branch (drawn with probability q) holds the most.
      .memory = [](const Options& o, const MemorySizes& z) { return reverse_memory(-1, trajectory_option(o), z); }};
}

}  // namespace bilevel
