// Element-wise ops: broadcasting binary arithmetic, broadcast_to / sum_to, and unary functions.
#include <cmath>
#include <stdexcept>
#include <string>

#include "base/errors.hpp"
#include "autodiff/ops.hpp"
#include "tensor/vmath.hpp"

namespace bilevel::ad {

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
  const int r = std::max(a.rank, b.rank);
  std::vector<int64_t> d(static_cast<size_t>(r));
  for (int i = 0; i < r; ++i) {
    const int ia = a.rank - r + i, ib = b.rank - r + i;
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      throw internal_error(std::string(op) + ": shapes " + a.str() + " and " + b.str() +
                                  " cannot be broadcast together");
    }
    d[static_cast<size_t>(i)] = da == 1 ? db : da;
  }
  return Shape(d);
}

namespace {

// Strides of `s` seen through the 4-D padded shape `out` (0 on broadcast dimensions).
void padded_strides(const Shape& s, const Shape& out, int64_t st[4], int64_t od[4]) {
  int64_t stride = 1;
  for (int i = 3; i >= 0; --i) {
    const int io = out.rank - 4 + i;
    const int is = s.rank - 4 + i;
    od[i] = io >= 0 ? out[io] : 1;
    const int64_t ds = is >= 0 ? s[is] : 1;
    st[i] = (ds == 1) ? 0 : stride;
    stride *= ds;
  }
}

// True when `small` equals the trailing dimensions of `big` (after dropping leading 1s of small), so
// `small` repeats contiguously along big's flat order: a row broadcast such as (B, D) + (D,).
bool is_trailing_broadcast(const Shape& big, const Shape& small) {
  int lead = 0;
  while (lead < small.rank && small[lead] == 1) ++lead;
  const int r = small.rank - lead;
  if (r > big.rank) return false;
  for (int i = 0; i < r; ++i)
    if (small[lead + i] != big[big.rank - r + i]) return false;
  return true;
}

template <class F>
Tensor broadcast_binary(const Tensor& a, const Tensor& b, const char* op, F f) {
  if (a.shape() == b.shape()) {
    Tensor c = Tensor::uninitialized(a.shape());
    const real* pa = a.data();
    const real* pb = b.data();
    real* pc = c.data();
    for (int64_t i = 0, n = a.numel(); i < n; ++i) pc[i] = f(pa[i], pb[i]);
    return c;
  }
  const Shape out = broadcast_shape(a.shape(), b.shape(), op);
  Tensor c = Tensor::uninitialized(out);
  real* pc = c.data();
  const int64_t n = c.numel();
  if (b.numel() == 1) {
    const real bv = b[0];
    const real* pa = a.data();
    for (int64_t i = 0; i < n; ++i) pc[i] = f(pa[i], bv);
    return c;
  }
  if (a.numel() == 1) {
    const real av = a[0];
    const real* pb = b.data();
    for (int64_t i = 0; i < n; ++i) pc[i] = f(av, pb[i]);
    return c;
  }
  if (a.shape() == out && is_trailing_broadcast(out, b.shape())) {
    const int64_t m = b.numel();
    const real* pb = b.data();
    for (int64_t row = 0; row < n; row += m) {
      const real* pa = a.data() + row;
      for (int64_t j = 0; j < m; ++j) pc[row + j] = f(pa[j], pb[j]);
    }
    return c;
  }
  if (b.shape() == out && is_trailing_broadcast(out, a.shape())) {
    const int64_t m = a.numel();
    const real* pa = a.data();
    for (int64_t row = 0; row < n; row += m) {
      const real* pb = b.data() + row;
      for (int64_t j = 0; j < m; ++j) pc[row + j] = f(pa[j], pb[j]);
    }
    return c;
  }
  int64_t sa[4], sb[4], od[4], tmp[4];
  padded_strides(a.shape(), out, sa, od);
  padded_strides(b.shape(), out, sb, tmp);
  const real* pa = a.data();
  const real* pb = b.data();
  int64_t k = 0;
  for (int64_t i0 = 0; i0 < od[0]; ++i0)
    for (int64_t i1 = 0; i1 < od[1]; ++i1)
      for (int64_t i2 = 0; i2 < od[2]; ++i2) {
        const real* ra = pa + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
        const real* rb = pb + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
        for (int64_t i3 = 0; i3 < od[3]; ++i3) pc[k++] = f(ra[i3 * sa[3]], rb[i3 * sb[3]]);
      }
  return c;
}

// Checks that `to` is reachable from `from` by broadcasting (to ← from by summation).
void check_reducible(const Shape& from, const Shape& to, const char* op) {
  bool ok = to.rank <= from.rank;
  for (int i = 0; ok && i < to.rank; ++i) {
    const int64_t df = from[from.rank - to.rank + i];
    ok = to[i] == df || to[i] == 1;
  }
  if (!ok) throw internal_error(std::string(op) + ": cannot map shape " + from.str() + " onto " + to.str());
}

Tensor sum_to_value(const Tensor& x, const Shape& to) {
  if (x.shape() == to) return x;
  check_reducible(x.shape(), to, "sum_to");
  Tensor out(to);
  real* po = out.data();
  if (to.numel() == 1) {
    double s = 0;
    for (int64_t i = 0; i < x.numel(); ++i) s += x[i];
    po[0] = static_cast<real>(s);
    return out;
  }
  if (is_trailing_broadcast(x.shape(), to)) {
    // Column sums: x is a stack of contiguous copies of `to`'s shape.
    const int64_t m = to.numel();
    const real* px = x.data();
    for (int64_t row = 0; row < x.numel(); row += m)
      for (int64_t j = 0; j < m; ++j) po[j] += px[row + j];
    return out;
  }
  int64_t so[4], xd[4];
  padded_strides(to, x.shape(), so, xd);
  const real* px = x.data();
  int64_t k = 0;
  for (int64_t i0 = 0; i0 < xd[0]; ++i0)
    for (int64_t i1 = 0; i1 < xd[1]; ++i1)
      for (int64_t i2 = 0; i2 < xd[2]; ++i2) {
        real* ro = po + i0 * so[0] + i1 * so[1] + i2 * so[2];
        if (so[3] == 0) {
          real s = 0;
          for (int64_t i3 = 0; i3 < xd[3]; ++i3) s += px[k++];
          ro[0] += s;
        } else {
          for (int64_t i3 = 0; i3 < xd[3]; ++i3) ro[i3] += px[k++];
        }
      }
  return out;
}

Tensor broadcast_value(const Tensor& x, const Shape& to) {
  if (x.shape() == to) return x;
  check_reducible(to, x.shape(), "broadcast_to");
  return broadcast_binary(Tensor(to), x, "broadcast_to", [](real, real b) { return b; });
}

template <class F>
Tensor map_unary(const Tensor& x, F f) {
  Tensor y = Tensor::uninitialized(x.shape());
  const real* px = x.data();
  real* py = y.data();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) py[i] = f(px[i]);
  return y;
}

const Var& in0(const Var& out) { return out.node()->inputs[0]; }
const Var& in1(const Var& out) { return out.node()->inputs[1]; }

}  // namespace

// ---- broadcast_to / sum_to: each the other's backward ----------------------------------------------
Var sum_to(const Var& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  static constexpr Op<> op({.name = "sum_to", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              gi[0] = broadcast_to(g, in0(o).shape());
                            }});
  return make_op(op, sum_to_value(x.value(), shape), {x});
}

Var broadcast_to(const Var& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  static constexpr Op<> op({.name = "broadcast_to", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              gi[0] = sum_to(g, in0(o).shape());
                            }});
  return make_op(op, broadcast_value(x.value(), shape), {x});
}

// ---- binary --------------------------------------------------------------------------------------
Var add(const Var& a, const Var& b) {
  static constexpr Op<> op({.name = "add", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              if (gi.needed(0)) gi[0] = sum_to(g, in0(o).shape());
                              if (gi.needed(1)) gi[1] = sum_to(g, in1(o).shape());
                            }});
  return make_op(op, broadcast_binary(a.value(), b.value(), "add", [](real x, real y) { return x + y; }), {a, b});
}

Var sub(const Var& a, const Var& b) {
  static constexpr Op<> op({.name = "sub", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              if (gi.needed(0)) gi[0] = sum_to(g, in0(o).shape());
                              if (gi.needed(1)) gi[1] = neg(sum_to(g, in1(o).shape()));
                            }});
  return make_op(op, broadcast_binary(a.value(), b.value(), "sub", [](real x, real y) { return x - y; }), {a, b});
}

Var mul(const Var& a, const Var& b) {
  static constexpr Op<> op({.name = "mul", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              if (gi.needed(0)) gi[0] = sum_to(mul(g, in1(o)), in0(o).shape());
                              if (gi.needed(1)) gi[1] = sum_to(mul(g, in0(o)), in1(o).shape());
                            }});
  return make_op(op, broadcast_binary(a.value(), b.value(), "mul", [](real x, real y) { return x * y; }), {a, b});
}

Var div(const Var& a, const Var& b) {
  // d(a/b)/da = 1/b; d(a/b)/db = −a/b² = −(a/b)/b.
  static constexpr Op<> op({.name = "div", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              if (gi.needed(0)) gi[0] = sum_to(div(g, in1(o)), in0(o).shape());
                              if (gi.needed(1)) gi[1] = neg(sum_to(div(mul(g, o), in1(o)), in1(o).shape()));
                            }});
  return make_op(op, broadcast_binary(a.value(), b.value(), "div", [](real x, real y) { return x / y; }), {a, b});
}

// ---- scalar and unary ----------------------------------------------------------------------------
Var neg(const Var& x) {
  static constexpr Op<> op(
      {.name = "neg", .backward = [](const Var&, const Var& g, InputGrads& gi) { gi[0] = neg(g); }});
  return make_op(op, map_unary(x.value(), [](real v) { return -v; }), {x});
}

Var scale(const Var& x, real c) {
  struct Saved {
    real c;
  };
  static constexpr Op<Saved> op({.name = "scale", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                                   gi[0] = scale(g, op.saved(o).c);
                                 }});
  return make_op(op, map_unary(x.value(), [c](real v) { return c * v; }), {x}, Saved{c});
}

Var add_scalar(const Var& x, real c) {
  static constexpr Op<> op(
      {.name = "add_scalar", .backward = [](const Var&, const Var& g, InputGrads& gi) { gi[0] = g; }});
  return make_op(op, map_unary(x.value(), [c](real v) { return v + c; }), {x});
}

Var exp(const Var& x) {
  static constexpr Op<> op(
      {.name = "exp", .backward = [](const Var& o, const Var& g, InputGrads& gi) { gi[0] = mul(g, o); }});
  Tensor y = Tensor::uninitialized(x.shape());
  exp_into(x.value().data(), y.data(), y.numel());  // vectorised (tensor/vmath.hpp)
  return make_op(op, std::move(y), {x});
}

Var log(const Var& x) {
  static constexpr Op<> op(
      {.name = "log", .backward = [](const Var& o, const Var& g, InputGrads& gi) { gi[0] = div(g, in0(o)); }});
  return make_op(op, map_unary(x.value(), [](real v) { return std::log(v); }), {x});
}

Var tanh(const Var& x) {
  // d tanh = 1 − tanh².
  static constexpr Op<> op({.name = "tanh", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              gi[0] = sub(g, mul(g, square(o)));
                            }});
  return make_op(op, map_unary(x.value(), [](real v) { return std::tanh(v); }), {x});
}

static real sigmoid_value(real v) {
  if (v >= 0) return real(1) / (real(1) + std::exp(-v));
  const real e = std::exp(v);
  return e / (real(1) + e);
}

Var sigmoid(const Var& x) {
  // dσ = σ(1 − σ).
  static constexpr Op<> op({.name = "sigmoid", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              gi[0] = mul(g, sub(o, square(o)));
                            }});
  return make_op(op, map_unary(x.value(), sigmoid_value), {x});
}

Var relu(const Var& x) {
  static constexpr Op<> op({.name = "relu", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              Var mask = constant(
                                  map_unary(in0(o).value(), [](real v) { return v > 0 ? real(1) : real(0); }));
                              gi[0] = mul(g, mask);
                            }});
  return make_op(op, map_unary(x.value(), [](real v) { return v > 0 ? v : real(0); }), {x});
}

Var softplus(const Var& x) {
  static constexpr Op<> op({.name = "softplus", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              gi[0] = mul(g, sigmoid(in0(o)));
                            }});
  return make_op(op, map_unary(x.value(), [](real v) {
                   return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
                 }),
                 {x});
}

Var sin(const Var& x) {
  static constexpr Op<> op({.name = "sin", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              gi[0] = mul(g, cos(in0(o)));
                            }});
  return make_op(op, map_unary(x.value(), [](real v) { return std::sin(v); }), {x});
}

Var cos(const Var& x) {
  static constexpr Op<> op({.name = "cos", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              gi[0] = neg(mul(g, sin(in0(o))));
                            }});
  return make_op(op, map_unary(x.value(), [](real v) { return std::cos(v); }), {x});
}

Var pow(const Var& x, real p) {
  struct Saved {
    real p;
  };
  static constexpr Op<Saved> op({.name = "pow", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                                   const real pp = op.saved(o).p;
                                   if (pp == real(0)) {
                                     gi[0] = constant(Tensor(in0(o).shape()));
                                   } else if (pp == real(1)) {
                                     gi[0] = g;
                                   } else {
                                     gi[0] = mul(g, scale(pow(in0(o), pp - real(1)), pp));
                                   }
                                 }});
  return make_op(op, map_unary(x.value(), [p](real v) { return std::pow(v, p); }), {x}, Saved{p});
}

Var square(const Var& x) {
  static constexpr Op<> op({.name = "square", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              gi[0] = mul(g, scale(in0(o), real(2)));
                            }});
  return make_op(op, map_unary(x.value(), [](real v) { return v * v; }), {x});
}

Var sqrt(const Var& x) {
  static constexpr Op<> op({.name = "sqrt", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              gi[0] = div(g, scale(o, real(2)));
                            }});
  return make_op(op, map_unary(x.value(), [](real v) { return std::sqrt(v); }), {x});
}

Var abs(const Var& x) {
  static constexpr Op<> op({.name = "abs", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              Var sign = constant(map_unary(in0(o).value(), [](real v) {
                                return v > 0 ? real(1) : (v < 0 ? real(-1) : real(0));
                              }));
                              gi[0] = mul(g, sign);
                            }});
  return make_op(op, map_unary(x.value(), [](real v) { return std::abs(v); }), {x});
}

// ---- reductions built on sum_to ------------------------------------------------------------------
Var sum(const Var& x) { return sum_to(x, Shape{}); }

static int normalize_axis(int axis, int rank, const char* op) {
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    throw internal_error(std::string(op) + ": axis " + std::to_string(axis) + " out of range for rank " +
                                std::to_string(rank));
  }
  return a;
}

Var sum(const Var& x, int axis, bool keepdim) {
  const int a = normalize_axis(axis, x.rank(), "sum");
  std::vector<int64_t> kd = x.shape().to_vector();
  kd[static_cast<size_t>(a)] = 1;
  Var s = sum_to(x, Shape(kd));
  if (keepdim) return s;
  kd.erase(kd.begin() + a);
  return reshape(s, Shape(kd));
}

Var mean(const Var& x) { return scale(sum(x), real(1) / static_cast<real>(std::max<int64_t>(1, x.numel()))); }

Var mean(const Var& x, int axis, bool keepdim) {
  const int a = normalize_axis(axis, x.rank(), "mean");
  return scale(sum(x, a, keepdim), real(1) / static_cast<real>(std::max<int64_t>(1, x.shape()[a])));
}

Var dot(const Var& a, const Var& b) {
  if (a.numel() != b.numel()) {
    throw internal_error("dot: sizes differ, " + a.shape().str() + " vs " + b.shape().str());
  }
  return sum(mul(flatten(a), flatten(b)));
}

}  // namespace bilevel::ad
