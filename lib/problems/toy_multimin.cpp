// `toy-multimin`: a 1-D regression whose inner loss has several minima for the same λ (the phenomenon of
// HPO-SGLD's Figure 1: deterministic BLO's L_V(λ, θ*(λ)) depends on which minimum the inner run lands in).
//
//   model        f_θ(x) = a·sin(ωx),  θ = (a, ω)
//   training     x_k = k, k = 1..n (an integer grid), y_k = sin(x_k) + σε_k
//   validation   x on the quarter grid 0.25, 0.5, …, n + 0.5 without the integers, y = sin(x) + σε
//   L_T(θ, λ)    = (1/n) Σ_k (f_θ(x_k) − y_k)² + (e^λ/2)(a² + ω²)      (λ = log of the L2 weight)
//   L_V(θ)       = mean over validation of (f_θ(x) − y)²
//
// Why several minima: on integer inputs sin(ωk) = sin((ω + 2πj)k) = −sin((2πj − ω)k), so every alias
// frequency ω + 2πj (amplitude a) and 2πj − ω (amplitude −a) fits the training points as well as the true
// ω = 1; only the L2 term e^λω²/2 separates them. Besides these alias minima there are small-amplitude
// minima (a ≈ 0, predicting ~0). The validation points lie between the integers, where the aliases are
// wrong: gradient descent from a random start lands in the true basin (validation loss ≈ σ²) or in one of
// the others (validation loss 0.4–1.4), and which one changes with λ and with the start.
// (It is not over-parameterised: the multiplicity comes from the sampling grid, which makes the minima
// easy to enumerate and the Gibbs expectation cheap to compute exactly.)
//
// Stochastic objective: with N = n (L_T is a mean) and temperature τ, p(θ|λ) ∝ exp(−n·L_T/τ). For fixed ω,
// L_T is quadratic in a, so a|ω is Gaussian and the a-integral is closed-form; E_p[L_V] is then a 1-D
// quadrature over ω (trapezoid rule on a grid much finer than the basins). evaluate() reports it for
// τ = gibbs_tau as val_loss_gibbs, beside the deterministic landscape: val_loss_r00 … (L_V after the inner
// gradient descent from each of eval_restarts fixed seeded starts), their mean val_loss, and good_fraction
// (the fraction of those runs that end in the true basin, ||ω| − 1| < 0.5).
//
// A task is the fixed data plus a random inner start θ₀ = (a₀, ω₀), a₀ ~ N(0, 1), ω₀ ~ U(0, omega_max).
#include <cmath>
#include <cstdio>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "optim/dense.hpp"
#include "problems/problem.hpp"

namespace bilevel {

namespace {

constexpr uint64_t kToyDataStream = 0x746f79646174ULL;   // "toydat": training and validation noise
constexpr uint64_t kToyEvalStream = 0x746f796576ULL;     // "toyev": evaluation restarts
using dense::round_to_real;
using dense::to_tensor;
using dense::ui;

class ToyMultiminProblem final : public Problem {
 public:
  ToyMultiminProblem(int64_t n_train, double noise, double l2_init, double omega_max, int64_t steps, double lr,
                     int64_t eval_restarts, double gibbs_tau, uint64_t seed)
      : n_(n_train), noise_(noise), lambda_init_(std::log(l2_init)), omega_max_(omega_max), steps_(steps), lr_(lr),
        gibbs_tau_(gibbs_tau) {
    Rng data(seed, {kToyDataStream});
    for (int64_t k = 1; k <= n_; ++k) {
      xt_.push_back(static_cast<double>(k));
      yt_.push_back(round_to_real(std::sin(static_cast<double>(k)) + noise_ * data.normal()));
    }
    for (int64_t j = 1; j <= 4 * n_ + 2; ++j) {
      if (j % 4 == 0) continue;  // skip the training grid
      const double x = 0.25 * static_cast<double>(j);
      xv_.push_back(x);
      yv_.push_back(round_to_real(std::sin(x) + noise_ * data.normal()));
    }
    xt_t_ = to_tensor(xt_);
    yt_t_ = to_tensor(yt_);
    xv_t_ = to_tensor(xv_);
    yv_t_ = to_tensor(yv_);
    Rng ev(seed, {kToyEvalStream});
    for (int64_t r = 0; r < eval_restarts; ++r) eval_starts_.push_back(draw_start(ev));
  }

  std::string name() const override { return "toy-multimin"; }
  int64_t theta_dim() const override { return 2; }
  int64_t lambda_dim() const override { return 1; }
  InnerConfig inner() const override { return InnerConfig{steps_, static_cast<real>(lr_)}; }
  int64_t inner_examples() const override { return n_; }

  Tensor init_lambda(Rng& rng) const override {
    (void)rng;
    return Tensor(Shape{1}, static_cast<real>(lambda_init_));
  }
  // Draws θ₀ = (a₀, ω₀): a₀ ~ N(0, 1), then ω₀ ~ U(0, omega_max).
  Task sample_task(Rng& rng) const override {
    Task t;
    const auto s = draw_start(rng);
    t.theta_init = Tensor(Shape{2}, std::vector<real>{static_cast<real>(s[0]), static_cast<real>(s[1])});
    return t;
  }
  ad::Var theta0(const ad::Var& lambda, const Task& task) const override {
    (void)lambda;
    if (task.theta_init.numel() != 2) {
      throw internal_error("toy-multimin: the task has no θ₀ of 2 elements (use sample_task)");
    }
    return ad::constant(task.theta_init);
  }

  // θ: (2,), λ: (1,) → (). (1/n) Σ (a sin(ωx_k) − y_k)² + (e^λ/2)‖θ‖².
  ad::Var inner_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)task;
    return fit(theta, xt_t_, yt_t_) + penalty(theta, lambda);
  }
  // The same on the training examples `batch`.
  ad::Var inner_loss_batch(const ad::Var& theta, const ad::Var& lambda, const Task& task,
                           const std::vector<int64_t>& batch) const override {
    (void)task;
    std::vector<double> xb, yb;
    for (int64_t i : batch) {
      if (i < 0 || i >= n_) throw internal_error("toy-multimin: batch index " + std::to_string(i) + " out of range");
      xb.push_back(xt_[ui(i)]);
      yb.push_back(yt_[ui(i)]);
    }
    return fit(theta, to_tensor(xb), to_tensor(yb)) + penalty(theta, lambda);
  }
  // θ: (2,) → (). Mean squared error on the validation points.
  ad::Var outer_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)lambda, (void)task;
    return fit(theta, xv_t_, yv_t_);
  }

  Metrics evaluate(const Tensor& lambda) const override {
    const double l2 = std::exp(lambda_value(lambda));
    Metrics m;
    double sum = 0, good = 0;
    std::vector<double> vals;
    for (const auto& s : eval_starts_) {
      const auto th = descend(s[0], s[1], l2);
      const double v = val_loss(th[0], th[1]);
      vals.push_back(v);
      sum += v;
      if (std::abs(std::abs(th[1]) - 1.0) < 0.5) good += 1;
    }
    const double R = static_cast<double>(std::max<size_t>(1, eval_starts_.size()));
    m.emplace_back("val_loss", sum / R);
    m.emplace_back("good_fraction", good / R);
    m.emplace_back("val_loss_gibbs", gibbs_val_loss(l2, gibbs_tau_ / static_cast<double>(n_)));
    m.emplace_back("l2_weight", l2);
    for (size_t r = 0; r < vals.size(); ++r) {
      char key[32];
      std::snprintf(key, sizeof key, "val_loss_r%02zu", r);
      m.emplace_back(key, vals[r]);
    }
    return m;
  }

  nlohmann::json describe() const override {
    return {{"model", "a*sin(omega*x), theta = (a, omega)"},
            {"inner_loss", "mean_train (f - y)^2 + exp(lambda)/2 |theta|^2"},
            {"outer_loss", "mean_val (f - y)^2"},
            {"x_train", xt_},
            {"y_train", yt_},
            {"x_val", xv_},
            {"y_val", yv_},
            {"noise", noise_},
            {"omega_max", omega_max_},
            {"gibbs_tau", gibbs_tau_}};
  }

 private:
  std::vector<double> draw_start(Rng& rng) const {
    const double a = rng.normal();
    const double w = rng.uniform(0.0, omega_max_);
    return {round_to_real(a), round_to_real(w)};
  }
  static double lambda_value(const Tensor& lambda) {
    if (lambda.numel() != 1) throw internal_error("toy-multimin: λ must have 1 element");
    return static_cast<double>(lambda[0]);
  }
  // x, y: (m,) → (). mean((a sin(ωx) − y)²).
  static ad::Var fit(const ad::Var& theta, const Tensor& x, const Tensor& y) {
    if (!theta.defined() || theta.shape() != Shape{2}) {
      throw internal_error("toy-multimin: θ of shape " +
                                  (theta.defined() ? theta.shape().str() : std::string("<undefined>")) + ", expected (2,)");
    }
    const ad::Var a = ad::view(theta, 0, Shape{});
    const ad::Var w = ad::view(theta, 1, Shape{});
    const ad::Var pred = a * ad::sin(w * ad::constant(x));
    return ad::mean(ad::square(pred - ad::constant(y)));
  }
  // (e^λ/2)‖θ‖²; λ: (1,).
  static ad::Var penalty(const ad::Var& theta, const ad::Var& lambda) {
    return ad::sum(ad::exp(lambda) * ad::dot(theta, theta)) * real(0.5);
  }

  double val_loss(double a, double w) const {
    double s = 0;
    for (size_t i = 0; i < xv_.size(); ++i) {
      const double r = a * std::sin(w * xv_[i]) - yv_[i];
      s += r * r;
    }
    return s / static_cast<double>(xv_.size());
  }
  // The inner gradient descent (inner_steps, inner_lr) in plain double arithmetic.
  std::vector<double> descend(double a, double w, double l2) const {
    const double n = static_cast<double>(n_);
    for (int64_t t = 0; t < steps_; ++t) {
      double ga = l2 * a, gw = l2 * w;
      for (size_t k = 0; k < xt_.size(); ++k) {
        const double s = std::sin(w * xt_[k]), c = std::cos(w * xt_[k]);
        const double r = a * s - yt_[k];
        ga += 2 * r * s / n;
        gw += 2 * r * a * xt_[k] * c / n;
      }
      a -= lr_ * ga;
      w -= lr_ * gw;
      if (!std::isfinite(a) || !std::isfinite(w)) break;
    }
    return {a, w};
  }

  // E_p[L_V] for p(a, ω) ∝ exp(−L_T/T), T = τ/n (header comment). With S2 = mean s², SY = mean s·y,
  // YY = mean y², s = sin(ωx) on the training grid and α = S2 + l2/2:
  //   log ∫ exp(−L_T/T) da = −(YY − SY²/α + l2·ω²/2)/T + ½ log(πT/α),   a | ω ~ N(SY/α, T/(2α)),
  // and E[L_V | ω] is a quadratic in a. The ω-marginal is even (L_T(a, −ω) = L_T(−a, ω)), so ω ≥ 0 suffices.
  double gibbs_val_loss(double l2, double T) const {
    if (!(T > 0)) return std::nan("");
    // Far enough that the L2 term alone is 40 nats down; fine enough for ~20 points per basin width.
    const double W = std::max(4 * std::numbers::pi, std::sqrt(80 * T / l2) + 2);
    const double width = std::sqrt(T / 30.0);
    const double h = std::min(0.002, width / 20);
    const int64_t K = static_cast<int64_t>(std::ceil(W / h));
    const double nt = static_cast<double>(xt_.size()), nv = static_cast<double>(xv_.size());
    double yy = 0, yyv = 0;
    for (double y : yt_) yy += y * y / nt;
    for (double y : yv_) yyv += y * y / nv;
    std::vector<double> logw(ui(K + 1)), ev(ui(K + 1));
    double mx = -INFINITY;
    for (int64_t i = 0; i <= K; ++i) {
      const double w = static_cast<double>(i) * h;
      double s2 = 0, sy = 0, s2v = 0, syv = 0;
      for (size_t k = 0; k < xt_.size(); ++k) {
        const double s = std::sin(w * xt_[k]);
        s2 += s * s / nt, sy += s * yt_[k] / nt;
      }
      for (size_t k = 0; k < xv_.size(); ++k) {
        const double s = std::sin(w * xv_[k]);
        s2v += s * s / nv, syv += s * yv_[k] / nv;
      }
      const double al = s2 + l2 / 2;
      const double m = sy / al, var = T / (2 * al);
      logw[ui(i)] = -(yy - sy * sy / al + l2 * w * w / 2) / T + 0.5 * std::log(std::numbers::pi * T / al);
      if (i == 0 || i == K) logw[ui(i)] += std::log(0.5);  // trapezoid end weights
      ev[ui(i)] = s2v * (m * m + var) - 2 * m * syv + yyv;
      mx = std::max(mx, logw[ui(i)]);
    }
    double num = 0, den = 0;
    for (int64_t i = 0; i <= K; ++i) {
      const double wt = std::exp(logw[ui(i)] - mx);
      num += wt * ev[ui(i)];
      den += wt;
    }
    return num / den;
  }

  int64_t n_;
  double noise_, lambda_init_, omega_max_;
  int64_t steps_;
  double lr_, gibbs_tau_;
  std::vector<double> xt_, yt_, xv_, yv_;
  Tensor xt_t_, yt_t_, xv_t_, yv_t_;
  std::vector<std::vector<double>> eval_starts_;
};

std::unique_ptr<Problem> make_toy_multimin(const Options& o, uint64_t seed) {
  return std::make_unique<ToyMultiminProblem>(o.get_int("n_train"), o.get_real("noise"), o.get_real("l2_init"), o.get_real("omega_max"),
                                              o.get_int("inner_steps"), o.get_real("inner_lr"), o.get_int("eval_restarts"),
                                              o.get_real("gibbs_tau"), seed);
}

}  // namespace

ProblemInfo toy_multimin_problem_info() {
  ProblemInfo info;
  info.name = "toy-multimin";
  info.description =
      "1-D regression a·sin(ωx) on an integer grid with L2 weight e^λ: alias frequencies make several inner minima "
      "with different validation losses (HPO-SGLD Figure 1); exact E_p[L_V] by quadrature";
  info.options = {
      opt_int("n_train", 6, "training points x = 1..n (also the data scaling N of the Gibbs law)", 2, 1000),
      opt_real("noise", 0.1, "std σ of the label noise", 0, 10),
      opt_real("l2_init", 0.01, "initial L2 weight e^λ", 0, 1e6, true),
      opt_real("omega_max", 8.0, "inner starts draw ω₀ ~ U(0, omega_max) (and a₀ ~ N(0, 1))", 0, 1000, true),
      opt_int("inner_steps", 2000, "gradient-descent steps r of the inner loop (and of the evaluation restarts)", 1),
      opt_real("inner_lr", 0.02, "inner step α (also the sgld step unless eta is set)", 0, 1, true),
      opt_int("eval_restarts", 16, "fixed seeded starts of the evaluation's inner runs (columns of the landscape)", 1,
              100),
      opt_real("gibbs_tau", 0.1, "temperature τ of the evaluation metric val_loss_gibbs (set it to the sgld tau)", 0,
               1e6, true),
  };
  info.make = make_toy_multimin;
  info.metrics = {"val_loss", "good_fraction", "val_loss_gibbs", "l2_weight", "val_loss_rNN"};  // NN: 00, 01, … per eval_restarts
  info.run_defaults = {{"outer_opt", "adam"}, {"outer_lr", "0.05"}, {"eval_every", "10"}};
  return info;
}

}  // namespace bilevel
