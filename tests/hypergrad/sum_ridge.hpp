#pragma once
// A finite-sum test problem with a closed-form implicit hypergradient that records the oracle calls made on it:
// per-coordinate ridge regression,
//   L_T(θ, λ) = (1/n) Σ_i ½(a_iᵀθ − y_i)² + ½ Σ_j e^{λ_j} θ_j²,     L_V(θ) = ½‖Cθ − d‖² (a sum over m rows),
// so K = (1/n)AᵀA + diag(e^λ), θ* = K⁻¹(1/n)Aᵀy and the IFT hypergradient is −(e^λ ⊙ θ*) ⊙ K⁻¹Cᵀ(Cθ* − d).
// Data from a seeded stream, rounded to `real` so the closed form sees the numbers the losses see.
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "optim/dense.hpp"
#include "problems/problem.hpp"

namespace bilevel::testing {

class SumRidge final : public Problem {
 public:
  SumRidge(int64_t n, int64_t dim, int64_t val_rows, uint64_t seed) : n_(n), P_(dim), m_(val_rows) {
    Rng rng(seed, {0x5253});
    auto draw = [&](int64_t count, double scale) {
      std::vector<double> v(static_cast<size_t>(count));
      for (auto& x : v) x = dense::round_to_real(scale * rng.normal());
      return v;
    };
    a_ = draw(n_ * P_, 1.0);
    y_ = draw(n_, 1.0);
    c_ = draw(m_ * P_, 1.0 / std::sqrt(static_cast<double>(P_)));
    d_ = draw(m_, 1.0);
    theta0_ = draw(P_, 1.0);
    a_t_ = dense::to_tensor(a_, Shape{n_, P_});
    y_t_ = dense::to_tensor(y_, Shape{n_});
    c_t_ = dense::to_tensor(c_, Shape{m_, P_});
    d_t_ = dense::to_tensor(d_, Shape{m_});
  }

  std::string name() const override { return "sum-ridge"; }
  int64_t theta_dim() const override { return P_; }
  int64_t lambda_dim() const override { return P_; }
  InnerConfig inner() const override { return {10, real(0.1)}; }
  Tensor init_lambda(Rng&) const override { return Tensor(Shape{P_}, real(-1)); }
  Task sample_task(Rng&) const override { return {}; }
  ad::Var theta0(const ad::Var&, const Task&) const override { return ad::constant(dense::to_tensor(theta0_, Shape{P_})); }

  ad::Var inner_loss(const ad::Var& theta, const ad::Var& lambda, const Task&) const override {
    ++inner_calls;
    batch_examples += n_;
    return data_loss(theta, a_t_, y_t_) + penalty(theta, lambda);
  }
  int64_t inner_examples() const override { return n_; }
  ad::Var inner_loss_batch(const ad::Var& theta, const ad::Var& lambda, const Task&,
                           const std::vector<int64_t>& batch) const override {
    ++inner_calls;
    batch_examples += static_cast<int64_t>(batch.size());
    const int64_t b = static_cast<int64_t>(batch.size());
    Tensor a(Shape{b, P_}), y(Shape{b});
    for (int64_t k = 0; k < b; ++k) {
      const int64_t i = batch[static_cast<size_t>(k)];
      for (int64_t j = 0; j < P_; ++j) a[k * P_ + j] = a_t_[i * P_ + j];
      y[k] = y_t_[i];
    }
    return data_loss(theta, a, y) + penalty(theta, lambda);
  }
  ad::Var outer_loss(const ad::Var& theta, const ad::Var&, const Task&) const override {
    ++outer_calls;
    outer_examples_seen += m_;
    const ad::Var r = ad::flatten(ad::matmul(ad::constant(c_t_), ad::reshape(theta, Shape{P_, 1}))) - ad::constant(d_t_);
    return ad::sum(ad::square(r)) * real(0.5);
  }
  int64_t outer_examples() const override { return m_; }
  // (m/|batch|)·½ Σ_{k∈batch} (c_kᵀθ − d_k)²: unbiased for the sum.
  ad::Var outer_loss_batch(const ad::Var& theta, const ad::Var&, const Task&,
                           const std::vector<int64_t>& batch) const override {
    ++outer_calls;
    outer_examples_seen += static_cast<int64_t>(batch.size());
    const int64_t b = static_cast<int64_t>(batch.size());
    Tensor c(Shape{b, P_}), d(Shape{b});
    for (int64_t k = 0; k < b; ++k) {
      const int64_t i = batch[static_cast<size_t>(k)];
      for (int64_t j = 0; j < P_; ++j) c[k * P_ + j] = c_t_[i * P_ + j];
      d[k] = d_t_[i];
    }
    const ad::Var r = ad::flatten(ad::matmul(ad::constant(c), ad::reshape(theta, Shape{P_, 1}))) - ad::constant(d);
    return ad::sum(ad::square(r)) * static_cast<real>(0.5 * static_cast<double>(m_) / static_cast<double>(b));
  }
  Metrics evaluate(const Tensor&) const override { return {}; }

  // θ*(λ) and the IFT hypergradient, in double.
  std::vector<double> theta_star(const Tensor& lambda) const { return solve(lambda, rhs()); }
  Tensor ift(const Tensor& lambda) const {
    const std::vector<double> star = theta_star(lambda);
    std::vector<double> gv(static_cast<size_t>(P_), 0.0);
    for (int64_t k = 0; k < m_; ++k) {
      double r = -d_[dense::ui(k)];
      for (int64_t j = 0; j < P_; ++j) r += c_[dense::ui(k * P_ + j)] * star[dense::ui(j)];
      for (int64_t j = 0; j < P_; ++j) gv[dense::ui(j)] += c_[dense::ui(k * P_ + j)] * r;
    }
    const std::vector<double> w = solve(lambda, gv);
    std::vector<double> g(static_cast<size_t>(P_));
    for (int64_t j = 0; j < P_; ++j)
      g[dense::ui(j)] = -std::exp(static_cast<double>(lambda[j])) * star[dense::ui(j)] * w[dense::ui(j)];
    return dense::to_tensor(g, Shape{P_});
  }

  mutable std::atomic<int64_t> inner_calls{0}, outer_calls{0}, batch_examples{0}, outer_examples_seen{0};
  void reset_counts() const { inner_calls = 0, outer_calls = 0, batch_examples = 0, outer_examples_seen = 0; }

 private:
  ad::Var data_loss(const ad::Var& theta, const Tensor& a, const Tensor& y) const {
    const ad::Var r = ad::flatten(ad::matmul(ad::constant(a), ad::reshape(theta, Shape{P_, 1}))) - ad::constant(y);
    return ad::mean(ad::square(r)) * real(0.5);
  }
  ad::Var penalty(const ad::Var& theta, const ad::Var& lambda) const {
    return ad::sum(ad::exp(lambda) * ad::square(theta)) * real(0.5);
  }
  std::vector<double> rhs() const {
    std::vector<double> r(static_cast<size_t>(P_), 0.0);
    for (int64_t i = 0; i < n_; ++i)
      for (int64_t j = 0; j < P_; ++j) r[dense::ui(j)] += a_[dense::ui(i * P_ + j)] * y_[dense::ui(i)] / static_cast<double>(n_);
    return r;
  }
  std::vector<double> solve(const Tensor& lambda, const std::vector<double>& b) const {
    std::vector<double> k(static_cast<size_t>(P_ * P_), 0.0);
    for (int64_t i = 0; i < n_; ++i)
      for (int64_t p = 0; p < P_; ++p)
        for (int64_t q = 0; q < P_; ++q)
          k[dense::ui(p * P_ + q)] += a_[dense::ui(i * P_ + p)] * a_[dense::ui(i * P_ + q)] / static_cast<double>(n_);
    for (int64_t j = 0; j < P_; ++j) k[dense::ui(j * P_ + j)] += std::exp(static_cast<double>(lambda[j]));
    return dense::cholesky_solve(*dense::cholesky(k, P_), P_, b);
  }

  int64_t n_, P_, m_;
  std::vector<double> a_, y_, c_, d_, theta0_;
  Tensor a_t_, y_t_, c_t_, d_t_;
};

}  // namespace bilevel::testing
