// `gaussian-sgld`: the closed-form Gaussian problem of reference/hpo-sgld.md §8, for the sgld estimator.
//
//   L_T(θ, λ) = ½(θ − a)ᵀA(θ − a) + ½λ‖θ‖²,    L_V(θ) = ½‖θ − b‖²,    λ scalar, A SPD, θ₀ = 0.
//
// B = A + λI, μ = B⁻¹Aa, and with temperature T = τ/N the Gibbs law is p(θ|λ) = N(μ, T·B⁻¹). In the
// eigenbasis B = Σ_i β_i u_i u_iᵀ (β_i = α_i + λ, α_i the eigenvalues of A), with m_i = u_iᵀμ,
// d_i = u_iᵀ(μ − b), c_i = 1 − ηβ_i and σ_i = T/(β_i(1 − ηβ_i/2)) (the fixed-η chain's stationary variances):
//
//   F(λ)      = ½‖μ − b‖² + (T/2) Σ 1/β_i              F'(λ)    = −Σ m_i d_i/β_i − (T/2) Σ 1/β_i²
//   F_η(λ)    = ½‖μ − b‖² + ½ Σ σ_i                     dF_η/dλ  = −Σ m_i d_i/β_i − ½ Σ T(1 − ηβ_i)/(β_i − ηβ_i²/2)²
//   IFT (T=0) = −Σ m_i d_i/β_i                          cov on chain samples = −Σ [m_i d_i σ_i/T + σ_i²/(2T)]
//
// Expected value of an sgld estimate (`sgld_reference` → "expected"): every coordinate z_i = u_iᵀθ of the
// full-batch chain is an independent scalar AR(1) process z ← c_i z + ηq_i + sqrt(2ηT)ξ (q_i = u_iᵀAa),
// and each variant's J is linear in the z's (M_j = θ_j, H_j = B): pathwise j ← c_i j − ηz, drop-hessian and
// two-pass j ← j − ηz, one-step −η z_{t−1}, frozen −ηk z_t. Propagating the means, variances and the
// (z, j) covariance along the plan's schedule (start at θ₀ = 0, or in the stationary law for a warm
// persistent chain; resets; kept samples) gives the exact expectation of the mean over kept samples, so
// it covers short windows and chains that have not reached stationarity. For `cov` it reports the
// long-run value (F'(λ) on exact samples, the stationary chain value otherwise). Values are computed in
// double from the instance data rounded to `real`.
//
// Instances: `worked` is §8.3 (A = [[2, ½], [½, 1]], a = (1, −1), b = (½, ½), λ₀ = ½; P = 2);
// `random` has A = Q diag(α) Qᵀ with Q a seeded random orthogonal matrix and α_i uniform in [0.5, 3],
// a, b ~ N(0, I) (P = dim). One fixed task; θ₀ = 0 (so J_0 = 0).
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "optim/dense.hpp"
#include "problems/sgld_closed_form.hpp"

namespace bilevel {

namespace {

using dense::round_to_real;
using dense::to_tensor;
using dense::ui;

constexpr uint64_t kGaussianSgldStream = 0x67736c6431ULL;  // "gsld1": the random instance's stream

class GaussianSgldProblem final : public Problem, public SgldClosedForm {
 public:
  GaussianSgldProblem(bool worked, int64_t dim, double lambda_init, int64_t steps, double lr, uint64_t seed)
      : worked_(worked), lambda_init_(lambda_init), steps_(steps), lr_(lr) {
    if (worked_) {
      P_ = 2;
      A_ = {2.0, 0.5, 0.5, 1.0};
      a_ = {1.0, -1.0};
      b_ = {0.5, 0.5};
      // Eigenpairs of the symmetric 2×2 [[p, r], [r, s]]: α = (p+s)/2 ± sqrt(((p−s)/2)² + r²),
      // eigenvector (r, α − p) normalised.
      const double p = A_[0], r = A_[1], s = A_[3];
      const double mid = 0.5 * (p + s), rad = std::sqrt(0.25 * (p - s) * (p - s) + r * r);
      alpha_ = {mid + rad, mid - rad};
      U_.assign(4, 0.0);
      for (int k = 0; k < 2; ++k) {
        const double x = r, y = alpha_[ui(k)] - p, n = std::hypot(x, y);
        U_[ui(0 * 2 + k)] = x / n;  // U column k = u_k
        U_[ui(1 * 2 + k)] = y / n;
      }
    } else {
      P_ = dim;
      Rng base(seed, {kGaussianSgldStream});
      Rng rq = base.split(0), rs = base.split(1), ra = base.split(2);
      U_ = dense::random_orthogonal(P_, rq);
      alpha_.resize(ui(P_));
      for (auto& v : alpha_) v = rs.uniform(0.5, 3.0);
      A_.assign(ui(P_ * P_), 0.0);
      for (int64_t i = 0; i < P_; ++i)
        for (int64_t j = 0; j <= i; ++j) {
          double acc = 0;
          for (int64_t k = 0; k < P_; ++k) acc += U_[ui(i * P_ + k)] * alpha_[ui(k)] * U_[ui(j * P_ + k)];
          A_[ui(i * P_ + j)] = A_[ui(j * P_ + i)] = round_to_real(acc);
        }
      a_.resize(ui(P_));
      b_.resize(ui(P_));
      for (auto& v : a_) v = round_to_real(ra.normal());
      for (auto& v : b_) v = round_to_real(ra.normal());
    }
    // Projections onto the eigenbasis: q_i = u_iᵀAa = α_i u_iᵀa, b̃_i = u_iᵀb.
    q_.assign(ui(P_), 0.0);
    bt_.assign(ui(P_), 0.0);
    for (int64_t k = 0; k < P_; ++k) {
      double ua = 0, ub = 0;
      for (int64_t i = 0; i < P_; ++i) ua += U_[ui(i * P_ + k)] * a_[ui(i)], ub += U_[ui(i * P_ + k)] * b_[ui(i)];
      q_[ui(k)] = alpha_[ui(k)] * ua;
      bt_[ui(k)] = ub;
    }
    A_t_ = to_tensor(A_, Shape{P_, P_});
    a_t_ = to_tensor(a_);
    b_t_ = to_tensor(b_);
  }

  std::string name() const override { return "gaussian-sgld"; }
  int64_t theta_dim() const override { return P_; }
  int64_t lambda_dim() const override { return 1; }
  InnerConfig inner() const override { return InnerConfig{steps_, static_cast<real>(lr_)}; }

  Tensor init_lambda(Rng& rng) const override {
    (void)rng;
    return Tensor(Shape{1}, static_cast<real>(lambda_init_));
  }
  Task sample_task(Rng& rng) const override {
    (void)rng;
    Task t;
    t.theta_init = Tensor(Shape{P_});
    return t;
  }
  ad::Var theta0(const ad::Var& lambda, const Task& task) const override {
    (void)lambda, (void)task;
    return ad::constant(Tensor(Shape{P_}));
  }

  // θ: (P,), λ: (1,) → (). ½(θ − a)ᵀA(θ − a) + ½λ‖θ‖².
  ad::Var inner_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)task;
    check_shapes(theta, lambda);
    const ad::Var d = theta - ad::constant(a_t_);
    const ad::Var ad_ = ad::flatten(ad::matmul(ad::constant(A_t_), ad::reshape(d, Shape{P_, 1})));
    return ad::dot(d, ad_) * real(0.5) + ad::sum(lambda * ad::dot(theta, theta)) * real(0.5);
  }
  // θ: (P,) → (). ½‖θ − b‖².
  ad::Var outer_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)task;
    check_shapes(theta, lambda);
    return ad::sum(ad::square(theta - ad::constant(b_t_))) * real(0.5);
  }

  // val_loss_star: L_V at the inner minimiser μ (the τ = 0 objective); F_tau1: F(λ) at temperature 1.
  Metrics evaluate(const Tensor& lambda) const override {
    const Moments m = moments(lambda_value(lambda));
    double dd = 0, tr = 0;
    for (int64_t i = 0; i < P_; ++i) dd += m.d[ui(i)] * m.d[ui(i)], tr += 1 / m.beta[ui(i)];
    return {{"val_loss_star", 0.5 * dd}, {"F_tau1", 0.5 * dd + 0.5 * tr}};
  }
  Metrics diagnostics(const Tensor& lambda) const override {
    return {{"ift_grad", ift(moments(lambda_value(lambda)))}};
  }

  // r steps of gradient descent from θ₀ = 0 with the forward recursion, coordinate-wise in the eigenbasis.
  std::optional<Tensor> closed_form_unrolled(const Tensor& lambda, const Task& task) const override {
    (void)task;
    const Moments m = moments(lambda_value(lambda));
    double g = 0;
    for (int64_t i = 0; i < P_; ++i) {
      const double c = 1 - lr_ * m.beta[ui(i)];
      double z = 0, j = 0;
      for (int64_t t = 0; t < steps_; ++t) {
        j = c * j - lr_ * z;
        z = c * z + lr_ * q_[ui(i)];
      }
      g += j * (z - bt_[ui(i)]);
    }
    return Tensor(Shape{1}, static_cast<real>(g));
  }
  std::optional<Tensor> closed_form_ift(const Tensor& lambda, const Task& task) const override {
    (void)task;
    return Tensor(Shape{1}, static_cast<real>(ift(moments(lambda_value(lambda)))));
  }

  // θ = μ + Σ_i u_i sqrt(T/β_i) ξ_i.
  Tensor sample_gibbs(const Tensor& lambda, const Task& task, double temperature, Rng& rng) const override {
    (void)task;
    const Moments m = moments(lambda_value(lambda));
    std::vector<double> z(ui(P_));
    for (int64_t k = 0; k < P_; ++k) z[ui(k)] = m.m[ui(k)] + std::sqrt(temperature / m.beta[ui(k)]) * rng.normal();
    std::vector<double> theta(ui(P_), 0.0);
    for (int64_t i = 0; i < P_; ++i)
      for (int64_t k = 0; k < P_; ++k) theta[ui(i)] += U_[ui(i * P_ + k)] * z[ui(k)];
    return to_tensor(theta);
  }

  Metrics sgld_reference(const Tensor& lambda, const Task& task, const SgldPlan& plan) const override {
    (void)task;
    const Moments m = moments(lambda_value(lambda));
    const double T = plan.temperature, eta = plan.eta;
    double dd = 0, md_b = 0, tr = 0, tr2 = 0, s_eta = 0, ds_eta = 0, cov_chain = 0;
    bool stable = true;
    for (int64_t i = 0; i < P_; ++i) {
      const double be = m.beta[ui(i)], mi = m.m[ui(i)], di = m.d[ui(i)];
      if (!(eta * be < 2)) stable = false;
      const double den = be - eta * be * be / 2;
      const double sigma = T / den;
      dd += di * di;
      md_b += mi * di / be;
      tr += 1 / be;
      tr2 += 1 / (be * be);
      s_eta += sigma;
      ds_eta += T * (1 - eta * be) / (den * den);
      if (T > 0) cov_chain += mi * di * sigma / T + sigma * sigma / (2 * T);
    }
    const double nan = std::nan("");
    Metrics out = {{"F", 0.5 * dd + 0.5 * T * tr},
                   {"dF", -md_b - 0.5 * T * tr2},
                   {"F_eta", stable ? 0.5 * dd + 0.5 * s_eta : nan},
                   {"dF_eta", stable ? -md_b - 0.5 * ds_eta : nan},
                   {"ift", -md_b}};
    double expected = nan;
    if (plan.variant == SgldVariant::cov) {
      expected = plan.exact_sampler ? -md_b - 0.5 * T * tr2 : (stable && T > 0 ? -cov_chain : nan);
    } else if (stable) {
      expected = expected_chain_estimate(m, plan);
    }
    out.emplace_back("expected", expected);
    return out;
  }

  nlohmann::json describe() const override {
    nlohmann::json A = nlohmann::json::array();
    for (int64_t i = 0; i < P_; ++i) {
      nlohmann::json row = nlohmann::json::array();
      for (int64_t j = 0; j < P_; ++j) row.push_back(A_[ui(i * P_ + j)]);
      A.push_back(row);
    }
    return {{"inner_loss", "0.5 (theta - a)^T A (theta - a) + 0.5 lambda |theta|^2"},
            {"outer_loss", "0.5 |theta - b|^2"},
            {"instance", worked_ ? "worked" : "random"},
            {"dim", P_},
            {"A", A},
            {"a", a_},
            {"b", b_},
            {"eigenvalues_A", alpha_},
            {"theta0", "zeros"}};
  }

 private:
  struct Moments {
    std::vector<double> beta, m, d;  // eigenvalues of B, u_iᵀμ, u_iᵀ(μ − b)
  };

  Moments moments(double lambda) const {
    Moments mo;
    mo.beta.resize(ui(P_));
    mo.m.resize(ui(P_));
    mo.d.resize(ui(P_));
    for (int64_t i = 0; i < P_; ++i) {
      const double be = alpha_[ui(i)] + lambda;
      if (!(be > 0)) {
        throw numerical_error("gaussian-sgld: B = A + λI is not positive definite at λ = " + std::to_string(lambda) +
                                " (needs λ > " + std::to_string(-alpha_[ui(i)]) + ")");
      }
      mo.beta[ui(i)] = be;
      mo.m[ui(i)] = q_[ui(i)] / be;
      mo.d[ui(i)] = mo.m[ui(i)] - bt_[ui(i)];
    }
    return mo;
  }
  static double ift(const Moments& m) {
    double s = 0;
    for (size_t i = 0; i < m.beta.size(); ++i) s -= m.m[i] * m.d[i] / m.beta[i];
    return s;
  }

  // Exact expectation of the mean over kept samples of the plan's per-sample hypergradient (header comment).
  double expected_chain_estimate(const Moments& mo, const SgldPlan& plan) const {
    const SgldSchedule& s = plan.schedule;
    const double eta = plan.eta, T = plan.temperature;
    const int64_t steps = s.total_steps();
    const SgldVariant v = plan.variant;
    const bool contracting = v == SgldVariant::pathwise;
    double total = 0;
    for (int64_t i = 0; i < P_; ++i) {
      const double be = mo.beta[ui(i)], c = 1 - eta * be, q = q_[ui(i)], b = bt_[ui(i)];
      const double s2 = 2 * eta * T;
      double ez = 0, vz = 0;  // θ₀ = 0
      if (plan.stationary_start) ez = mo.m[ui(i)], vz = s2 / (1 - c * c);
      double ej = 0, czj = 0;         // E j, Cov(z, j)
      double ez_prev = 0, vz_prev = 0;  // one-step: moments of z_{t−1}
      for (int64_t t = 0; t <= steps; ++t) {
        if (s.retained(t)) {
          switch (v) {
            case SgldVariant::pathwise:
            case SgldVariant::drop_hessian:
            case SgldVariant::two_pass: total += ej * (ez - b) + czj; break;
            case SgldVariant::one_step: {
              const double e_prev_cur = ez_prev * (c * ez_prev + eta * q) + c * vz_prev;  // E[z_{t−1} z_t]
              total += -eta * (e_prev_cur - ez_prev * b);
              break;
            }
            case SgldVariant::frozen:
              total += -eta * static_cast<double>(s.steps_since_reset(t)) * (ez * ez + vz - ez * b);
              break;
            case SgldVariant::cov: break;
          }
        }
        if (t == steps) break;
        if (s.reset_at(t)) ej = 0, czj = 0;
        // (z, j) → (c z + ηq + noise, c j − ηz) for pathwise, (…, j − ηz) for the first-order sums.
        const double cj = contracting ? c : 1.0;
        const double ej_next = cj * ej - eta * ez;
        const double czj_next = c * cj * czj - c * eta * vz;
        ez_prev = ez, vz_prev = vz;
        ez = c * ez + eta * q;
        vz = c * c * vz + s2;
        ej = ej_next, czj = czj_next;
      }
    }
    return total / static_cast<double>(s.samples);
  }

  double lambda_value(const Tensor& lambda) const {
    if (lambda.numel() != 1) {
      throw internal_error("gaussian-sgld: λ has " + std::to_string(lambda.numel()) + " elements, expected 1");
    }
    return static_cast<double>(lambda[0]);
  }
  void check_shapes(const ad::Var& theta, const ad::Var& lambda) const {
    if (!theta.defined() || theta.shape() != Shape{P_} || !lambda.defined() || lambda.numel() != 1) {
      throw internal_error("gaussian-sgld: θ of shape " + (theta.defined() ? theta.shape().str() : "<undefined>") +
                                  " and λ of shape " + (lambda.defined() ? lambda.shape().str() : "<undefined>") +
                                  ", expected (" + std::to_string(P_) + ",) and (1,)");
    }
  }

  bool worked_;
  int64_t P_ = 2;
  double lambda_init_;
  int64_t steps_;
  double lr_;
  std::vector<double> A_, a_, b_, alpha_, U_, q_, bt_;  // U_: (P, P) row-major, column k = u_k
  Tensor A_t_, a_t_, b_t_;
};

std::unique_ptr<Problem> make_gaussian_sgld(const Options& o, uint64_t seed) {
  const bool worked = o.get_string("instance") == "worked";
  if (worked && o.get_int("dim") != 2) {
    throw option_error("option 'dim': the worked instance has P = 2 (got dim = " + o.get_string("dim") +
                       "); use instance=random for other sizes");
  }
  return std::make_unique<GaussianSgldProblem>(worked, o.get_int("dim"), o.get_real("lambda_init"), o.get_int("inner_steps"),
                                               o.get_real("inner_lr"), seed);
}

}  // namespace

ProblemInfo gaussian_sgld_problem_info() {
  ProblemInfo info;
  info.name = "gaussian-sgld";
  info.description =
      "L_T = ½(θ−a)ᵀA(θ−a) + ½λ‖θ‖², L_V = ½‖θ−b‖²: Gibbs law N(μ, τB⁻¹) and every sgld variant's expected value "
      "in closed form (derivation: lib/problems/gaussian_sgld.cpp)";
  info.options = {
      opt_choice("instance", "worked", {"worked", "random"},
                 "worked: the §8.3 instance (P = 2); random: seeded A (eigenvalues in [0.5, 3]), a, b of size dim"),
      opt_int("dim", 2, "P for instance=random (the worked instance has P = 2)", 1, 4000),
      opt_real("lambda_init", 0.5, "initial λ (B = A + λI must stay positive definite)", -1e6, 1e6),
      opt_int("inner_steps", 200, "gradient-descent steps r of the deterministic inner loop (exact, ift-cg, fo)", 1),
      opt_real("inner_lr", 0.25, "inner step α; also the sgld step η unless eta is set (ηβ_max < 2 for stability)", 0,
               10, true),
  };
  info.make = make_gaussian_sgld;
  info.metrics = {"val_loss_star", "F_tau1", "ift_grad"};
  info.run_defaults = {{"outer_opt", "sgd"}, {"outer_lr", "0.1"}};
  return info;
}

}  // namespace bilevel
