// The UFOM toy problems (Likhosherstov et al., ICML 2021: the FOM counterexample and the q-curve setup): one-dimensional meta-initialization with
// two tasks of probability ½ each and L_in = L_out = f_i, the C² Huber-like loss below.
//   ufo-counterexample: the §3.2 family where FOM-SGD converges to a non-stationary point.
//   ufo-qcurve:         the §4.1 q-curve instance (A = 400, α = 0.01).
// Both are one class with different parameters. The double-precision helpers in namespace ufo_toy
// (declared in problems/ufo_toy.hpp) are the closed forms the estimators and tests are checked against.
#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "base/errors.hpp"
#include "problems/meta_init.hpp"
#include "problems/ufo_toy.hpp"

namespace bilevel {

namespace ufo_toy {

// f(φ; a, b, A), c = b/a, z = |φ − c|, s = sign(φ − c):
//   z ≤ A:         f = a z²/2                                          f' = a(φ − c)            f'' = a
//   A < z ≤ A+1:   f = −a(z−A)³/6 + a(z−A)²/2 + aAz − aA²/2           f' = s(az − a(z−A)²/2)   f'' = a(1 + A − z)
//   z > A+1:       f = (a/2 + aA)z − a/6 − aA²/2 − aA/2               f' = s(a/2 + aA)         f'' = 0
// Value, slope and curvature agree at z = A (aA²/2, aA, a) and at z = A+1 (aA + a/3 + aA²/2 …, a/2 + aA, 0).
double f(double phi, double a, double b, double A) {
  const double z = std::abs(phi - b / a);
  if (z <= A) return a * z * z / 2;
  if (z <= A + 1) {
    const double w = z - A;
    return -a * w * w * w / 6 + a * w * w / 2 + a * A * z - a * A * A / 2;
  }
  return (a / 2 + a * A) * z - a / 6 - a * A * A / 2 - a * A / 2;
}

double f_d1(double phi, double a, double b, double A) {
  const double u = phi - b / a;
  const double z = std::abs(u);
  const double s = u >= 0 ? 1.0 : -1.0;
  if (z <= A) return a * u;
  if (z <= A + 1) {
    const double w = z - A;
    return s * (a * z - a * w * w / 2);
  }
  return s * (a / 2 + a * A);
}

double f_d2(double phi, double a, double b, double A) {
  const double z = std::abs(phi - b / a);
  if (z <= A) return a;
  if (z <= A + 1) return a * (1 + A - z);
  return 0.0;
}

TaskGrads task_grads(const Params& p, int64_t task, double theta) {
  if (task < 0 || task > 1) throw internal_error("ufo_toy::task_grads: task " + std::to_string(task) + " ∉ {0, 1}");
  const double a = p.a[task], b = p.b[task];
  double phi = theta, prod = 1.0;
  for (int64_t j = 0; j < p.steps; ++j) {
    prod *= 1.0 - p.lr * f_d2(phi, a, b, p.A);
    phi -= p.lr * f_d1(phi, a, b, p.A);
  }
  TaskGrads g;
  g.phi_r = phi;
  g.loss = f(phi, a, b, p.A);
  g.g_fo = f_d1(phi, a, b, p.A);
  g.g_ex = g.g_fo * prod;
  return g;
}

double objective(const Params& p, double theta) {
  return 0.5 * (task_grads(p, 0, theta).loss + task_grads(p, 1, theta).loss);
}

double objective_grad(const Params& p, double theta) {
  return 0.5 * (task_grads(p, 0, theta).g_ex + task_grads(p, 1, theta).g_ex);
}

Family counterexample_family(int64_t r, double alpha, double a1, double a2, double D) {
  if (!(r >= 1 && a1 > 0 && a1 < a2 && alpha > 0 && alpha * a2 < 1 && D > 0)) {
    throw option_error("ufo counterexample family: needs r ≥ 1, 0 < a1 < a2, 0 < α·a2 < 1, D > 0 (got r=" +
                                std::to_string(r) + ", α=" + std::to_string(alpha) + ", a1=" + std::to_string(a1) +
                                ", a2=" + std::to_string(a2) + ", D=" + std::to_string(D) + ")");
  }
  Family fam;
  const double b1 = 0.0;
  fam.p1 = std::pow(1 - alpha * a1, static_cast<double>(r));
  fam.p2 = std::pow(1 - alpha * a2, static_cast<double>(r));
  const double p1 = fam.p1, p2 = fam.p2;
  fam.K = std::abs((a1 * p1 * p1 + a2 * p2 * p2) * p2 / (a1 * p1 + a2 * p2) - p2 * p2);
  if (!(fam.K > 0) || !std::isfinite(fam.K)) {
    throw option_error("ufo counterexample family: K = " + std::to_string(fam.K) +
                                " (degenerate: choose a1, a2, α so that p1 ≠ p2)");
  }
  fam.b2 = 2 * std::sqrt(2 * D) / fam.K;
  fam.c2 = fam.b2 / a2;
  fam.A = std::abs(b1 / a1 - fam.b2 / a2) + 1;
  fam.theta_fo = p2 * fam.b2 / (a1 * p1 + a2 * p2);
  fam.dM_at_theta_fo = 0.5 * ((a1 * p1 * p1 + a2 * p2 * p2) * fam.theta_fo - fam.b2 * p2 * p2);
  fam.theta_star = a2 * p2 * p2 * fam.c2 / (a1 * p1 * p1 + a2 * p2 * p2);
  return fam;
}

Params counterexample_params(int64_t r, double alpha, double a1, double a2, double D) {
  const Family fam = counterexample_family(r, alpha, a1, a2, D);
  Params p;
  p.steps = r;
  p.lr = alpha;
  p.a[0] = a1;
  p.a[1] = a2;
  p.b[0] = 0.0;
  p.b[1] = fam.b2;
  p.A = fam.A;
  return p;
}

Params qcurve_params() {
  Params p;
  p.steps = 10;
  p.lr = 0.01;
  p.a[0] = 0.5;
  p.a[1] = 1.5;
  p.b[0] = 0.0;
  p.b[1] = 10.0;
  p.A = 400.0;
  return p;
}

BiasVariance bias_variance(const Params& p, double lo, double hi, int64_t points) {
  if (points < 2 || !(hi > lo)) throw internal_error("ufo_toy::bias_variance: needs points ≥ 2 and hi > lo");
  BiasVariance bv;
  for (int64_t k = 0; k < points; ++k) {
    const double theta = lo + (hi - lo) * static_cast<double>(k) / static_cast<double>(points - 1);
    double d2 = 0, v2 = 0;
    for (int64_t t = 0; t < 2; ++t) {
      const TaskGrads g = task_grads(p, t, theta);
      d2 += 0.5 * (g.g_fo - g.g_ex) * (g.g_fo - g.g_ex);
      v2 += 0.5 * g.g_ex * g.g_ex;
    }
    bv.d2 = std::max(bv.d2, d2);
    bv.v2 = std::max(bv.v2, v2);
  }
  return bv;
}

std::optional<Params> params_for(const std::string& problem, const Options& o) {
  if (problem == "ufo-counterexample") {
    const double alpha = o.get_real("inner_lr"), a1 = o.get_real("a1"), a2 = o.get_real("a2");
    if (!(a1 < a2)) {
      throw option_error("options 'a1' (" + o.get_string("a1") + ") and 'a2' (" + o.get_string("a2") +
                         "): the family needs a1 < a2");
    }
    if (!(alpha * a2 < 1)) {
      throw option_error("options 'inner_lr' (" + o.get_string("inner_lr") + ") and 'a2' (" + o.get_string("a2") +
                         "): the family needs inner_lr·a2 < 1");
    }
    return counterexample_params(o.get_int("inner_steps"), alpha, a1, a2, o.get_real("D"));
  }
  if (problem == "ufo-qcurve") {
    Params p;
    p.steps = o.get_int("inner_steps");
    p.lr = o.get_real("inner_lr");
    p.a[0] = o.get_real("a1");
    p.a[1] = o.get_real("a2");
    p.b[0] = o.get_real("b1");
    p.b[1] = o.get_real("b2");
    p.A = o.get_real("A");
    return p;
  }
  return std::nullopt;
}

}  // namespace ufo_toy

namespace {

// f(φ; a, b, A) as a differentiable graph. The region is chosen from the value of φ, and within it f is
// an ordinary polynomial in φ, so first and second derivatives are exact inside each region (and, f
// being C², continuous across the boundaries). φ: (1,) → ().
ad::Var toy_loss_var(const ad::Var& phi, double a, double b, double A) {
  const double c = b / a;
  const double u_val = static_cast<double>(phi.value()[0]) - c;
  const double z_val = std::abs(u_val);
  const real s = u_val >= 0 ? real(1) : real(-1);
  const ad::Var u = phi - static_cast<real>(c);
  if (z_val <= A) return ad::sum(ad::square(u)) * static_cast<real>(a / 2);
  const ad::Var z = u * s;  // = |φ − c| in this region
  if (z_val <= A + 1) {
    const ad::Var w = z - static_cast<real>(A);
    const ad::Var w2 = ad::square(w);
    const ad::Var poly = w2 * w * static_cast<real>(-a / 6) + w2 * static_cast<real>(a / 2) + z * static_cast<real>(a * A);
    return ad::sum(poly) - static_cast<real>(a * A * A / 2);
  }
  return ad::sum(z * static_cast<real>(a / 2 + a * A)) - static_cast<real>(a / 6 + a * A * A / 2 + a * A / 2);
}

class UfoToyProblem final : public MetaInitProblem {
 public:
  UfoToyProblem(std::string name, ufo_toy::Params params, double x0_min, double x0_max, nlohmann::json extra)
      : name_(std::move(name)), p_(params), x0_min_(x0_min), x0_max_(x0_max), extra_(std::move(extra)) {}

  std::string name() const override { return name_; }
  int64_t theta_dim() const override { return 1; }
  int64_t lambda_dim() const override { return 1; }
  InnerConfig inner() const override { return InnerConfig{p_.steps, static_cast<real>(p_.lr)}; }

  // x0 ~ U(x0_min, x0_max).
  Tensor init_lambda(Rng& rng) const override {
    return Tensor::vector({static_cast<real>(rng.uniform(x0_min_, x0_max_))});
  }
  // Task id ~ uniform {0, 1}; no data (the task is its loss f_id).
  Task sample_task(Rng& rng) const override {
    Task t;
    t.id = rng.randint(2);
    return t;
  }


  // M(θ) = ½ Σᵢ f_i(φ_r^i), the r-step objective, in double.
  Metrics evaluate(const Tensor& lambda) const override {
    return {{"M", ufo_toy::objective(p_, scalar_of(lambda))}};
  }
  // θ itself and |M'(θ)| (exact, in double); hypergrad_norm_exact is the same number under the name
  // every closed-form problem logs.
  Metrics diagnostics(const Tensor& lambda) const override {
    const double theta = scalar_of(lambda);
    const double dm = std::abs(ufo_toy::objective_grad(p_, theta));
    return {{"theta", theta}, {"abs_dM", dm}, {"hypergrad_norm_exact", dm}};
  }
  // This task's exact r-step gradient f_i'(φ_r) Πⱼ(1 − α f_i''(φⱼ)).
  std::optional<Tensor> closed_form_unrolled(const Tensor& lambda, const Task& task) const override {
    return Tensor::vector({static_cast<real>(ufo_toy::task_grads(p_, checked_id(task), scalar_of(lambda)).g_ex)});
  }

  nlohmann::json describe() const override {
    nlohmann::json j = {{"loss", "f(phi; a, b, A), the UFOM paper's counterexample family"},
                        {"tasks", {{{"id", 0}, {"a", p_.a[0]}, {"b", p_.b[0]}, {"centre", p_.b[0] / p_.a[0]}},
                                   {{"id", 1}, {"a", p_.a[1]}, {"b", p_.b[1]}, {"centre", p_.b[1] / p_.a[1]}}}},
                        {"task_probabilities", {0.5, 0.5}},
                        {"A", p_.A},
                        {"inner_steps", p_.steps},
                        {"inner_lr", p_.lr},
                        {"x0_range", {x0_min_, x0_max_}}};
    for (const auto& [k, v] : extra_.items()) j[k] = v;
    return j;
  }

 private:
  static double scalar_of(const Tensor& lambda) {
    if (lambda.numel() != 1) {
      throw internal_error("ufo toy: λ has " + std::to_string(lambda.numel()) + " elements, expected 1");
    }
    return static_cast<double>(lambda[0]);
  }
  static int64_t checked_id(const Task& task) {
    if (task.id < 0 || task.id > 1) {
      throw internal_error("ufo toy: task id " + std::to_string(task.id) + " ∉ {0, 1}");
    }
    return task.id;
  }
  // f_id(θ) for both parts.
  ad::Var task_loss(const ad::Var& theta, const Task& task, TaskPart part) const override {
    (void)part;
    return task_loss(theta, task);
  }
  ad::Var task_loss(const ad::Var& theta, const Task& task) const {
    if (theta.shape() != Shape{1}) {
      throw internal_error("ufo toy: θ of shape " + theta.shape().str() + ", expected (1,)");
    }
    const int64_t i = checked_id(task);
    return toy_loss_var(theta, p_.a[i], p_.b[i], p_.A);
  }

  std::string name_;
  ufo_toy::Params p_;
  double x0_min_, x0_max_;
  nlohmann::json extra_;
};

void check_x0_range(const Options& o) {
  if (!(o.get_real("x0_min") < o.get_real("x0_max"))) {
    throw option_error("options 'x0_min' (" + o.get_string("x0_min") + ") and 'x0_max' (" + o.get_string("x0_max") +
                       "): x0_min must be below x0_max");
  }
}

std::vector<std::pair<std::string, std::string>> toy_run_defaults() {
  // The reference's SGD protocol: one task per step, γ_k = 10/(k+1).
  return {{"outer_opt", "sgd"}, {"outer_lr", "10"}, {"schedule", "inv"}, {"meta_batch", "1"}};
}

std::unique_ptr<Problem> make_counterexample(const Options& o, uint64_t seed) {
  (void)seed;  // no random instance data
  check_x0_range(o);
  const ufo_toy::Params p = *ufo_toy::params_for("ufo-counterexample", o);  // checks the options first
  const ufo_toy::Family fam = ufo_toy::counterexample_family(o.get_int("inner_steps"), o.get_real("inner_lr"),
                                                             o.get_real("a1"), o.get_real("a2"), o.get_real("D"));
  nlohmann::json extra = {{"family", {{"D", o.get_real("D")}, {"p1", fam.p1}, {"p2", fam.p2}, {"K", fam.K},
                                      {"b2", fam.b2}, {"A", fam.A}, {"theta_fo", fam.theta_fo},
                                      {"dM_at_theta_fo", fam.dM_at_theta_fo}, {"theta_star", fam.theta_star}}}};
  return std::make_unique<UfoToyProblem>("ufo-counterexample", p, o.get_real("x0_min"), o.get_real("x0_max"), std::move(extra));
}

std::unique_ptr<Problem> make_qcurve(const Options& o, uint64_t seed) {
  (void)seed;
  check_x0_range(o);
  return std::make_unique<UfoToyProblem>("ufo-qcurve", *ufo_toy::params_for("ufo-qcurve", o), o.get_real("x0_min"),
                                         o.get_real("x0_max"), nlohmann::json::object());
}

}  // namespace

ProblemInfo ufo_counterexample_problem_info() {
  ProblemInfo info;
  info.name = "ufo-counterexample";
  info.description =
      "UFOM 1-D counterexample (Likhosherstov et al. 2021): two Huber-like tasks where FOM-SGD stalls at θ≈5.759, |M'|=√(2D)";
  info.options = {
      opt_int("inner_steps", 10, "inner GD steps r", 1, 10000),
      opt_real("inner_lr", 0.1, "inner step size α (the family needs α·a2 < 1)", 0, 10, true),
      opt_real("a1", 0.5, "curvature of task 0 (0 < a1 < a2)", 0, 1e6, true),
      opt_real("a2", 1.5, "curvature of task 1 (a2 > a1)", 0, 1e6, true),
      opt_real("D", 0.06, "target level: FOM's limit has |M'(θ_FO)| = √(2D); sets b2 and A", 0, 1e6, true),
      opt_real("x0_min", -10, "initial θ = λ ~ U(x0_min, x0_max)", -1e6, 1e6),
      opt_real("x0_max", 30, "upper end of the initial θ range", -1e6, 1e6),
  };
  info.make = make_counterexample;
  info.metrics = {"M", "theta", "abs_dM", "hypergrad_norm_exact"};
  info.run_defaults = toy_run_defaults();
  return info;
}

ProblemInfo ufo_qcurve_problem_info() {
  ProblemInfo info;
  info.name = "ufo-qcurve";
  info.description = "UFOM q-curve toy (Likhosherstov et al. 2021): the counterexample loss with A=400, α=0.01, b=(0,10); q*=0.110";
  info.options = {
      opt_int("inner_steps", 10, "inner GD steps r", 1, 10000),
      opt_real("inner_lr", 0.01, "inner step size α (α·max(a1, a2) < 1 keeps the unroll contracting)", 0, 10, true),
      opt_real("a1", 0.5, "curvature of task 0", 0, 1e6, true),
      opt_real("a2", 1.5, "curvature of task 1", 0, 1e6, true),
      opt_real("b1", 0, "task 0's linear coefficient (centre b1/a1)", -1e6, 1e6),
      opt_real("b2", 10, "task 1's linear coefficient (centre b2/a2)", -1e6, 1e6),
      opt_real("A", 400, "half-width of the quadratic zone of f (shared by both tasks)", 0, 1e9),
      opt_real("x0_min", -50, "initial θ = λ ~ U(x0_min, x0_max)", -1e6, 1e6),
      opt_real("x0_max", 50, "upper end of the initial θ range", -1e6, 1e6),
  };
  info.make = make_qcurve;
  info.metrics = {"M", "theta", "abs_dM", "hypergrad_norm_exact"};
  info.run_defaults = toy_run_defaults();
  return info;
}

}  // namespace bilevel
