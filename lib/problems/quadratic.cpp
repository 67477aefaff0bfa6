// `quadratic`: per-coordinate L2 hyperparameters on a random quadratic, with closed-form hypergradients.
//
//   L_T(θ, λ) = ½ θᵀAθ − bᵀθ + ½ Σᵢ exp(λᵢ) θᵢ²        (inner, P = H = dim)
//   L_V(θ)    = ½ ‖Cθ − d‖²                              (outer, C: (val_rows, dim))
//
// With K(λ) = A + diag(e^λ) the inner gradient is Kθ − b, so the r-step inner loop from θ₀ is
//   θ_{j+1} = θ_j − α(Kθ_j − b),
// and its λ-Jacobian Z_j = dθ_j/dλ (P×H, Z₀ = 0 since θ₀ does not depend on λ) follows
//   Z_{j+1} = (I − αK) Z_j − α diag(e^λ ⊙ θ_j).
// The unrolled hypergradient is Z_rᵀ Cᵀ(Cθ_r − d) (computed by the adjoint of this recursion, `unroll`). At the inner solution θ* = K⁻¹b the implicit
// function theorem gives dθ*/dλ = −K⁻¹ diag(e^λ ⊙ θ*), hence the IFT hypergradient
//   −(e^λ ⊙ θ*) ⊙ K⁻¹ Cᵀ(Cθ* − d).
// Both closed forms are computed in double with plain loops (independent of the autodiff), from the
// instance data rounded to `real`, i.e. exactly the numbers the autodiff losses see.
//
// Instance (seeded): A = Q diag(s) Qᵀ with Q from Gram–Schmidt of a standard Gaussian matrix and
// eigenvalues sᵢ log-spaced in [1, cond] (so λmin(A) = 1, λmax(A) = cond); C ~ N(0, 1/dim) entrywise;
// θ_true ~ N(0, I), b = Aθ_true + σε, d = Cθ_true + σε' (σ = `noise`); θ₀ ~ N(0, I) or zeros.
// One fixed task: the instance itself.
//
// Sampled rows (option n_samples = n > 0), the quadratic protocol of the bilevel benchmark (Dagréou et al. 2022):
// both losses are means over samples,
//   L_T(θ, λ) = (1/n) Σᵢ ½(xᵢᵀθ − yᵢ)² + ½ Σᵢ exp(λᵢ) θᵢ²,    L_V(θ) = (1/m) Σ_k ½(c_kᵀθ − d_k)²,
// with rows X = √n U diag(√s) Qᵀ (U: n×P with orthonormal columns, Gram–Schmidt of a Gaussian matrix), so that
// (1/n)XᵀX = A exactly before rounding, y = Xθ_true + σε and m = val_rows rows of C. The inner gradient is again
// Kθ − b with A = (1/n)XᵀX and b = (1/n)Xᵀy computed in double from the rounded X and y, so every closed form above
// holds with those A, b and with L_V scaled by 1/m. Minibatch oracles (inner_loss_batch, outer_loss_batch) take
// the mean over the drawn rows, so SGD-type solvers see sample noise while h(λ), h* and ∇h stay exact.
#include <cmath>
#include <memory>
#include <mutex>
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
  QuadraticProblem(int64_t dim, int64_t samples, double cond, int64_t val_rows, double noise, int64_t steps, double lr,
                   double lambda_init, bool theta0_random, uint64_t seed)
      : P_(dim), n_(samples), m_(val_rows), steps_(steps), lr_(lr), cond_(cond), noise_(noise),
        outer_scale_(samples > 0 ? 1.0 / static_cast<double>(val_rows) : 1.0), lambda_init_(lambda_init),
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
    if (n_ > 0) {
      sample_rows(q, base.split(5), rng_b);
    } else {
      b_.resize(static_cast<size_t>(P_));
      for (int64_t i = 0; i < P_; ++i) {
        double s = noise_ * rng_b.normal();
        for (int64_t j = 0; j < P_; ++j) s += A_[idx(i, j)] * theta_true_[ui(j)];
        b_[ui(i)] = round_to_real(s);
      }
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

  // θ: (P,), λ: (P,) → (). ½θᵀAθ − bᵀθ + ½Σ e^λ θ², or with sampled rows (1/n)Σ ½(xᵢᵀθ − yᵢ)² + ½Σ e^λ θ².
  ad::Var inner_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)task;
    check_vec(theta, "θ");
    check_vec(lambda, "λ");
    if (n_ > 0) return rows_loss(theta, X_t_, y_t_, 1.0 / static_cast<double>(n_)) + reg(theta, lambda);
    const ad::Var a_theta = ad::flatten(ad::matmul(ad::constant(A_t_), ad::reshape(theta, Shape{P_, 1})));
    const ad::Var quad = ad::dot(theta, a_theta) * real(0.5);
    const ad::Var lin = ad::dot(ad::constant(b_t_), theta);
    return quad - lin + reg(theta, lambda);
  }
  // θ: (P,) → (). ½‖Cθ − d‖², with sampled rows (1/m)·½‖Cθ − d‖².
  ad::Var outer_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)lambda, (void)task;
    check_vec(theta, "θ");
    return rows_loss(theta, C_t_, d_t_, outer_scale_);
  }

  // Sampled rows: the n rows of X are the inner examples (a mean), the m rows of C the outer ones.
  int64_t inner_examples() const override { return n_; }
  // θ, λ: (P,), batch: b distinct rows of X → (). (1/b) Σ_{i∈batch} ½(xᵢᵀθ − yᵢ)² + ½Σ e^λ θ².
  ad::Var inner_loss_batch(const ad::Var& theta, const ad::Var& lambda, const Task& task,
                           const std::vector<int64_t>& batch) const override {
    (void)task;
    check_vec(theta, "θ");
    check_vec(lambda, "λ");
    BILEVEL_CHECK(n_ > 0, "quadratic: inner_loss_batch without sampled rows");
    return rows_loss(theta, rows(X_t_, batch), rows(y_t_, batch), 1.0 / static_cast<double>(batch.size())) +
           reg(theta, lambda);
  }
  int64_t outer_examples() const override { return m_; }
  // θ: (P,), batch: b distinct rows of C → (). The outer loss's sum over rows estimated from the batch:
  // (m·scale/b) Σ_{k∈batch} ½(c_kᵀθ − d_k)², scale = 1/m with sampled rows (a mean), else 1 (a sum).
  ad::Var outer_loss_batch(const ad::Var& theta, const ad::Var& lambda, const Task& task,
                           const std::vector<int64_t>& batch) const override {
    (void)lambda, (void)task;
    check_vec(theta, "θ");
    return rows_loss(theta, rows(C_t_, batch), rows(d_t_, batch),
                     outer_scale_ * static_cast<double>(m_) / static_cast<double>(batch.size()));
  }

  bool theta0_is_lambda() const override { return false; }
  bool lambda_in_inner_loss() const override { return true; }

  // val_loss: L_V at θ_r (the r-step inner loop from the instance's θ₀); val_loss_star: h(λ) = L_V at θ*(λ);
  // value_star: h* = min h over λ ∈ [−kLambdaBox, kLambdaBox]^P (value_star(), computed once), the h* of
  // `compare --metric value_subopt`.
  Metrics evaluate(const Tensor& lambda) const override {
    const std::vector<double> lam = checked_lambda(lambda);
    const Unrolled u = unroll(lam, theta0_, false);
    return {{"val_loss", val_loss(u.theta)}, {"val_loss_star", val_loss(solve_theta_star(lam))}, {"value_star", value_star()}};
  }

  // h* = min_λ h(λ), h(λ) = L_V(θ*(λ)), over the box λ ∈ [−B, B]^P, B = kLambdaBox: beyond it e^λ is below 2e-9 of
  // A's smallest eigenvalue or above 5e8 times its largest, so h moves by less than about 1e-8 of its scale (h
  // tends to finite limits as λᵢ → ±∞, where its minimum often lies). Projected gradient descent with the
  // closed-form IFT gradient, Barzilai–Borwein steps and Armijo backtracking, from λ = 0, until the projected
  // gradient is below 1e-13·(1 + h) or kStarIters iterations. Deterministic, computed once (thread-safe).
  double value_star() const {
    std::call_once(star_once_, [this] {
      const double box = kLambdaBox;
      std::vector<double> lam(static_cast<size_t>(P_), 0.0), g = ift_grad(lam);
      double h = val_loss(solve_theta_star(lam)), step = 1.0;
      auto project = [box](double v) { return std::min(box, std::max(-box, v)); };
      for (int it = 0; it < kStarIters; ++it) {
        double pg = 0;  // the projected gradient's norm²
        for (int64_t i = 0; i < P_; ++i) {
          const double d = lam[ui(i)] - project(lam[ui(i)] - g[ui(i)]);
          pg += d * d;
        }
        if (std::sqrt(pg) < 1e-13 * (1 + std::abs(h))) break;
        std::vector<double> next(lam.size());
        double h_next = h, decrease = 0;
        for (int back = 0; back < 60; ++back, step *= 0.5) {
          decrease = 0;
          for (int64_t i = 0; i < P_; ++i) {
            next[ui(i)] = project(lam[ui(i)] - step * g[ui(i)]);
            decrease += g[ui(i)] * (lam[ui(i)] - next[ui(i)]);
          }
          h_next = val_loss(solve_theta_star(next));
          if (h_next <= h - 1e-4 * decrease) break;
        }
        if (!(h_next <= h)) break;  // no descent at any step: converged to rounding
        const std::vector<double> g_next = ift_grad(next);
        double ss = 0, sy = 0;  // Barzilai–Borwein: s = Δλ, y = Δg, next step sᵀs/sᵀy
        for (int64_t i = 0; i < P_; ++i) {
          const double s = next[ui(i)] - lam[ui(i)], y = g_next[ui(i)] - g[ui(i)];
          ss += s * s, sy += s * y;
        }
        step = sy > 0 ? std::min(1e6, ss / sy) : 2 * step;
        lam = std::move(next), g = g_next, h = h_next;
      }
      star_ = h;
    });
    return star_;
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

  // Z_rᵀ Cᵀ(Cθ_r − d) by the adjoint recursion (cost O(r·P²)).
  std::optional<Tensor> closed_form_unrolled(const Tensor& lambda, const Task& task) const override {
    const Unrolled u = unroll(checked_lambda(lambda), to_doubles(task_theta0(task)), true);
    return to_tensor(u.grad, Shape{P_});
  }
  // −(e^λ ⊙ θ*) ⊙ K⁻¹Cᵀ(Cθ* − d), θ* = K⁻¹b, by Cholesky in double.
  std::optional<Tensor> closed_form_ift(const Tensor& lambda, const Task& task) const override {
    (void)task;
    return to_tensor(ift_grad(checked_lambda(lambda)), Shape{P_});
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
    nlohmann::json out = {{"inner_loss", "0.5 theta^T A theta - b^T theta + 0.5 sum_i exp(lambda_i) theta_i^2"},
            {"outer_loss", "0.5 |C theta - d|^2"},
            {"dim", P_},
            {"n_samples", n_},
            {"val_rows", m_},
            {"outer_scale", outer_scale_},
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
    if (n_ > 0) {
      out["inner_loss"] = "mean_i 0.5 (x_i^T theta - y_i)^2 + 0.5 sum_i exp(lambda_i) theta_i^2 (A = X^T X / n, b = X^T y / n)";
      out["outer_loss"] = "mean_k 0.5 (c_k^T theta - d_k)^2";
      out["X"] = matrix(X_, n_, P_);
      out["y"] = y_;
    }
    return out;
  }

 private:
  struct Unrolled {
    std::vector<double> theta;  // θ_r
    std::vector<double> grad;   // Z_rᵀ Cᵀ(Cθ_r − d), when asked for
  };

  static constexpr double kLambdaBox = 20;  // value_star's box
  static constexpr int kStarIters = 2000;

  size_t idx(int64_t i, int64_t j) const { return static_cast<size_t>(i * P_ + j); }

  // ∇h(λ) = −(e^λ ⊙ θ*) ⊙ K⁻¹∇L_V(θ*), in double.
  std::vector<double> ift_grad(const std::vector<double>& lam) const {
    const std::vector<double> chol = cholesky(lam);
    const std::vector<double> star = chol_solve(chol, b_);
    const std::vector<double> w = chol_solve(chol, val_grad(star));
    std::vector<double> g(static_cast<size_t>(P_));
    for (int64_t i = 0; i < P_; ++i) g[ui(i)] = -std::exp(lam[ui(i)]) * star[ui(i)] * w[ui(i)];
    return g;
  }

  // Sampled rows: X = √n U diag(√s) Qᵀ (U orthonormal columns from `rng_u`), y = Xθ_true + σε (ε from `rng_y`),
  // both rounded to real; then A = (1/n)XᵀX and b = (1/n)Xᵀy in double from the rounded rows.
  void sample_rows(const std::vector<double>& q, Rng rng_u, Rng& rng_y) {
    const size_t n = static_cast<size_t>(n_), P = static_cast<size_t>(P_);
    std::vector<double> u(n * P);  // (n, P), column-orthonormalised by modified Gram–Schmidt
    for (auto& v : u) v = rng_u.normal();
    for (size_t k = 0; k < P; ++k) {
      for (size_t j = 0; j < k; ++j) {
        double dotp = 0;
        for (size_t i = 0; i < n; ++i) dotp += u[i * P + j] * u[i * P + k];
        for (size_t i = 0; i < n; ++i) u[i * P + k] -= dotp * u[i * P + j];
      }
      double nrm = 0;
      for (size_t i = 0; i < n; ++i) nrm += u[i * P + k] * u[i * P + k];
      nrm = std::sqrt(nrm);
      for (size_t i = 0; i < n; ++i) u[i * P + k] /= nrm;
    }
    // M = diag(√s) Qᵀ (P, P), X = √n U M.
    std::vector<double> mq(P * P);
    for (size_t k = 0; k < P; ++k)
      for (size_t j = 0; j < P; ++j) mq[k * P + j] = std::sqrt(eigs_[k]) * q[j * P + k];
    const double sn = std::sqrt(static_cast<double>(n_));
    X_.assign(n * P, 0.0);
    for (size_t i = 0; i < n; ++i)
      for (size_t k = 0; k < P; ++k) {
        const double uik = sn * u[i * P + k];
        for (size_t j = 0; j < P; ++j) X_[i * P + j] += uik * mq[k * P + j];
      }
    for (auto& v : X_) v = round_to_real(v);
    y_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      double s = noise_ * rng_y.normal();
      for (size_t j = 0; j < P; ++j) s += X_[i * P + j] * theta_true_[j];
      y_[i] = round_to_real(s);
    }
    A_.assign(P * P, 0.0);
    b_.assign(P, 0.0);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < P; ++j) {
        b_[j] += X_[i * P + j] * y_[i];
        for (size_t k = 0; k < P; ++k) A_[j * P + k] += X_[i * P + j] * X_[i * P + k];
      }
    for (auto& v : A_) v /= static_cast<double>(n_);
    for (auto& v : b_) v /= static_cast<double>(n_);
    X_t_ = to_tensor(X_, Shape{n_, P_});
    y_t_ = to_tensor(y_, Shape{n_});
  }

  // rows: (N, P), targets: (N,), θ: (P,) → (). weight · Σ ½(rowᵀθ − target)².
  ad::Var rows_loss(const ad::Var& theta, const Tensor& rows, const Tensor& targets, double weight) const {
    const ad::Var resid =
        ad::flatten(ad::matmul(ad::constant(rows), ad::reshape(theta, Shape{P_, 1}))) - ad::constant(targets);
    return ad::sum(ad::square(resid)) * static_cast<real>(0.5 * weight);
  }
  // θ, λ: (P,) → (). ½Σ e^λ θ².
  static ad::Var reg(const ad::Var& theta, const ad::Var& lambda) {
    return ad::sum(ad::exp(lambda) * ad::square(theta)) * real(0.5);
  }
  // The rows `batch` of a (N, …) tensor as a new (b, …) tensor; indices checked.
  static Tensor rows(const Tensor& t, const std::vector<int64_t>& batch) {
    const int64_t n = t.shape()[0], w = t.numel() / n, b = static_cast<int64_t>(batch.size());
    Shape shape = t.shape();
    shape[0] = b;
    Tensor out(shape);
    for (int64_t r = 0; r < b; ++r) {
      const int64_t i = batch[static_cast<size_t>(r)];
      if (i < 0 || i >= n) throw internal_error("quadratic: minibatch row " + std::to_string(i) + " outside [0, " + std::to_string(n) + ")");
      for (int64_t j = 0; j < w; ++j) out[r * w + j] = t[i * w + j];
    }
    return out;
  }

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
      for (int64_t j = 0; j < P_; ++j) g[ui(j)] += C_[static_cast<size_t>(k * P_ + j)] * r * outer_scale_;
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
    return 0.5 * s * outer_scale_;
  }

  // θ_r and (optionally) the unrolled hypergradient Z_rᵀ∇L_V(θ_r) by the adjoint of the header comment's forward
  // recursion: Z_r = Σ_j M^{r−1−j} D_j with M = I − αK (symmetric) and D_j = −α diag(e^λ ⊙ θ_j), so
  //   Z_rᵀ v = Σ_j D_j a_{j+1},   a_r = v = ∇L_V(θ_r),   a_j = M a_{j+1},
  // O(r·P²) with the iterates θ_0 … θ_{r−1} kept (the forward recursion costs O(r·P³): 2·10⁷ multiply-adds per
  // call at P = 100, r = 20, which made the per-row diagnostics dominate runs of cheap stochastic steps).
  Unrolled unroll(const std::vector<double>& lam, const std::vector<double>& theta0, bool with_grad) const {
    std::vector<double> theta = theta0;
    std::vector<std::vector<double>> iterates;  // θ_0 … θ_{r−1}, when the gradient is asked for
    if (with_grad) iterates.reserve(static_cast<size_t>(steps_));
    for (int64_t step = 0; step < steps_; ++step) {
      if (with_grad) iterates.push_back(theta);
      const std::vector<double> kt = k_times(lam, theta);
      for (int64_t i = 0; i < P_; ++i) theta[ui(i)] -= lr_ * (kt[ui(i)] - b_[ui(i)]);
    }
    Unrolled u;
    u.theta = theta;
    if (with_grad) {
      std::vector<double> e(static_cast<size_t>(P_));
      for (int64_t i = 0; i < P_; ++i) e[ui(i)] = std::exp(lam[ui(i)]);
      std::vector<double> a = val_grad(theta);  // a_r
      u.grad.assign(static_cast<size_t>(P_), 0.0);
      for (int64_t j = steps_ - 1; j >= 0; --j) {
        const std::vector<double>& tj = iterates[static_cast<size_t>(j)];
        for (int64_t h = 0; h < P_; ++h) u.grad[ui(h)] -= lr_ * e[ui(h)] * tj[ui(h)] * a[ui(h)];  // D_j a_{j+1}
        if (j == 0) break;
        const std::vector<double> ka = k_times(lam, a);  // a_j = a_{j+1} − αK a_{j+1}
        for (int64_t i = 0; i < P_; ++i) a[ui(i)] -= lr_ * ka[ui(i)];
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

  int64_t P_, n_, m_, steps_;  // n_ = 0: no sampled rows (A and b given directly)
  double lr_, cond_, noise_, outer_scale_, lambda_init_;  // outer_scale_: 1/m with sampled rows (a mean), else 1
  bool theta0_random_;
  std::vector<double> eigs_, theta_true_;
  std::vector<double> A_, b_, C_, d_, theta0_;  // instance data, rounded to real (A, b: from X, y when sampled)
  std::vector<double> X_, y_;                   // sampled rows (n, P) and targets (n,), rounded to real
  Tensor A_t_, b_t_, C_t_, d_t_, theta0_t_, X_t_, y_t_;
  mutable std::once_flag star_once_;  // value_star, computed on first use
  mutable double star_ = 0;
};

std::unique_ptr<Problem> make_quadratic(const Options& o, uint64_t seed) {
  const int64_t dim = o.get_int("dim"), samples = o.get_int("n_samples");
  const int64_t val_rows = o.get_int("val_rows") != 0 ? o.get_int("val_rows") : samples > 0 ? samples : dim;
  if (samples > 0 && samples < dim) {
    throw option_error("option 'n_samples': " + std::to_string(samples) + " rows cannot give a full-rank A of dim " +
                       std::to_string(dim) + " (needs n_samples ≥ dim, or 0 for no sampled rows)");
  }
  const double cond = o.get_real("cond"), lr = o.get_real("inner_lr"), lambda_init = o.get_real("lambda_init");
  // Gradient descent on the quadratic inner loss is stable iff α·λmax(K) < 2, K = A + diag(e^λ),
  // λmax(K) ≤ cond + max e^λ. Checked at the initial λ (a run that drives λ up can still leave it).
  const double curvature = cond + std::exp(lambda_init);
  if (!(lr * curvature < 2)) {
    throw option_error("option 'inner_lr': " + o.get_string("inner_lr") + " makes the inner loop unstable (needs inner_lr < 2/(cond + exp(lambda_init)) = " +
                       std::to_string(2 / curvature) + ")");
  }
  return std::make_unique<QuadraticProblem>(dim, samples, cond, val_rows, o.get_real("noise"), o.get_int("inner_steps"), lr, lambda_init,
                                            o.get_string("theta0") == "random", seed);
}

}  // namespace

ProblemInfo quadratic_problem_info() {
  ProblemInfo info;
  info.name = "quadratic";
  info.description =
      "per-coordinate L2 on a seeded random quadratic, L_V = ½‖Cθ−d‖²; closed-form unrolled and IFT hypergradients";
  info.options = {
      opt_int("dim", 10, "dimension of θ and λ (P = H); the closed-form diagnostics cost O(r·dim² + dim³) per row", 1, 200),
      opt_real("cond", 10, "condition number of A (eigenvalues log-spaced in [1, cond])", 1, 1e6),
      opt_int("n_samples", 0,
              "sampled rows n of the inner loss, a mean of ½(xᵢᵀθ − yᵢ)² with (1/n)XᵀX = A, and then L_V is a mean over "
              "its val_rows rows: minibatch oracles for the stochastic solvers (0: A and b given, L_V a sum)",
              0, 10000),
      opt_int("val_rows", 0, "rows of C in the outer loss (0 = n_samples when sampled, else dim)", 0, 100000),
      opt_real("noise", 0.3, "std σ of the noise in b = Aθ_true + σε and d = Cθ_true + σε'", 0, 1e6),
      opt_int("inner_steps", 20, "inner GD steps r", 1, 100000),
      opt_real("inner_lr", 0.05,
               "inner step size α; the unroll is stable only if α·(cond + max e^λ) < 2 (default: 0.05·11 = 0.55)", 0,
               10, true),
      opt_real("lambda_init", 0, "initial λ, the same in every coordinate", -30, 30),
      opt_choice("theta0", "random", {"zeros", "random"}, "inner initial point θ₀: zeros or a fixed seeded N(0, 1) vector"),
  };
  info.make = make_quadratic;
  info.metrics = {"val_loss", "val_loss_star", "value_star", "hypergrad_norm_exact", "theta_dist"};
  // Outer SGD with the exact hypergradient and lr 1 reaches |∇| < 1e-3 in ~3000 steps on the default
  // instance for seeds 1–10; lr ≥ 3 sometimes jumps past the cliff where α·λmax(K) reaches 2.
  info.run_defaults = {{"outer_opt", "sgd"}, {"outer_lr", "1"}, {"schedule", "constant"}, {"meta_batch", "1"}};
  return info;
}

}  // namespace bilevel
