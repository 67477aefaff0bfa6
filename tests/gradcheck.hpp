#pragma once
// Finite-difference checks of reverse-mode derivatives, first and second order.
//
// A function under test maps one or more input tensors to a Var (any shape):
//     Fn f = [&](const std::vector<ad::Var>& in) { return ad::conv2d(in[0], in[1], in[2], p); };
// Every input is differentiated; constants (labels, targets) are captured by the lambda.
//
//   check_jacobian(f, xs)      first order of any-shaped f: the whole Jacobian on tiny shapes (rows by
//                              reverse mode, columns by central differences), random projections uᵀJd
//                              on larger ones.
//   check_gradient(f, xs)      the same for a scalar f (the Jacobian is the gradient).
//   check_hvp(f, xs)           second order of a scalar f: H·v by double backward (grad with
//                              create_graph=true, then grad of ⟨g, v⟩) against central differences of
//                              gradients, (∇f(x + εv) − ∇f(x − εv))/2ε, compared coordinate by coordinate;
//                              v runs over all basis vectors on tiny inputs and random directions always.
//   check_second_order(f, xs)  check_hvp of L(x) = ⟨a, f(x)⟩ + ½⟨b, f(x)²⟩ with fixed random a, b: works for
//                              any-shaped f and, because ∂L/∂f depends on x, also differentiates the
//                              backward rule of a linear op (a check of the create_graph plumbing).
//
// Comparison: relative error |analytic − numeric| / max(floor, |analytic|, |numeric|) ≤ tol, so values
// near zero are held to an absolute error of tol·floor.
//
// Kinks: relu, abs and max-pool are smooth only away from x = 0 and from ties. Nudge inputs off kinks
// (nudge_off_kinks, distinct_values) by a margin ≫ eps. As a guard, every finite-difference point is
// evaluated with a graph and its kink signature (signs at relu/abs inputs, gather indices, which include
// max-pool's argmax) must equal the base point's; otherwise the result is marked not smooth and fails
// with a message that says so rather than a misleading error.
//
// Precision: the defaults assume BILEVEL_DOUBLE. In the float build they are loosened (larger steps,
// tolerance 1e-2) so only coarse first-order checks are meaningful.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/var.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

namespace bilevel::gradcheck {

using Fn = std::function<ad::Var(const std::vector<ad::Var>&)>;
using Fn1 = std::function<ad::Var(const ad::Var&)>;

inline constexpr bool is_double = std::is_same_v<real, double>;

struct Options {
  double eps = is_double ? 1e-5 : 3e-3;      // central-difference step for first derivatives
  double eps_hvp = is_double ? 1e-5 : 3e-3;  // step of the gradient differences in second-order checks
  double tol = is_double ? 1e-5 : 2e-2;      // allowed relative error
  double floor = is_double ? 1e-3 : 1e-1;    // absolute floor of the relative error's denominator
  int64_t full_inputs_limit = 256;           // full Jacobian when inputs ≤ this ...
  int64_t full_jacobian_limit = 4096;        // ... and outputs × inputs ≤ this; else projections
  int64_t full_hessian_limit = 32;           // H·eⱼ for every basis vector when inputs ≤ this
  int projections = 3;                       // random directions (first order on large shapes; always for H·v)
  bool check_kinks = true;                   // verify FD points stay on the base point's smooth piece
  uint64_t seed = 0x6eadc4ec;
};

struct Result {
  std::string label;
  bool ok = true;
  bool smooth = true;     // no FD point crossed a kink
  double max_err = 0.0;   // worst relative error
  int64_t compared = 0;   // numbers compared
  std::string worst;      // where the worst error occurred
  double tol = 0.0;

  template <class Where>
  void record(double analytic, double numeric, const Options& o, Where where) {
    ++compared;
    const double denom = std::max({o.floor, std::abs(analytic), std::abs(numeric)});
    double err = std::abs(analytic - numeric) / denom;
    if (!std::isfinite(analytic) || !std::isfinite(numeric)) err = INFINITY;
    if (compared == 1 || err > max_err) {
      max_err = err;
      std::ostringstream s;
      s.precision(10);
      s << where() << ": analytic " << analytic << ", numeric " << numeric;
      worst = s.str();
    }
    if (!(err <= o.tol)) ok = false;
  }

  std::string summary() const {
    std::ostringstream s;
    s << label << ": ";
    if (!smooth) s << "a finite-difference point crossed a kink (nudge the inputs further off it); ";
    s << compared << " comparisons, worst relative error " << max_err << " (tol " << tol << ")";
    if (!worst.empty()) s << " at " << worst;
    return s.str();
  }
};

// ---- input preparation ---------------------------------------------------------------------------

// Moves every element within `margin` of a kink to kink ± margin (keeping its side; exactly on the
// kink goes up), so steps ≪ margin never straddle a kink of relu (0), abs (0), etc.
// A tensor of N(0, stddev²) entries from the seed's stream {11} (the op tests' inputs).
inline Tensor randn(const Shape& s, uint64_t seed, double stddev = 1.0) {
  Rng r(seed, {11});
  return r.normal_tensor(s, 0.0, stddev);
}

inline Tensor nudge_off_kinks(Tensor x, double margin = 0.05, const std::vector<double>& kinks = {0.0}) {
  for (int64_t i = 0; i < x.numel(); ++i) {
    for (double k : kinks) {
      const double d = static_cast<double>(x[i]) - k;
      if (std::abs(d) < margin) x[i] = static_cast<real>(k + (d < 0 ? -margin : margin));
    }
  }
  return x;
}

// Values (j − (n−1)/2)·gap for j a random permutation of {0, …, n−1}: pairwise at least `gap` apart,
// so no max-pool window has a near-tie.
inline Tensor distinct_values(const Shape& s, Rng& rng, double gap = 0.05) {
  Tensor t(s);
  const int64_t n = t.numel();
  const std::vector<int64_t> p = rng.permutation(n);
  for (int64_t i = 0; i < n; ++i) {
    t[i] = static_cast<real>((static_cast<double>(p[static_cast<size_t>(i)]) - 0.5 * static_cast<double>(n - 1)) * gap);
  }
  return t;
}

namespace detail {

inline int64_t total_numel(const std::vector<Tensor>& xs) {
  int64_t n = 0;
  for (const auto& x : xs) n += x.numel();
  return n;
}

// Coordinate k of the concatenated inputs → (input, element).
inline std::pair<size_t, int64_t> locate(const std::vector<Tensor>& xs, int64_t k) {
  for (size_t i = 0; i < xs.size(); ++i) {
    if (k < xs[i].numel()) return {i, k};
    k -= xs[i].numel();
  }
  throw std::out_of_range("gradcheck: coordinate out of range");
}

inline std::string coord_name(const std::vector<Tensor>& xs, int64_t k) {
  const auto [i, e] = locate(xs, k);
  return "input " + std::to_string(i) + " " + xs[i].shape().str() + " [" + std::to_string(e) + "]";
}

inline std::vector<ad::Var> leaves(const std::vector<Tensor>& xs) {
  std::vector<ad::Var> v;
  for (const auto& x : xs) v.push_back(ad::leaf(x));
  return v;
}

// xs + t·d.
inline std::vector<Tensor> shifted(const std::vector<Tensor>& xs, const std::vector<Tensor>& d, double t) {
  std::vector<Tensor> out = xs;
  for (size_t i = 0; i < xs.size(); ++i) axpy(static_cast<real>(t), d[i], out[i]);
  return out;
}

inline std::vector<Tensor> basis(const std::vector<Tensor>& xs, int64_t k) {
  std::vector<Tensor> d;
  for (const auto& x : xs) d.emplace_back(x.shape());
  const auto [i, e] = locate(xs, k);
  d[i][e] = real(1);
  return d;
}

inline std::vector<Tensor> random_like(const std::vector<Tensor>& xs, Rng& rng) {
  std::vector<Tensor> d;
  for (const auto& x : xs) d.push_back(rng.normal_tensor(x.shape()));
  return d;
}

// Hash of the piece of a piecewise-smooth graph: signs at relu/abs inputs and gather indices.
inline uint64_t kink_signature(const ad::Var& y) {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  auto mixin = [&h](uint64_t v) { h = mix64(h ^ v); };
  std::unordered_set<const ad::Node*> seen;
  std::vector<const ad::Node*> stack{y.node()};
  while (!stack.empty()) {
    const ad::Node* n = stack.back();
    stack.pop_back();
    if (!n || !seen.insert(n).second) continue;
    const std::string op = n->op->name;
    if ((op == "relu" || op == "abs") && !n->inputs.empty()) {
      const Tensor& x = n->inputs[0].value();
      for (int64_t i = 0; i < x.numel(); ++i) mixin(x[i] > 0 ? 1u : (x[i] < 0 ? 2u : 3u));
    }
    if (const std::vector<int64_t>* idx = ad::gather_indices(*n)) {
      for (int64_t j : *idx) mixin(static_cast<uint64_t>(j));
    }
    for (const auto& in : n->inputs) stack.push_back(in.node());
  }
  return h;
}

// Value of f at xs; with check_kinks also the kink signature (needs a recorded graph).
struct Eval {
  Tensor value;
  uint64_t signature = 0;
};

inline Eval evaluate(const Fn& f, const std::vector<Tensor>& xs, bool with_signature) {
  if (!with_signature) {
    ad::NoGradGuard no_grad;
    std::vector<ad::Var> c;
    for (const auto& x : xs) c.push_back(ad::constant(x));
    return {f(c).value(), 0};
  }
  const std::vector<ad::Var> ls = leaves(xs);
  ad::Var y = f(ls);
  return {y.value(), kink_signature(y)};
}

inline std::vector<Tensor> values(const std::vector<ad::Var>& vs) {
  std::vector<Tensor> out;
  for (const auto& v : vs) out.push_back(v.value());
  return out;
}

// Gradient of a scalar f at xs (and its kink signature).
inline std::vector<Tensor> gradient_at(const Fn& f, const std::vector<Tensor>& xs, uint64_t* signature) {
  const std::vector<ad::Var> ls = leaves(xs);
  ad::Var y = f(ls);
  if (signature) *signature = kink_signature(y);
  return values(ad::grad(y, ls));
}

inline void require_scalar(const ad::Var& y, const char* who) {
  if (y.numel() != 1) {
    throw std::invalid_argument(std::string(who) + ": the function must return a scalar, got shape " +
                                y.shape().str() + " (use check_jacobian / check_second_order)");
  }
}

}  // namespace detail

// ---- first order ---------------------------------------------------------------------------------

inline Result check_jacobian(const Fn& f, const std::vector<Tensor>& xs, const Options& o = {}) {
  Result r;
  r.label = "first order";
  r.tol = o.tol;
  const std::vector<ad::Var> ls = detail::leaves(xs);
  const ad::Var y = f(ls);
  const uint64_t base_sig = o.check_kinks ? detail::kink_signature(y) : 0;
  const int64_t m = y.numel();
  const int64_t n = detail::total_numel(xs);
  auto fd = [&](const std::vector<Tensor>& d) {  // (f(x + εd) − f(x − εd)) / 2ε
    const detail::Eval p = detail::evaluate(f, detail::shifted(xs, d, o.eps), o.check_kinks);
    const detail::Eval q = detail::evaluate(f, detail::shifted(xs, d, -o.eps), o.check_kinks);
    if (o.check_kinks && (p.signature != base_sig || q.signature != base_sig)) r.smooth = false;
    return scaled(sub(p.value, q.value), static_cast<real>(1.0 / (2.0 * o.eps)));
  };
  if (n <= o.full_inputs_limit && m * n <= o.full_jacobian_limit) {
    // Rows J[k, :] = ∇y_k by reverse mode with one-hot cotangents; columns by central differences.
    std::vector<std::vector<Tensor>> rows;
    for (int64_t k = 0; k < m; ++k) {
      Tensor e(y.shape());
      e[k] = real(1);
      rows.push_back(detail::values(ad::grad({y}, {ad::constant(e)}, ls)));
    }
    for (int64_t j = 0; j < n; ++j) {
      const Tensor col = fd(detail::basis(xs, j));
      const auto [i, e] = detail::locate(xs, j);
      for (int64_t k = 0; k < m; ++k) {
        r.record(rows[static_cast<size_t>(k)][i][e], col[k], o, [&] {
          return "∂out[" + std::to_string(k) + "]/∂" + detail::coord_name(xs, j);
        });
      }
    }
  } else {
    Rng rng(o.seed);
    for (int p = 0; p < o.projections; ++p) {
      // uᵀ J d: reverse mode gives Jᵀu, central differences give J d.
      const Tensor u = rng.normal_tensor(y.shape());
      const std::vector<Tensor> d = detail::random_like(xs, rng);
      const std::vector<Tensor> jtu = detail::values(ad::grad({y}, {ad::constant(u)}, ls));
      double analytic = 0;
      for (size_t i = 0; i < xs.size(); ++i) analytic += dot(jtu[i], d[i]);
      const double numeric = dot(u, fd(d));
      r.record(analytic, numeric, o, [&] { return "projection " + std::to_string(p); });
    }
  }
  if (!r.smooth) r.ok = false;
  return r;
}

inline Result check_gradient(const Fn& f, const std::vector<Tensor>& xs, const Options& o = {}) {
  {
    ad::NoGradGuard no_grad;
    std::vector<ad::Var> c;
    for (const auto& x : xs) c.push_back(ad::constant(x));
    detail::require_scalar(f(c), "check_gradient");
  }
  Result r = check_jacobian(f, xs, o);
  r.label = "gradient";
  return r;
}

// ---- second order --------------------------------------------------------------------------------

inline Result check_hvp(const Fn& f, const std::vector<Tensor>& xs, const Options& o = {}) {
  Result r;
  r.label = "second order (H·v)";
  r.tol = o.tol;
  const std::vector<ad::Var> ls = detail::leaves(xs);
  const ad::Var y = f(ls);
  detail::require_scalar(y, "check_hvp");
  const uint64_t base_sig = o.check_kinks ? detail::kink_signature(y) : 0;
  const std::vector<ad::Var> g = ad::grad(y, ls, /*create_graph=*/true);
  const int64_t n = detail::total_numel(xs);

  std::vector<std::pair<std::string, std::vector<Tensor>>> directions;
  if (n <= o.full_hessian_limit) {
    for (int64_t j = 0; j < n; ++j) directions.emplace_back("e_" + std::to_string(j), detail::basis(xs, j));
  }
  Rng rng(o.seed ^ 0x5eed);
  for (int p = 0; p < o.projections; ++p) {
    directions.emplace_back("random v" + std::to_string(p), detail::random_like(xs, rng));
  }
  for (const auto& [name, v] : directions) {
    // H v = ∇ₓ⟨g, v⟩ by double backward.
    ad::Var gv;
    for (size_t i = 0; i < xs.size(); ++i) {
      ad::Var t = ad::dot(g[i], ad::constant(v[i]));
      gv = gv.defined() ? ad::add(gv, t) : t;
    }
    const std::vector<Tensor> hv = detail::values(ad::grad(gv, ls));
    uint64_t sp = 0, sm = 0;
    const std::vector<Tensor> gp = detail::gradient_at(f, detail::shifted(xs, v, o.eps_hvp), &sp);
    const std::vector<Tensor> gm = detail::gradient_at(f, detail::shifted(xs, v, -o.eps_hvp), &sm);
    if (o.check_kinks && (sp != base_sig || sm != base_sig)) r.smooth = false;
    for (size_t i = 0; i < xs.size(); ++i) {
      for (int64_t e = 0; e < xs[i].numel(); ++e) {
        const double numeric = (static_cast<double>(gp[i][e]) - static_cast<double>(gm[i][e])) / (2.0 * o.eps_hvp);
        r.record(hv[i][e], numeric, o, [&] {
          return "(H·" + name + ") at input " + std::to_string(i) + " " + xs[i].shape().str() + " [" +
                 std::to_string(e) + "]";
        });
      }
    }
  }
  if (!r.smooth) r.ok = false;
  return r;
}

// L(x) = ⟨a, f(x)⟩ + ½⟨b, f(x)⊙f(x)⟩ with a, b fixed standard-normal tensors of f's output shape.
inline Fn random_quadratic_readout(const Fn& f, const std::vector<Tensor>& xs, uint64_t seed) {
  Shape out_shape;
  {
    ad::NoGradGuard no_grad;
    std::vector<ad::Var> c;
    for (const auto& x : xs) c.push_back(ad::constant(x));
    out_shape = f(c).shape();
  }
  Rng rng(seed, {0x9ad});
  const Tensor a = rng.normal_tensor(out_shape);
  const Tensor b = rng.normal_tensor(out_shape);
  return [f, a, b](const std::vector<ad::Var>& in) {
    ad::Var y = f(in);
    return ad::add(ad::dot(y, ad::constant(a)), ad::scale(ad::dot(ad::mul(y, y), ad::constant(b)), real(0.5)));
  };
}

inline Result check_second_order(const Fn& f, const std::vector<Tensor>& xs, const Options& o = {}) {
  return check_hvp(random_quadratic_readout(f, xs, o.seed), xs, o);
}

// ---- single-input conveniences -------------------------------------------------------------------

inline Fn unary(const Fn1& f) {
  return [f](const std::vector<ad::Var>& in) { return f(in[0]); };
}
inline Result check_jacobian(const Fn1& f, const Tensor& x, const Options& o = {}) {
  return check_jacobian(unary(f), std::vector<Tensor>{x}, o);
}
inline Result check_gradient(const Fn1& f, const Tensor& x, const Options& o = {}) {
  return check_gradient(unary(f), std::vector<Tensor>{x}, o);
}
inline Result check_hvp(const Fn1& f, const Tensor& x, const Options& o = {}) {
  return check_hvp(unary(f), std::vector<Tensor>{x}, o);
}
inline Result check_second_order(const Fn1& f, const Tensor& x, const Options& o = {}) {
  return check_second_order(unary(f), std::vector<Tensor>{x}, o);
}

}  // namespace bilevel::gradcheck

// CHECK that a gradcheck result passed, printing its summary (worst error and where) otherwise.
#define CHECK_GRADCHECK(expr)                                    \
  do {                                                           \
    const ::bilevel::gradcheck::Result gradcheck_result_ = (expr); \
    CHECK_MESSAGE(gradcheck_result_.ok, gradcheck_result_.summary()); \
  } while (0)
