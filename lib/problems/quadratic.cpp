// `quadratic`: per-coordinate L2 hyperparameters on a random quadratic, with closed-form hypergradients.
//
//   L_T(θ, λ) = ½ θᵀAθ − bᵀθ + ½ Σᵢ exp(λᵢ) θᵢ²        (inner, P = H = dim)
//   L_V(θ)    = ½ ‖Cθ − d‖²                              (outer, C: (val_rows, dim))
//
// With K(λ) = A + diag(e^λ) the inner gradient is Kθ − b, so the r-step inner loop from θ₀ is
//   θ_{j+1} = θ_j − α(Kθ_j − b),
// and its λ-Jacobian Z_j = dθ_j/dλ (P×H, Z₀ = 0 since θ₀ does not depend on λ) follows
//   Z_{j+1} = (I − αK) Z_j − α diag(e^λ ⊙ θ_j).
// The unrolled hypergradient is Z_rᵀ Cᵀ(Cθ_r − d). At the inner solution θ* = K⁻¹b the implicit
// function theorem gives dθ*/dλ = −K⁻¹ diag(e^λ ⊙ θ*), hence the IFT hypergradient
//   −(e^λ ⊙ θ*) ⊙ K⁻¹ Cᵀ(Cθ* − d).
// Both closed forms are computed in double with plain loops (independent of the autodiff), from the
// instance data rounded to `real`, i.e. exactly the numbers the autodiff losses see.
//
// Instance (seeded): A = Q diag(s) Qᵀ with Q from Gram–Schmidt of a standard Gaussian matrix and
// eigenvalues sᵢ log-spaced in [1, cond] (so λmin(A) = 1, λmax(A) = cond); C ~ N(0, 1/dim) entrywise;
// θ_true ~ N(0, I), b = Aθ_true + σε, d = Cθ_true + σε' (σ = `noise`); θ₀ ~ N(0, I) or zeros.
// One fixed task: the instance itself.
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "optim/dense.hpp"
#include "problems/problem.hpp"

namespace bilevel {

namespace {

using dense::round_to_real;
using dense::ui;
using dense::to_doubles;
using dense::to_tensor;

constexpr uint64_t kQuadraticStream = 0x717561647261ULL;  // "quadra": the instance's Rng stream

class QuadraticProblem final : public Problem {
 public:
  QuadraticProblem(int64_t dim, double cond, int64_t val_rows, double noise, int64_t steps, double lr,
                   double lambda_init, bool theta0_random, uint64_t seed)
      : P_(dim), m_(val_rows), steps_(steps), lr_(lr), cond_(cond), noise_(noise), lambda_init_(lambda_init),
        theta0_random_(theta0_random) {
    Rng base(seed, {kQuadraticStream});
    Rng rng_a = base.split(0), rng_b = base.split(1), rng_c = base.split(2), rng_d = base.split(3),
        rng_t = base.split(4);
    // A = Q diag(s) Qᵀ, symmetric by construction (averaged to be exactly symmetric after rounding).
    const std::vector<double> q = dense::random_orthogonal(P_, rng_a);
    eigs_.resize(static_cast<size_t>(P_));
    for (int64_t i = 0; i < P_; ++i)
      eigs_[static_cast<size_t>(i)] =
          P_ == 1 ? 1.0 : std::pow(cond_, static_cast<double>(i) / static_cast<double>(P_ - 1));
    A_.assign(static_cast<size_t>(P_ * P_), 0.0);
    for (int64_t i = 0; i < P_; ++i)
      for (int64_t j = 0; j < P_; ++j) {
        double s = 0;
        for (int64_t k = 0; k < P_; ++k) s += q[idx(i, k)] * eigs_[static_cast<size_t>(k)] * q[idx(j, k)];
        A_[idx(i, j)] = s;
      }
    for (int64_t i = 0; i < P_; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        const double s = round_to_real(0.5 * (A_[idx(i, j)] + A_[idx(j, i)]));
        A_[idx(i, j)] = A_[idx(j, i)] = s;
      }
    // A well-specified regression pair: training and validation data share θ_true, each with its own
    // noise, so the best regularisation is finite and interior (the noise is what it trades against).
    theta_true_.resize(static_cast<size_t>(P_));
    for (auto& v : theta_true_) v = rng_b.normal();
    b_.resize(static_cast<size_t>(P_));
    for (int64_t i = 0; i < P_; ++i) {
      double s = noise_ * rng_b.normal();
      for (int64_t j = 0; j < P_; ++j) s += A_[idx(i, j)] * theta_true_[ui(j)];
      b_[ui(i)] = round_to_real(s);
    }
    C_.resize(static_cast<size_t>(m_ * P_));
    const double c_std = 1.0 / std::sqrt(static_cast<double>(P_));
    for (auto& v : C_) v = round_to_real(c_std * rng_c.normal());
    d_.resize(static_cast<size_t>(m_));
    for (int64_t k = 0; k < m_; ++k) {
      double s = noise_ * rng_d.normal();
      for (int64_t j = 0; j < P_; ++j) s += C_[static_cast<size_t>(k * P_ + j)] * theta_true_[ui(j)];
      d_[ui(k)] = round_to_real(s);
    }
    theta0_.assign(static_cast<size_t>(P_), 0.0);
    if (theta0_random_)
      for (auto& v : theta0_) v = round_to_real(rng_t.normal());

    A_t_ = to_tensor(A_, Shape{P_, P_});
    b_t_ = to_tensor(b_, Shape{P_});
    C_t_ = to_tensor(C_, Shape{m_, P_});
    d_t_ = to_tensor(d_, Shape{m_});
    theta0_t_ = to_tensor(theta0_, Shape{P_});
  }

  std::string name() const override { return "quadratic"; }
  int64_t theta_dim() const override { return P_; }
  int64_t lambda_dim() const override { return P_; }
  InnerConfig inner() const override { return InnerConfig{steps_, static_cast<real>(lr_)}; }

  // λ = lambda_init in every coordinate (draws nothing).
  Tensor init_lambda(Rng& rng) const override {
    (void)rng;
    return Tensor(Shape{P_}, static_cast<real>(lambda_init_));
  }
  // The one fixed task: the instance; θ₀ in theta_init. Draws nothing.
  Task sample_task(Rng& rng) const override {
    (void)rng;
    Task t;
    t.theta_init = theta0_t_;
    return t;
  }

  ad::Var theta0(const ad::Var& lambda, const Task& task) const override {
    (void)lambda;
    return ad::constant(task_theta0(task));
  }

  // θ: (P,), λ: (P,) → (). ½θᵀAθ − bᵀθ + ½Σ e^λ θ².
  ad::Var inner_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)task;
    check_vec(theta, "θ");
    check_vec(lambda, "λ");
    const ad::Var a_theta = ad::flatten(ad::matmul(ad::constant(A_t_), ad::reshape(theta, Shape{P_, 1})));
    const ad::Var quad = ad::dot(theta, a_theta) * real(0.5);
    const ad::Var lin = ad::dot(ad::constant(b_t_), theta);
    const ad::Var reg = ad::sum(ad::exp(lambda) * ad::square(theta)) * real(0.5);
    return quad - lin + reg;
  }
  // θ: (P,) → (). ½‖Cθ − d‖².
  ad::Var outer_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)lambda, (void)task;
    check_vec(theta, "θ");
    const ad::Var resid = ad::flatten(ad::matmul(ad::constant(C_t_), ad::reshape(theta, Shape{P_, 1}))) -
                          ad::constant(d_t_);
    return ad::sum(ad::square(resid)) * real(0.5);
  }

  bool theta0_is_lambda() const override { return false; }
  bool lambda_in_inner_loss() const override { return true; }

  // val_loss: L_V at θ_r (the r-step inner loop from the instance's θ₀); val_loss_star: L_V at θ*.
  Metrics evaluate(const Tensor& lambda) const override {
    const std::vector<double> lam = checked_lambda(lambda);
    const Unrolled u = unroll(lam, theta0_, false);
    return {{"val_loss", val_loss(u.theta)}, {"val_loss_star", val_loss(solve_theta_star(lam))}};
  }
  // hypergrad_norm_exact: ‖closed-form unrolled hypergradient‖; theta_dist: ‖θ_r − θ*‖.
  Metrics diagnostics(const Tensor& lambda) const override {
    const std::vector<double> lam = checked_lambda(lambda);
    const Unrolled u = unroll(lam, theta0_, true);
    const std::vector<double> star = solve_theta_star(lam);
    double g2 = 0, d2 = 0;
    for (double g : u.grad) g2 += g * g;
    for (int64_t i = 0; i < P_; ++i) d2 += (u.theta[ui(i)] - star[ui(i)]) * (u.theta[ui(i)] - star[ui(i)]);
    return {{"hypergrad_norm_exact", std::sqrt(g2)}, {"theta_dist", std::sqrt(d2)}};
  }

  // Z_rᵀ Cᵀ(Cθ_r − d) by the forward Jacobian recursion (cost O(r·P³)).
  std::optional<Tensor> closed_form_unrolled(const Tensor& lambda, const Task& task) const override {
    const Unrolled u = unroll(checked_lambda(lambda), to_doubles(task_theta0(task)), true);
    return to_tensor(u.grad, Shape{P_});
  }
  // −(e^λ ⊙ θ*) ⊙ K⁻¹Cᵀ(Cθ* − d), θ* = K⁻¹b, by Cholesky in double.
  std::optional<Tensor> closed_form_ift(const Tensor& lambda, const Task& task) const override {
    (void)task;
    const std::vector<double> lam = checked_lambda(lambda);
    const std::vector<double> chol = cholesky(lam);
    const std::vector<double> star = chol_solve(chol, b_);
    const std::vector<double> w = chol_solve(chol, val_grad(star));
    std::vector<double> g(static_cast<size_t>(P_));
    for (int64_t i = 0; i < P_; ++i) g[ui(i)] = -std::exp(lam[ui(i)]) * star[ui(i)] * w[ui(i)];
    return to_tensor(g, Shape{P_});
  }

  nlohmann::json describe() const override {
    auto matrix = [](const std::vector<double>& v, int64_t rows, int64_t cols) {
      nlohmann::json m = nlohmann::json::array();
      for (int64_t i = 0; i < rows; ++i) {
        nlohmann::json row = nlohmann::json::array();
        for (int64_t j = 0; j < cols; ++j) row.push_back(v[static_cast<size_t>(i * cols + j)]);
        m.push_back(row);
      }
      return m;
    };
    return {{"inner_loss", "0.5 theta^T A theta - b^T theta + 0.5 sum_i exp(lambda_i) theta_i^2"},
            {"outer_loss", "0.5 |C theta - d|^2"},
            {"dim", P_},
            {"val_rows", m_},
            {"cond", cond_},
            {"eigenvalues", eigs_},
            {"A", matrix(A_, P_, P_)},
            {"b", b_},
            {"C", matrix(C_, m_, P_)},
            {"d", d_},
            {"theta_true", theta_true_},
            {"noise", noise_},
            {"theta0", theta0_},
            {"theta0_kind", theta0_random_ ? "random" : "zeros"}};
  }

 private:
  struct Unrolled {
    std::vector<double> theta;  // θ_r
    std::vector<double> grad;   // Z_rᵀ Cᵀ(Cθ_r − d), when asked for
  };

  size_t idx(int64_t i, int64_t j) const { return static_cast<size_t>(i * P_ + j); }

  void check_vec(const ad::Var& v, const char* what) const {
    if (!v.defined() || v.shape() != Shape{P_}) {
      throw internal_error(std::string("quadratic: ") + what + " of shape " +
                                  (v.defined() ? v.shape().str() : std::string("<undefined>")) + ", expected (" +
                                  std::to_string(P_) + ",)");
    }
  }
  std::vector<double> checked_lambda(const Tensor& lambda) const {
    if (lambda.numel() != P_) {
      throw internal_error("quadratic: λ has " + std::to_string(lambda.numel()) + " elements, expected " +
                                  std::to_string(P_));
    }
    return to_doubles(lambda);
  }
  const Tensor& task_theta0(const Task& task) const {
    if (task.theta_init.numel() != P_) {
      throw internal_error("quadratic: task θ₀ has " + std::to_string(task.theta_init.numel()) +
                                  " elements, expected " + std::to_string(P_) + " (use sample_task)");
    }
    return task.theta_init;
  }

  // K x = A x + e^λ ⊙ x.
  std::vector<double> k_times(const std::vector<double>& lam, const std::vector<double>& x) const {
    std::vector<double> y(static_cast<size_t>(P_));
    for (int64_t i = 0; i < P_; ++i) {
      double s = std::exp(lam[ui(i)]) * x[ui(i)];
      for (int64_t j = 0; j < P_; ++j) s += A_[idx(i, j)] * x[ui(j)];
      y[ui(i)] = s;
    }
    return y;
  }
  // ∇L_V(θ) = Cᵀ(Cθ − d).
  std::vector<double> val_grad(const std::vector<double>& theta) const {
    std::vector<double> g(static_cast<size_t>(P_), 0.0);
    for (int64_t k = 0; k < m_; ++k) {
      double r = -d_[ui(k)];
      for (int64_t j = 0; j < P_; ++j) r += C_[static_cast<size_t>(k * P_ + j)] * theta[ui(j)];
      for (int64_t j = 0; j < P_; ++j) g[ui(j)] += C_[static_cast<size_t>(k * P_ + j)] * r;
    }
    return g;
  }
  double val_loss(const std::vector<double>& theta) const {
    double s = 0;
    for (int64_t k = 0; k < m_; ++k) {
      double r = -d_[ui(k)];
      for (int64_t j = 0; j < P_; ++j) r += C_[static_cast<size_t>(k * P_ + j)] * theta[ui(j)];
      s += r * r;
    }
    return 0.5 * s;
  }

  // θ_r and (optionally) the unrolled hypergradient by the forward recursion of the header comment.
  Unrolled unroll(const std::vector<double>& lam, const std::vector<double>& theta0, bool with_grad) const {
    std::vector<double> theta = theta0;
    std::vector<double> z;  // Z_j, (P, H) row-major, H = P
    if (with_grad) z.assign(static_cast<size_t>(P_ * P_), 0.0);
    std::vector<double> e(static_cast<size_t>(P_));
    for (int64_t i = 0; i < P_; ++i) e[ui(i)] = std::exp(lam[ui(i)]);
    for (int64_t step = 0; step < steps_; ++step) {
      if (with_grad) {
        // Z ← Z − α(AZ + diag(e)Z) − α diag(e ⊙ θ_j)
        std::vector<double> nz(z.size());
        for (int64_t i = 0; i < P_; ++i)
          for (int64_t h = 0; h < P_; ++h) {
            double kz = e[ui(i)] * z[idx(i, h)];
            for (int64_t k = 0; k < P_; ++k) kz += A_[idx(i, k)] * z[idx(k, h)];
            nz[idx(i, h)] = z[idx(i, h)] - lr_ * kz;
          }
        for (int64_t i = 0; i < P_; ++i) nz[idx(i, i)] -= lr_ * e[ui(i)] * theta[ui(i)];
        z = std::move(nz);
      }
      const std::vector<double> kt = k_times(lam, theta);
      for (int64_t i = 0; i < P_; ++i) theta[ui(i)] -= lr_ * (kt[ui(i)] - b_[ui(i)]);
    }
    Unrolled u;
    u.theta = theta;
    if (with_grad) {
      const std::vector<double> v = val_grad(theta);
      u.grad.assign(static_cast<size_t>(P_), 0.0);
      for (int64_t h = 0; h < P_; ++h) {
        double s = 0;
        for (int64_t i = 0; i < P_; ++i) s += z[idx(i, h)] * v[ui(i)];
        u.grad[ui(h)] = s;
      }
    }
    return u;
  }

  // Lower Cholesky factor L of K = A + diag(e^λ) (K is SPD: A is, and e^λ > 0).
  std::vector<double> cholesky(const std::vector<double>& lam) const {
    std::vector<double> k = A_;
    for (int64_t j = 0; j < P_; ++j) k[idx(j, j)] = A_[idx(j, j)] + std::exp(lam[ui(j)]);
    std::optional<std::vector<double>> l = dense::cholesky(k, P_);
    if (!l) throw numerical_error("quadratic: K = A + diag(e^λ) is not positive definite");
    return std::move(*l);
  }
  std::vector<double> chol_solve(const std::vector<double>& l, const std::vector<double>& rhs) const {
    return dense::cholesky_solve(l, P_, rhs);
  }
  std::vector<double> solve_theta_star(const std::vector<double>& lam) const { return chol_solve(cholesky(lam), b_); }

  int64_t P_, m_, steps_;
  double lr_, cond_, noise_, lambda_init_;
  bool theta0_random_;
  std::vector<double> eigs_, theta_true_;
  std::vector<double> A_, b_, C_, d_, theta0_;  // instance data, rounded to real
  Tensor A_t_, b_t_, C_t_, d_t_, theta0_t_;
};

std::unique_ptr<Problem> make_quadratic(const Options& o, uint64_t seed) {
  const int64_t dim = o.get_int("dim");
  const int64_t val_rows = o.get_int("val_rows") == 0 ? dim : o.get_int("val_rows");
  const double cond = o.get_real("cond"), lr = o.get_real("inner_lr"), lambda_init = o.get_real("lambda_init");
  // Gradient descent on the quadratic inner loss is stable iff α·λmax(K) < 2, K = A + diag(e^λ),
  // λmax(K) ≤ cond + max e^λ. Checked at the initial λ (a run that drives λ up can still leave it).
  const double curvature = cond + std::exp(lambda_init);
  if (!(lr * curvature < 2)) {
    throw option_error("option 'inner_lr': " + o.get_string("inner_lr") + " makes the inner loop unstable (needs inner_lr < 2/(cond + exp(lambda_init)) = " +
                       std::to_string(2 / curvature) + ")");
  }
  return std::make_unique<QuadraticProblem>(dim, cond, val_rows, o.get_real("noise"), o.get_int("inner_steps"), lr, lambda_init,
                                            o.get_string("theta0") == "random", seed);
}

}  // namespace

ProblemInfo quadratic_problem_info() {
  ProblemInfo info;
  info.name = "quadratic";
  info.description =
      "per-coordinate L2 on a seeded random quadratic, L_V = ½‖Cθ−d‖²; closed-form unrolled and IFT hypergradients";
  info.options = {
      opt_int("dim", 10, "dimension of θ and λ (P = H); the closed-form diagnostics cost O(r·dim³) per row", 1, 200),
      opt_real("cond", 10, "condition number of A (eigenvalues log-spaced in [1, cond])", 1, 1e6),
      opt_int("val_rows", 0, "rows of C in the outer loss (0 = dim)", 0, 100000),
      opt_real("noise", 0.3, "std σ of the noise in b = Aθ_true + σε and d = Cθ_true + σε'", 0, 1e6),
      opt_int("inner_steps", 20, "inner GD steps r", 1, 100000),
      opt_real("inner_lr", 0.05,
               "inner step size α; the unroll is stable only if α·(cond + max e^λ) < 2 (default: 0.05·11 = 0.55)", 0,
               10, true),
      opt_real("lambda_init", 0, "initial λ, the same in every coordinate", -30, 30),
      opt_choice("theta0", "random", {"zeros", "random"}, "inner initial point θ₀: zeros or a fixed seeded N(0, 1) vector"),
  };
  info.make = make_quadratic;
  info.metrics = {"val_loss", "val_loss_star", "hypergrad_norm_exact", "theta_dist"};
  // Outer SGD with the exact hypergradient and lr 1 reaches |∇| < 1e-3 in ~3000 steps on the default
  // instance for seeds 1–10; lr ≥ 3 sometimes jumps past the cliff where α·λmax(K) reaches 2.
  info.run_defaults = {{"outer_opt", "sgd"}, {"outer_lr", "1"}, {"schedule", "constant"}, {"meta_batch", "1"}};
  return info;
}

}  // namespace bilevel
