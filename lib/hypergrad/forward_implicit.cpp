// Forward-mode differentiation (fmd) and implicit differentiation (ift-cg, ift-neumann).
#include <cmath>

#include "hypergrad/estimators.hpp"
#include "hypergrad/unroll.hpp"

namespace bilevel {

using namespace ad;

namespace {

// Forward mode: Z_j = dθ_j/dλ (P×H, row-major), Z_{j+1} = (I − αH_j)Z_j − αB_j, Z_0 = dθ₀/dλ.
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
    const bool mixed = p.lambda_in_inner_loss();
    // Columns of Z stored as H tensors of length P.
    std::vector<Tensor> Z(static_cast<size_t>(H), Tensor(Shape{P}));
    if (p.theta0_is_lambda()) {
      for (int64_t k = 0; k < H; ++k) Z[static_cast<size_t>(k)][k] = real(1);
    } else {
      for (int64_t k = 0; k < H; ++k) {
        Tensor e(lambda.shape());
        e[k] = real(1);
        Var la = leaf(lambda);
        Var t0 = p.theta0(la, task);
        if (!t0.requires_grad()) break;
        Var u = leaf(Tensor(t0.shape()));
        Var w = grad({t0}, {u}, {la}, true)[0];
        Z[static_cast<size_t>(k)] = grad(dot(w, constant(e)), {u})[0].value().reshaped(Shape{P});
      }
    }
    Tensor theta = theta0_value(p, lambda, task);
    for (int64_t j = 0; j < r; ++j) {
      Var th = leaf(theta);
      Var la = leaf(lambda, mixed);
      Var g = grad(p.inner_loss(th, la, task), {th}, true)[0];
      ++res.grad_evals;
      Var u = leaf(Tensor(Shape{P}));
      auto w = grad({g}, {u}, {th, la}, true);  // w[0] = H u, w[1] = Bᵀu
      std::vector<Tensor> next(static_cast<size_t>(H));
      for (int64_t k = 0; k < H; ++k) {
        Var s = dot(w[0], constant(Z[static_cast<size_t>(k)]));
        if (mixed) s = add(s, view(w[1], k, Shape{}));
        Tensor col = grad(s, {u})[0].value();
        ++res.hvps;
        next[static_cast<size_t>(k)] = Z[static_cast<size_t>(k)];
        axpy(-lr, col, next[static_cast<size_t>(k)]);
      }
      axpy(-lr, g.value(), theta);
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

// Implicit differentiation at θ_r ≈ θ*(λ): dθ*/dλ = −H⁻¹B, so the hypergradient is
// ∇_λL_V − Bᵀx with H x = ∇_θL_V, H = ∇²_θθ L_T(θ_r, λ), B = ∂_λ∇_θL_T(θ_r, λ).
// x by conjugate gradients or by the Neumann series x ≈ α Σ_{i=0}^{K} (I − αH)^i ∇_θL_V.
class IftEstimator final : public Estimator {
 public:
  IftEstimator(IftSolver s, int64_t iters, double tol, double alpha)
      : solver_(s), iters_(iters), tol_(tol), alpha_(alpha) {}

  HypergradResult estimate(const Problem& p, const Tensor& lambda, const Task& task, Rng&) const override {
    HypergradResult res;
    PeakMeter meter;
    Tensor theta_r = unroll(p, lambda, task, p.inner().steps, res);
    OuterGrad og = outer_grad(p, theta_r, lambda, task, res);
    res.outer_loss = og.loss;

    Var th = leaf(theta_r);
    Var la = leaf(lambda);
    Var g = grad(p.inner_loss(th, la, task), {th}, true)[0];  // the graph is reused by every product
    ++res.grad_evals;
    auto hvp = [&](const Tensor& v) {
      ++res.hvps;
      return grad(dot(g, constant(v)), {th})[0].value();
    };
    const Tensor& b = og.d_theta;
    Tensor x(b.shape());
    if (solver_ == IftSolver::cg) {
      Tensor rr = b, d = b;
      double rs = norm2(rr);
      const double stop = tol_ * tol_ * std::max(norm2(b), 1e-300);
      for (int64_t it = 0; it < iters_ && rs > stop; ++it) {
        Tensor hd = hvp(d);
        const double dhd = dot(d, hd);
        if (!(dhd > 0)) break;  // H not positive definite along d: stop with the current iterate
        const real a = static_cast<real>(rs / dhd);
        axpy(a, d, x);
        axpy(-a, hd, rr);
        const double rs_new = norm2(rr);
        d = add(rr, scaled(d, static_cast<real>(rs_new / rs)));
        rs = rs_new;
      }
      res.extras = {{"cg_residual", std::sqrt(rs)}};
    } else {
      const real a = static_cast<real>(alpha_ > 0 ? alpha_ : p.inner().lr);
      Tensor term = b;  // (I − αH)^i b
      x = b;
      for (int64_t it = 0; it < iters_; ++it) {
        axpy(-a, hvp(term), term);
        axpy(real(1), term, x);
      }
      x = scaled(x, a);
    }
    Tensor bx = grad(dot(g, constant(x)), {la})[0].value();  // Bᵀx, the mixed product
    ++res.hvps;
    res.grad = sub(og.d_lambda, bx);
    res.peak_bytes = meter.peak();
    return res;
  }

 private:
  IftSolver solver_;
  int64_t iters_;
  double tol_;
  double alpha_;
};

}  // namespace

std::unique_ptr<Estimator> make_fmd_estimator(const Problem& p, int64_t max_entries) {
  const int64_t entries = p.theta_dim() * p.lambda_dim();
  if (entries > max_entries) {
    throw option_error("fmd keeps a dense P×H Jacobian: P = " + std::to_string(p.theta_dim()) + ", H = " +
                       std::to_string(p.lambda_dim()) + " gives " + std::to_string(entries) +
                       " entries, above fmd_max_entries = " + std::to_string(max_entries) +
                       "; use exact (reverse mode) for large λ, or raise fmd_max_entries");
  }
  return std::make_unique<FmdEstimator>();
}

std::unique_ptr<Estimator> make_ift_estimator(IftSolver solver, int64_t iters, double tol, double alpha) {
  return std::make_unique<IftEstimator>(solver, iters, tol, alpha);
}

}  // namespace bilevel
