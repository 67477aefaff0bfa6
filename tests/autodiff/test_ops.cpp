// Tests of lib/autodiff/ops: forward values against naive loops and closed forms (both builds), and for
// every op a first-order finite-difference check (full Jacobian on tiny shapes, random projections on
// larger ones) and a second-order check (H·v by double backward against differences of gradients).
// The finite-difference checks need double and are compiled only with BILEVEL_DOUBLE; the float build
// runs a reduced variant with loose tolerances at the end of this file.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "autodiff/ops.hpp"
#include "gradcheck.hpp"
#include "tensor/rng.hpp"

using namespace bilevel;
using namespace bilevel::ad;
namespace gc = bilevel::gradcheck;

namespace {

Tensor randn(const Shape& s, uint64_t seed, double stddev = 1.0) {
  Rng r(seed, {1});
  return r.normal_tensor(s, 0.0, stddev);
}

Tensor randu(const Shape& s, uint64_t seed, double lo, double hi) {
  Rng r(seed, {2});
  return r.uniform_tensor(s, lo, hi);
}

std::shared_ptr<const std::vector<int64_t>> indices(std::vector<int64_t> v) {
  return std::make_shared<const std::vector<int64_t>>(std::move(v));
}

// Element of a row-major tensor of up to 4 dims, indices aligned on the right with broadcasting
// (a dimension of size 1 is read at 0): the reference for broadcasting ops.
real at_broadcast(const Tensor& t, const std::vector<int64_t>& idx) {
  int64_t off = 0, stride = 1;
  for (int d = t.rank() - 1; d >= 0; --d) {
    const int64_t i = idx[idx.size() - static_cast<size_t>(t.rank() - d)];
    off += (t.dim(d) == 1 ? 0 : i) * stride;
    stride *= t.dim(d);
  }
  return t[off];
}

double value_tol() { return gc::is_double ? 1e-12 : 1e-5; }

}  // namespace

// =====================================================================================================
// Forward values (both builds)
// =====================================================================================================

TEST_CASE("broadcasting binary ops: values match a naive loop for every broadcast pattern") {
  const std::vector<std::pair<Shape, Shape>> patterns = {
      {{2, 3}, {2, 3}},       {{2, 3}, {}},           {{}, {2, 3}},           {{2, 3}, {3}},
      {{2, 3}, {1, 3}},       {{2, 3}, {2, 1}},       {{2, 1}, {1, 3}},       {{3}, {2, 3}},
      {{2, 3, 4}, {3, 4}},    {{2, 1, 3, 2}, {4, 1, 2}}, {{3, 1, 4}, {2, 1, 1, 4}}, {{1}, {2, 2}}};
  for (const auto& [sa, sb] : patterns) {
    INFO("a " << sa.str() << ", b " << sb.str());
    const Tensor a = randn(sa, 1), b = randu(sb, 2, 0.5, 2.0);
    const Shape out = broadcast_shape(sa, sb, "test");
    const Var s = add(constant(a), constant(b)), d = sub(constant(a), constant(b));
    const Var p = mul(constant(a), constant(b)), q = div(constant(a), constant(b));
    REQUIRE(s.shape() == out);
    REQUIRE(q.shape() == out);
    std::vector<int64_t> idx(4, 0);
    std::vector<int64_t> od(4, 1);
    for (int i = 0; i < out.rank; ++i) od[static_cast<size_t>(4 - out.rank + i)] = out[i];
    int64_t k = 0;
    for (idx[0] = 0; idx[0] < od[0]; ++idx[0])
      for (idx[1] = 0; idx[1] < od[1]; ++idx[1])
        for (idx[2] = 0; idx[2] < od[2]; ++idx[2])
          for (idx[3] = 0; idx[3] < od[3]; ++idx[3], ++k) {
            const real x = at_broadcast(a, idx), y = at_broadcast(b, idx);
            CHECK(s.value()[k] == doctest::Approx(x + y));
            CHECK(d.value()[k] == doctest::Approx(x - y));
            CHECK(p.value()[k] == doctest::Approx(x * y));
            CHECK(q.value()[k] == doctest::Approx(x / y));
          }
    CHECK(k == out.numel());
  }
}

TEST_CASE("broadcast_to and sum_to: values and their adjointness") {
  const Tensor x = randn(Shape{3, 1}, 3);
  const Var b = broadcast_to(constant(x), Shape{2, 3, 4});
  REQUIRE(b.shape() == Shape({2, 3, 4}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k) CHECK(b.value()[(i * 3 + j) * 4 + k] == x[j]);
  const Tensor y = randn(Shape{2, 3, 4}, 4);
  const Var s = sum_to(constant(y), Shape{3, 1});
  REQUIRE(s.shape() == Shape({3, 1}));
  for (int64_t j = 0; j < 3; ++j) {
    double ref = 0;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t k = 0; k < 4; ++k) ref += y[(i * 3 + j) * 4 + k];
    CHECK(s.value()[j] == doctest::Approx(ref));
  }
  // ⟨broadcast_to(x), y⟩ = ⟨x, sum_to(y)⟩.
  CHECK(dot(b.value(), y) == doctest::Approx(dot(x, s.value())));
  CHECK_THROWS_AS(sum_to(constant(y), Shape{2, 3}), bilevel::internal_error);
  CHECK_THROWS_AS(broadcast_to(constant(y), Shape{3, 4}), bilevel::internal_error);
}

TEST_CASE("reductions: sum and mean over all elements and per axis, with and without keepdim") {
  const Tensor x = randn(Shape{2, 3, 4}, 5);
  auto ref_sum = [&](int axis, int64_t i0, int64_t i1) {  // sum over `axis`, other two indices (i0, i1) in order
    double s = 0;
    for (int64_t t = 0; t < x.dim(axis); ++t) {
      int64_t ix[3];
      int o = 0;
      for (int d = 0; d < 3; ++d) ix[d] = d == axis ? t : (o++ == 0 ? i0 : i1);
      s += x[(ix[0] * 3 + ix[1]) * 4 + ix[2]];
    }
    return s;
  };
  double total = 0;
  for (int64_t i = 0; i < x.numel(); ++i) total += x[i];
  CHECK(sum(constant(x)).shape() == Shape{});
  CHECK(sum(constant(x)).item() == doctest::Approx(total));
  CHECK(mean(constant(x)).item() == doctest::Approx(total / 24));
  for (int axis = 0; axis < 3; ++axis) {
    INFO("axis " << axis);
    std::vector<int64_t> kept = x.shape().to_vector(), dropped = kept;
    kept[static_cast<size_t>(axis)] = 1;
    dropped.erase(dropped.begin() + axis);
    const Var s = sum(constant(x), axis), sk = sum(constant(x), axis, true);
    const Var m = mean(constant(x), axis - 3), mk = mean(constant(x), axis - 3, true);  // negative axis
    CHECK(s.shape() == Shape(dropped));
    CHECK(sk.shape() == Shape(kept));
    CHECK(m.shape() == Shape(dropped));
    CHECK(mk.shape() == Shape(kept));
    const int64_t n0 = dropped[0], n1 = dropped[1];
    for (int64_t i0 = 0; i0 < n0; ++i0)
      for (int64_t i1 = 0; i1 < n1; ++i1) {
        const double r = ref_sum(axis, i0, i1);
        CHECK(s.value()[i0 * n1 + i1] == doctest::Approx(r));
        CHECK(sk.value()[i0 * n1 + i1] == doctest::Approx(r));
        CHECK(m.value()[i0 * n1 + i1] == doctest::Approx(r / static_cast<double>(x.dim(axis))));
      }
  }
  CHECK_THROWS_AS(sum(constant(x), 3), bilevel::internal_error);
  CHECK_THROWS_AS(mean(constant(x), -4), bilevel::internal_error);
}

TEST_CASE("unary ops: values, stability at large arguments and subgradients at kinks") {
  const Tensor x = Tensor::vector({-2.0f, -0.5f, 0.0f, 0.5f, 3.0f});
  const Var c = constant(x);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = x[i];
    CHECK(exp(c).value()[i] == doctest::Approx(std::exp(v)));
    CHECK(tanh(c).value()[i] == doctest::Approx(std::tanh(v)));
    CHECK(sigmoid(c).value()[i] == doctest::Approx(1 / (1 + std::exp(-v))));
    CHECK(relu(c).value()[i] == doctest::Approx(v > 0 ? v : 0));
    CHECK(softplus(c).value()[i] == doctest::Approx(std::log1p(std::exp(v))));
    CHECK(sin(c).value()[i] == doctest::Approx(std::sin(v)));
    CHECK(cos(c).value()[i] == doctest::Approx(std::cos(v)));
    CHECK(square(c).value()[i] == doctest::Approx(v * v));
    CHECK(abs(c).value()[i] == doctest::Approx(std::abs(v)));
    CHECK(neg(c).value()[i] == doctest::Approx(-v));
    CHECK(scale(c, real(2.5)).value()[i] == doctest::Approx(2.5 * v));
    CHECK(add_scalar(c, real(-1.5)).value()[i] == doctest::Approx(v - 1.5));
    CHECK(pow(c, real(3)).value()[i] == doctest::Approx(v * v * v));
  }
  const Var pos = constant(Tensor::vector({0.25f, 1.0f, 4.0f}));
  CHECK(log(pos).value()[2] == doctest::Approx(std::log(4.0)));
  CHECK(sqrt(pos).value()[0] == doctest::Approx(0.5));
  CHECK(pow(pos, real(-1.5)).value()[0] == doctest::Approx(8.0));

  // Large arguments: no overflow to inf or nan.
  const Var big = constant(Tensor::vector({-200.0f, -50.0f, 50.0f, 200.0f}));
  CHECK(sigmoid(big).value().all_finite());
  CHECK(sigmoid(big).value()[0] == doctest::Approx(0.0));
  CHECK(sigmoid(big).value()[3] == doctest::Approx(1.0));
  CHECK(softplus(big).value().all_finite());
  CHECK(softplus(big).value()[3] == doctest::Approx(200.0));
  CHECK(softplus(big).value()[0] >= 0);
  CHECK(softplus(big).value()[0] < 1e-20);

  // Documented subgradients at the kink: relu'(0) = 0, abs'(0) = 0.
  Var z = leaf(Tensor::vector({0.0f, 0.0f}));
  CHECK(grad(sum(relu(z)), {z})[0].value()[0] == 0);
  CHECK(grad(sum(abs(z)), {z})[0].value()[1] == 0);
  // pow with p = 0 and p = 1.
  Var w = leaf(Tensor::vector({2.0f, -3.0f}));
  CHECK(grad(sum(pow(w, real(0))), {w})[0].value()[0] == 0);
  CHECK(grad(sum(pow(w, real(1))), {w})[0].value()[1] == doctest::Approx(1.0));
  CHECK(grad(sum(pow(w, real(2))), {w})[0].value()[1] == doctest::Approx(-6.0));
}

TEST_CASE("matmul: values for all four transpose flags, and transpose") {
  const int64_t m = 3, k = 4, n = 2;
  const Tensor a = randn(Shape{m, k}, 6), b = randn(Shape{k, n}, 7);
  const Tensor at = transpose(constant(a)).value(), bt = transpose(constant(b)).value();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j) REQUIRE(at[j * m + i] == a[i * k + j]);
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      INFO("trans_a " << ta << ", trans_b " << tb);
      const Var c = matmul(constant(ta ? at : a), constant(tb ? bt : b), ta != 0, tb != 0);
      REQUIRE(c.shape() == Shape({m, n}));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double r = 0;
          for (int64_t p = 0; p < k; ++p) r += a[i * k + p] * b[p * n + j];
          CHECK(c.value()[i * n + j] == doctest::Approx(r));
        }
    }
}

TEST_CASE("shape ops: reshape, view, embed, slice_rows, concat, gather, scatter_add values") {
  const Tensor x = randn(Shape{4, 3}, 8);
  const Var cx = constant(x);
  CHECK(reshape(cx, Shape{2, 6}).value().to_vector() == x.to_vector());
  CHECK(flatten(cx).shape() == Shape{12});
  const Var v = view(cx, 5, Shape{2, 2});
  for (int64_t i = 0; i < 4; ++i) CHECK(v.value()[i] == x[5 + i]);
  const Var e = embed(v, 3, Shape{3, 3});
  for (int64_t i = 0; i < 9; ++i) CHECK(e.value()[i] == (i >= 3 && i < 7 ? x[5 + i - 3] : real(0)));
  const Var s = slice_rows(cx, 1, 3);
  CHECK(s.shape() == Shape({2, 3}));
  for (int64_t i = 0; i < 6; ++i) CHECK(s.value()[i] == x[3 + i]);
  CHECK(slice_rows(cx, 2, 2).shape() == Shape({0, 3}));

  const Tensor y = randn(Shape{4, 2}, 9);
  const Var c0 = concat({cx, slice_rows(cx, 0, 1)}, 0);
  CHECK(c0.shape() == Shape({5, 3}));
  for (int64_t i = 0; i < 3; ++i) CHECK(c0.value()[12 + i] == x[i]);
  const Var c1 = concat({cx, constant(y)}, 1);
  REQUIRE(c1.shape() == Shape({4, 5}));
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 5; ++j) CHECK(c1.value()[i * 5 + j] == (j < 3 ? x[i * 3 + j] : y[i * 2 + j - 3]));

  const auto idx = indices({0, 11, 11, 4});
  const Var g = gather(cx, idx, Shape{2, 2});
  CHECK(g.value().to_vector() == std::vector<real>{x[0], x[11], x[11], x[4]});
  const Var sa = scatter_add(g, idx, Shape{4, 3});
  CHECK(sa.value()[11] == doctest::Approx(2 * x[11]));
  CHECK(sa.value()[0] == x[0]);
  CHECK(sa.value()[1] == 0);
}

TEST_CASE("log_softmax, softmax and the cross-entropies: values") {
  const Tensor z = randn(Shape{3, 4}, 10, 2.0);
  const Var ls = log_softmax(constant(z)), sm = softmax(constant(z));
  for (int64_t i = 0; i < 3; ++i) {
    double lse = 0, total = 0;
    for (int64_t j = 0; j < 4; ++j) lse += std::exp(static_cast<double>(z[i * 4 + j]));
    lse = std::log(lse);
    for (int64_t j = 0; j < 4; ++j) {
      CHECK(ls.value()[i * 4 + j] == doctest::Approx(z[i * 4 + j] - lse));
      total += sm.value()[i * 4 + j];
    }
    CHECK(total == doctest::Approx(1.0));
  }
  // Large logits: stable.
  const Var lbig = log_softmax(constant(Tensor(Shape{1, 3}, {1000.0f, 0.0f, -1000.0f})));
  CHECK(lbig.value().all_finite());
  CHECK(lbig.value()[0] == doctest::Approx(0.0));

  const std::vector<int64_t> labels{2, 0, 3};
  const Tensor w = Tensor::vector({0.5f, 2.0f, 1.5f});
  const Var pe = per_example_cross_entropy(constant(z), labels);
  REQUIRE(pe.shape() == Shape{3});
  double plain = 0, weighted = 0;
  for (int64_t i = 0; i < 3; ++i) {
    const double li = -ls.value()[i * 4 + labels[static_cast<size_t>(i)]];
    CHECK(pe.value()[i] == doctest::Approx(li));
    plain += li;
    weighted += w[i] * li;
  }
  CHECK(softmax_cross_entropy(constant(z), labels).item() == doctest::Approx(plain / 3));
  CHECK(softmax_cross_entropy(constant(z), labels, constant(w)).item() == doctest::Approx(weighted / 3));
  CHECK(softmax_cross_entropy(constant(z), labels, constant(w), true).item() == doctest::Approx(weighted));
  CHECK(softmax_cross_entropy(constant(z), labels, Var(), true).item() == doctest::Approx(plain));

  const Tensor p = randn(Shape{2, 3}, 11), t = randn(Shape{2, 3}, 12);
  double se = 0;
  for (int64_t i = 0; i < 6; ++i) se += (p[i] - t[i]) * (p[i] - t[i]);
  CHECK(mse(constant(p), constant(t)).item() == doctest::Approx(se / 6));
}

TEST_CASE("regression: log_softmax and softmax of a (B, 0) tensor are empty, not a read of element 0") {
  // log_softmax used to read the first element of every row to find its maximum, which for zero
  // classes dereferenced the null buffer of an empty tensor.
  Var z = leaf(Tensor(Shape{3, 0}));
  const Var ls = log_softmax(z);
  CHECK(ls.shape() == Shape({3, 0}));
  CHECK(softmax(z).shape() == Shape({3, 0}));
  CHECK(grad(sum(ls), {z})[0].shape() == Shape({3, 0}));
}

TEST_CASE("conv2d matches a naive NHWC convolution; im2col and col2im are adjoint") {
  const int64_t n = 2, h = 5, w = 4, c = 3, f = 2, kh = 3, kw = 2;
  const Tensor x = randn(Shape{n, h, w, c}, 13), wt = randn(Shape{f, kh, kw, c}, 14), b = randn(Shape{f}, 15);
  for (int64_t stride : {1, 2})
    for (int64_t pad : {0, 1}) {
      INFO("stride " << stride << ", pad " << pad);
      const Conv2dParams p{stride, pad};
      const Var y = conv2d(constant(x), constant(wt), constant(b), p);
      const int64_t oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
      REQUIRE(y.shape() == Shape({n, oh, ow, f}));
      for (int64_t in = 0; in < n; ++in)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox)
            for (int64_t of = 0; of < f; ++of) {
              double r = b[of];
              for (int64_t ky = 0; ky < kh; ++ky)
                for (int64_t kx = 0; kx < kw; ++kx)
                  for (int64_t ic = 0; ic < c; ++ic) {
                    const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                    r += static_cast<double>(x[((in * h + iy) * w + ix) * c + ic]) *
                         wt[((of * kh + ky) * kw + kx) * c + ic];
                  }
              CHECK(y.value()[((in * oh + oy) * ow + ox) * f + of] == doctest::Approx(r));
            }
      const Var cols = im2col(constant(x), kh, kw, p);
      const Tensor r = randn(cols.shape(), 16);
      const Var back = col2im(constant(r), x.shape(), kh, kw, p);
      CHECK(dot(cols.value(), r) == doctest::Approx(dot(x, back.value())));
      // col2im gathers each pixel's taps: the very bits of adding the columns row after row onto zeros.
      std::vector<real> scatter(static_cast<size_t>(x.numel()), real(0));
      for (int64_t row = 0; row < cols.shape()[0]; ++row) {
        const int64_t in = row / (oh * ow), oy = row / ow % oh, ox = row % ow;
        for (int64_t ky = 0; ky < kh; ++ky)
          for (int64_t kx = 0; kx < kw; ++kx) {
            const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            for (int64_t ic = 0; ic < c; ++ic) {
              scatter[static_cast<size_t>(((in * h + iy) * w + ix) * c + ic)] += r[(row * kh * kw + ky * kw + kx) * c + ic];
            }
          }
      }
      for (int64_t i = 0; i < x.numel(); ++i) REQUIRE(back.value()[i] == scatter[static_cast<size_t>(i)]);
    }
  // A stride larger than the kernel leaves pixels no tap reaches: col2im gives them zeros.
  {
    const Conv2dParams p3{3, 0};
    const Var cols = im2col(constant(x), 2, 2, p3);
    const Var back = col2im(constant(randn(cols.shape(), 18)), x.shape(), 2, 2, p3);
    for (int64_t in = 0; in < n; ++in)
      for (int64_t ic = 0; ic < c; ++ic) {
        CHECK(back.value()[((in * h + 2) * w + 2) * c + ic] == real(0));
        CHECK(back.value()[((in * h + 1) * w + 1) * c + ic] != real(0));
      }
  }
  // The 1×1, stride-1, pad-0 shortcut agrees with a matmul over channels.
  const Tensor w1 = randn(Shape{f, 1, 1, c}, 17);
  const Var y1 = conv2d(constant(x), constant(w1), Var(), Conv2dParams{});
  const Var ref = matmul(reshape(constant(x), Shape{n * h * w, c}), reshape(constant(w1), Shape{f, c}), false, true);
  CHECK(max_abs_diff(y1.value(), ref.value()) < value_tol());
}

TEST_CASE("max_pool2x2: values, floor on odd sizes, gradient to the first of tied elements") {
  const Tensor x = randn(Shape{2, 5, 3, 2}, 18);
  const Var y = max_pool2x2(constant(x));
  REQUIRE(y.shape() == Shape({2, 2, 1, 2}));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t oy = 0; oy < 2; ++oy)
      for (int64_t ch = 0; ch < 2; ++ch) {
        real m = -1e30f;
        for (int64_t dy = 0; dy < 2; ++dy)
          for (int64_t dx = 0; dx < 2; ++dx) m = std::max(m, x[((b * 5 + 2 * oy + dy) * 3 + dx) * 2 + ch]);
        CHECK(y.value()[(b * 2 + oy) * 2 + ch] == m);
      }
  Var t = leaf(Tensor(Shape{1, 2, 2, 1}, real(1)));
  const Tensor g = grad(sum(max_pool2x2(t)), {t})[0].value();
  CHECK(g.to_vector() == std::vector<real>{1, 0, 0, 0});
}

TEST_CASE("batch_norm: per-channel zero mean and unit variance, then gamma and beta") {
  const Tensor x = randn(Shape{4, 3, 2, 3}, 19, 3.0);
  const Tensor gamma = Tensor::vector({1.0f, 2.0f, 0.5f}), beta = Tensor::vector({0.0f, -1.0f, 3.0f});
  const Var y = batch_norm(constant(x), constant(gamma), constant(beta));
  REQUIRE(y.shape() == x.shape());
  const int64_t m = 4 * 3 * 2;
  for (int64_t ch = 0; ch < 3; ++ch) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < m; ++i) {
      const double z = (y.value()[i * 3 + ch] - beta[ch]) / gamma[ch];
      s += z;
      s2 += z * z;
    }
    CHECK(s / m == doctest::Approx(0.0).epsilon(1e-4).scale(1.0));
    CHECK(s2 / m == doctest::Approx(1.0).epsilon(1e-3));
  }
}

// =====================================================================================================
// Finite-difference checks (double build)
// =====================================================================================================
#ifdef BILEVEL_DOUBLE

namespace {

// First order (Jacobian) and second order (H·v of a random quadratic read-out) of f at xs.
void check_op(const gc::Fn& f, const std::vector<Tensor>& xs, const gc::Options& o = {}) {
  CHECK_GRADCHECK(gc::check_jacobian(f, xs, o));
  CHECK_GRADCHECK(gc::check_second_order(f, xs, o));
}

// For scalar-valued ops: also the op's own Hessian, without a read-out.
void check_scalar_op(const gc::Fn& f, const std::vector<Tensor>& xs, const gc::Options& o = {}) {
  CHECK_GRADCHECK(gc::check_gradient(f, xs, o));
  CHECK_GRADCHECK(gc::check_hvp(f, xs, o));
  CHECK_GRADCHECK(gc::check_second_order(f, xs, o));
}

}  // namespace

TEST_CASE("gradcheck: binary ops with broadcasting (add, sub, mul, div)") {
  const std::vector<std::pair<Shape, Shape>> patterns = {
      {{2, 3}, {2, 3}},          // same shape
      {{2, 3}, {}},              // scalar right
      {{}, {2, 3}},              // scalar left
      {{2, 3}, {3}},             // row, lower rank
      {{2, 3}, {1, 3}},          // row, same rank
      {{2, 3}, {2, 1}},          // column
      {{2, 1}, {1, 3}},          // outer
      {{3}, {2, 3}},             // row on the left
      {{2, 3, 4}, {3, 4}},       // leading dim
      {{2, 1, 3, 2}, {4, 1, 2}}, // rank 4 against rank 3, both broadcast
      {{3, 1, 4}, {2, 1, 1, 4}}, // leading dims on the right operand
  };
  using BinOp = Var (*)(const Var&, const Var&);
  const std::vector<std::pair<const char*, BinOp>> ops = {{"add", add}, {"sub", sub}, {"mul", mul}, {"div", div}};
  uint64_t seed = 100;
  for (const auto& [name, op] : ops) {
    for (const auto& [sa, sb] : patterns) {
      INFO(name << ": a " << sa.str() << ", b " << sb.str());
      const Tensor a = randn(sa, ++seed);
      // Denominators bounded away from zero, both signs.
      const Tensor b = gc::nudge_off_kinks(randu(sb, ++seed, -2.0, 2.0), 0.5);
      auto f = [op](const std::vector<Var>& in) { return op(in[0], in[1]); };
      check_op(f, {a, b});
    }
  }
}

TEST_CASE("gradcheck: scalar and unary ops") {
  const Tensor x = randn(Shape{2, 3}, 200);
  const Tensor pos = randu(Shape{2, 3}, 201, 0.3, 2.0);
  const Tensor off_kink = gc::nudge_off_kinks(randn(Shape{2, 3}, 202), 0.05);
  SUBCASE("neg") { check_op(gc::unary([](const Var& v) { return neg(v); }), {x}); }
  SUBCASE("scale") { check_op(gc::unary([](const Var& v) { return scale(v, real(-1.7)); }), {x}); }
  SUBCASE("add_scalar") { check_op(gc::unary([](const Var& v) { return add_scalar(v, real(0.3)); }), {x}); }
  SUBCASE("exp") { check_op(gc::unary([](const Var& v) { return exp(v); }), {x}); }
  SUBCASE("log") { check_op(gc::unary([](const Var& v) { return log(v); }), {pos}); }
  SUBCASE("tanh") { check_op(gc::unary([](const Var& v) { return tanh(v); }), {scaled(x, 1.5)}); }
  SUBCASE("sigmoid") { check_op(gc::unary([](const Var& v) { return sigmoid(v); }), {scaled(x, 2.0)}); }
  SUBCASE("relu") { check_op(gc::unary([](const Var& v) { return relu(v); }), {off_kink}); }
  SUBCASE("softplus") { check_op(gc::unary([](const Var& v) { return softplus(v); }), {scaled(x, 3.0)}); }
  SUBCASE("sin") { check_op(gc::unary([](const Var& v) { return sin(v); }), {x}); }
  SUBCASE("cos") { check_op(gc::unary([](const Var& v) { return cos(v); }), {x}); }
  SUBCASE("square") { check_op(gc::unary([](const Var& v) { return square(v); }), {x}); }
  SUBCASE("sqrt") { check_op(gc::unary([](const Var& v) { return sqrt(v); }), {pos}); }
  SUBCASE("abs") { check_op(gc::unary([](const Var& v) { return abs(v); }), {off_kink}); }
  SUBCASE("pow, integer exponent, negative inputs") {
    check_op(gc::unary([](const Var& v) { return pow(v, real(3)); }), {x});
    check_op(gc::unary([](const Var& v) { return pow(v, real(2)); }), {x});
  }
  SUBCASE("pow, fractional and negative exponents") {
    check_op(gc::unary([](const Var& v) { return pow(v, real(2.5)); }), {pos});
    check_op(gc::unary([](const Var& v) { return pow(v, real(-1.5)); }), {pos});
    check_op(gc::unary([](const Var& v) { return pow(v, real(0.5)); }), {pos});
  }
  SUBCASE("pow, exponents 0 and 1") {
    check_op(gc::unary([](const Var& v) { return pow(v, real(1)); }), {x});
    check_op(gc::unary([](const Var& v) { return pow(v, real(0)); }), {x});
  }
  SUBCASE("operators") {
    auto f = [](const std::vector<Var>& in) {
      const Var& a = in[0];
      const Var& b = in[1];
      return (2.0 * a - b / 3.0 + 1.0) * (a / (b * b + 1.0)) - (0.5 - a);
    };
    check_op(f, {x, randn(Shape{3}, 203)});
  }
}

TEST_CASE("gradcheck: reductions (sum, mean, sum_to, broadcast_to, dot)") {
  const Tensor x = randn(Shape{2, 3, 4}, 300);
  SUBCASE("sum and mean of all elements") {
    check_op(gc::unary([](const Var& v) { return sum(v); }), {x});
    check_op(gc::unary([](const Var& v) { return mean(v); }), {x});
  }
  SUBCASE("sum and mean per axis, keepdim or not") {
    for (int axis : {0, 1, 2, -1, -3}) {
      for (bool keep : {false, true}) {
        INFO("axis " << axis << ", keepdim " << keep);
        check_op(gc::unary([axis, keep](const Var& v) { return sum(v, axis, keep); }), {x});
        check_op(gc::unary([axis, keep](const Var& v) { return mean(v, axis, keep); }), {x});
      }
    }
    check_op(gc::unary([](const Var& v) { return sum(v, 0); }), {randn(Shape{5}, 301)});  // rank 1 → scalar
  }
  SUBCASE("sum_to") {
    for (const Shape& to : {Shape{3, 4}, Shape{1, 4}, Shape{2, 1, 4}, Shape{3, 1}, Shape{}, Shape{1, 1, 1}, Shape{2, 3, 1}}) {
      INFO("to " << to.str());
      check_op(gc::unary([to](const Var& v) { return sum_to(v, to); }), {x});
    }
  }
  SUBCASE("broadcast_to") {
    const std::vector<std::pair<Shape, Shape>> cases = {
        {{3, 1}, {2, 3, 4}}, {{4}, {2, 3, 4}}, {{}, {2, 3}}, {{1, 3, 1}, {2, 3, 4}}, {{5, 1}, {2, 2, 5, 3}}};
    for (const auto& [from, to] : cases) {
      INFO(from.str() << " → " << to.str());
      const Shape t = to;
      check_op(gc::unary([t](const Var& v) { return broadcast_to(v, t); }), {randn(from, 302)});
    }
  }
  SUBCASE("dot") {
    auto f = [](const std::vector<Var>& in) { return dot(in[0], in[1]); };
    check_scalar_op(f, {randn(Shape{2, 3}, 303), randn(Shape{6}, 304)});
  }
}

TEST_CASE("gradcheck: matmul with all four transpose flags, and transpose") {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      INFO("trans_a " << ta << ", trans_b " << tb);
      const int64_t m = 3, k = 4, n = 2;
      const Tensor a = randn(ta ? Shape{k, m} : Shape{m, k}, 400 + static_cast<uint64_t>(2 * ta + tb));
      const Tensor b = randn(tb ? Shape{n, k} : Shape{k, n}, 410 + static_cast<uint64_t>(2 * ta + tb));
      auto f = [ta, tb](const std::vector<Var>& in) { return matmul(in[0], in[1], ta != 0, tb != 0); };
      check_op(f, {a, b});
      // Larger shapes: random projections instead of the full Jacobian.
      const Tensor A = randn(ta ? Shape{20, 12} : Shape{12, 20}, 420);
      const Tensor B = randn(tb ? Shape{9, 20} : Shape{20, 9}, 421);
      check_op(f, {A, B});
    }
  check_op(gc::unary([](const Var& v) { return transpose(v); }), {randn(Shape{3, 4}, 430)});
  // The same Var on both sides: the two gradient contributions add up.
  check_op(gc::unary([](const Var& v) { return matmul(v, v, true, false); }), {randn(Shape{3, 2}, 431)});
}

TEST_CASE("gradcheck: shape ops (reshape, flatten, view, embed, embed_add, slice_rows, concat, gather, scatter_add)") {
  SUBCASE("reshape and flatten") {
    check_op(gc::unary([](const Var& v) { return reshape(v, Shape{3, 4}); }), {randn(Shape{2, 6}, 500)});
    check_op(gc::unary([](const Var& v) { return reshape(v, Shape{12}); }), {randn(Shape{2, 3, 2}, 501)});
    check_op(gc::unary([](const Var& v) { return flatten(v); }), {randn(Shape{2, 3, 2}, 502)});
  }
  SUBCASE("view and embed") {
    check_op(gc::unary([](const Var& v) { return view(v, 3, Shape{2, 4}); }), {randn(Shape{20}, 503)});
    check_op(gc::unary([](const Var& v) { return view(v, 0, Shape{3, 2}); }), {randn(Shape{3, 3}, 504)});
    check_op(gc::unary([](const Var& v) { return embed(v, 4, Shape{3, 5}); }), {randn(Shape{2, 3}, 505)});
    // embed_add, which the sweep uses to sum gradients of views when it records a graph.
    auto ea = [](const std::vector<Var>& in) { return embed_add(in[0], in[1], 2); };
    check_op(ea, {randn(Shape{3, 3}, 519), randn(Shape{4}, 520)});
    // Parameters read from one flat vector, as models do.
    auto model = [](const Var& th) { return matmul(view(th, 0, Shape{2, 3}), view(th, 6, Shape{3, 2})); };
    check_op(gc::unary(model), {randn(Shape{13}, 506)});
  }
  SUBCASE("slice_rows") {
    check_op(gc::unary([](const Var& v) { return slice_rows(v, 1, 4); }), {randn(Shape{5, 3}, 507)});
    check_op(gc::unary([](const Var& v) { return slice_rows(v, 2, 4); }), {randn(Shape{4, 2, 3}, 508)});
  }
  SUBCASE("concat along axis 0 and 1") {
    auto f0 = [](const std::vector<Var>& in) { return concat(in, 0); };
    check_op(f0, {randn(Shape{2, 3}, 509), randn(Shape{1, 3}, 510), randn(Shape{3, 3}, 511)});
    auto f1 = [](const std::vector<Var>& in) { return concat(in, 1); };
    check_op(f1, {randn(Shape{2, 3}, 512), randn(Shape{2, 1}, 513), randn(Shape{2, 2}, 514)});
    // A constant among the inputs.
    const Tensor c = randn(Shape{2, 2}, 515);
    auto fc = [c](const std::vector<Var>& in) { return concat({constant(c), in[0]}, -1); };
    check_op(fc, {randn(Shape{2, 3}, 516)});
  }
  SUBCASE("gather and scatter_add with repeated indices") {
    const auto gi = indices({0, 5, 5, 11, 2, 0});
    check_op(gc::unary([gi](const Var& v) { return gather(v, gi, Shape{2, 3}); }), {randn(Shape{3, 4}, 517)});
    const auto si = indices({7, 1, 7, 0, 11, 1});
    check_op(gc::unary([si](const Var& v) { return scatter_add(v, si, Shape{3, 4}); }), {randn(Shape{2, 3}, 518)});
  }
}

TEST_CASE("gradcheck: log_softmax, softmax, cross-entropies and mse") {
  const Tensor z = randn(Shape{4, 5}, 600, 1.5);
  const std::vector<int64_t> labels{1, 0, 4, 2};
  SUBCASE("log_softmax and softmax") {
    check_op(gc::unary([](const Var& v) { return log_softmax(v); }), {z});
    check_op(gc::unary([](const Var& v) { return softmax(v); }), {z});
  }
  SUBCASE("softmax_cross_entropy without weights, mean and sum") {
    check_scalar_op(gc::unary([labels](const Var& v) { return softmax_cross_entropy(v, labels); }), {z});
    check_scalar_op(gc::unary([labels](const Var& v) { return softmax_cross_entropy(v, labels, Var(), true); }),
                    {z});
  }
  SUBCASE("softmax_cross_entropy with constant weights") {
    const Tensor w = randu(Shape{4}, 601, 0.2, 2.0);
    check_scalar_op(gc::unary([labels, w](const Var& v) { return softmax_cross_entropy(v, labels, constant(w)); }),
                    {z});
  }
  SUBCASE("softmax_cross_entropy, differentiated in logits and weights (incl. the mixed block)") {
    // 20 + 4 inputs ≤ full_hessian_limit: H·eⱼ for every j covers ∂²/∂z², ∂²/∂z∂w and ∂²/∂w² (= 0).
    const Tensor w = randn(Shape{4}, 602);  // negative weights too: the loss is linear in w
    for (bool sum_red : {false, true}) {
      INFO("sum_reduction " << sum_red);
      auto f = [labels, sum_red](const std::vector<Var>& in) {
        return softmax_cross_entropy(in[0], labels, in[1], sum_red);
      };
      check_scalar_op(f, {z, w});
      // Weights only: the loss is linear in w (zero Hessian), its gradient the per-example losses.
      const Tensor zc = z;
      auto fw = [labels, zc, sum_red](const std::vector<Var>& in) {
        return softmax_cross_entropy(constant(zc), labels, in[0], sum_red);
      };
      check_scalar_op(fw, {w});
    }
  }
  SUBCASE("per_example_cross_entropy") {
    check_op(gc::unary([labels](const Var& v) { return per_example_cross_entropy(v, labels); }), {z});
  }
  SUBCASE("mse in both arguments") {
    auto f = [](const std::vector<Var>& in) { return mse(in[0], in[1]); };
    check_scalar_op(f, {randn(Shape{3, 2}, 603), randn(Shape{3, 2}, 604)});
  }
}

TEST_CASE("gradcheck: im2col, col2im and conv2d") {
  const Tensor x = randn(Shape{1, 4, 4, 2}, 700);
  for (int64_t stride : {1, 2})
    for (int64_t pad : {0, 1}) {
      INFO("stride " << stride << ", pad " << pad);
      const Conv2dParams p{stride, pad};
      check_op(gc::unary([p](const Var& v) { return im2col(v, 3, 3, p); }), {x});
      check_op(gc::unary([p](const Var& v) { return im2col(v, 2, 3, p); }), {x});
      const Shape xs = x.shape();
      Shape cols_shape;
      {
        NoGradGuard ng;
        cols_shape = im2col(constant(x), 3, 3, p).shape();
      }
      check_op(gc::unary([p, xs](const Var& c) { return col2im(c, xs, 3, 3, p); }), {randn(cols_shape, 701)});

      const Tensor w = randn(Shape{2, 3, 3, 2}, 702), b = randn(Shape{2}, 703);
      auto with_bias = [p](const std::vector<Var>& in) { return conv2d(in[0], in[1], in[2], p); };
      auto no_bias = [p](const std::vector<Var>& in) { return conv2d(in[0], in[1], Var(), p); };
      check_op(with_bias, {x, w, b});
      check_op(no_bias, {x, w});
      // Non-square kernel.
      check_op(no_bias, {x, randn(Shape{2, 2, 3, 2}, 704)});
    }
  SUBCASE("1×1 kernel (the reshape shortcut)") {
    auto f = [](const std::vector<Var>& in) { return conv2d(in[0], in[1], in[2], Conv2dParams{}); };
    check_op(f, {x, randn(Shape{3, 1, 1, 2}, 705), randn(Shape{3}, 706)});
  }
  SUBCASE("larger shapes (random projections)") {
    auto f = [](const std::vector<Var>& in) { return conv2d(in[0], in[1], in[2], Conv2dParams{2, 1}); };
    check_op(f, {randn(Shape{2, 7, 6, 3}, 707), randn(Shape{4, 3, 3, 3}, 708), randn(Shape{4}, 709)});
  }
}

TEST_CASE("gradcheck: max_pool2x2 and batch_norm") {
  SUBCASE("max_pool2x2 on values without near-ties") {
    Rng rng(800);
    check_op(gc::unary([](const Var& v) { return max_pool2x2(v); }), {gc::distinct_values(Shape{1, 4, 4, 2}, rng)});
    check_op(gc::unary([](const Var& v) { return max_pool2x2(v); }), {gc::distinct_values(Shape{2, 5, 3, 1}, rng)});
  }
  SUBCASE("batch_norm, 2-D and 4-D input") {
    auto f = [](const std::vector<Var>& in) { return batch_norm(in[0], in[1], in[2]); };
    check_op(f, {randn(Shape{5, 3}, 801), randn(Shape{3}, 802), randn(Shape{3}, 803)});
    check_op(f, {randn(Shape{2, 3, 2, 2}, 804), randn(Shape{2}, 805), randn(Shape{2}, 806)});
  }
  SUBCASE("conv → relu → max-pool → batch-norm → cross-entropy, nudged off kinks") {
    Rng rng(807);
    const Tensor x = gc::distinct_values(Shape{2, 4, 4, 1}, rng, 0.1);
    const Tensor w = randn(Shape{2, 3, 3, 1}, 808);
    const Tensor gamma = randu(Shape{2}, 809, 0.5, 1.5), beta = randn(Shape{2}, 810);
    auto f = [](const std::vector<Var>& in) {
      Var h = max_pool2x2(relu(conv2d(in[0], in[1], Var(), Conv2dParams{1, 1})));
      h = batch_norm(h, in[2], in[3]);
      return softmax_cross_entropy(reshape(h, Shape{2, 8}), {3, 6});
    };
    gc::Options o;
    o.eps = o.eps_hvp = 1e-6;  // keep the steps small against the distance to the nearest kink
    const gc::Result r1 = gc::check_gradient(f, {x, w, gamma, beta}, o);
    const gc::Result r2 = gc::check_hvp(f, {x, w, gamma, beta}, o);
    // If a seed lands too close to a kink the guard says so; that is a test-data problem, not a pass.
    CHECK_GRADCHECK(r1);
    CHECK_GRADCHECK(r2);
  }
}

TEST_CASE("gradcheck helpers: a wrong backward is caught, and so is a crossed kink") {
  // A hand-made op whose backward is off by a factor of two must fail both checks.
  auto wrong = [](const Var& v) {
    static constexpr Op<> op({.name = "wrong_square", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                                gi[0] = mul(g, o.node()->inputs[0]);
                              }});
    return make_op(op, square(v).value(), {v});
  };
  const Tensor x = randn(Shape{3}, 900);
  CHECK_FALSE(gc::check_jacobian(wrong, x).ok);
  CHECK_FALSE(gc::check_second_order(wrong, x).ok);
  // Correct first order but wrong second order: backward uses a constant copy of x.
  auto flat_backward = [](const Var& v) {
    static constexpr Op<> op(
        {.name = "square_const_backward", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
           gi[0] = mul(g, constant(scaled(o.node()->inputs[0].value(), 2)));
         }});
    return make_op(op, square(v).value(), {v});
  };
  CHECK(gc::check_jacobian(flat_backward, x).ok);
  CHECK_FALSE(gc::check_second_order(flat_backward, x).ok);
  // relu at inputs on the kink: the kink guard flags the check as not smooth.
  const Tensor on_kink = Tensor::vector({0.0, 1.0, -1.0});
  gc::Result r = gc::check_jacobian([](const Var& v) { return relu(v); }, on_kink);
  CHECK_FALSE(r.smooth);
  CHECK_FALSE(r.ok);
  // Projections are used on larger shapes and catch the bug too.
  const Tensor big = randn(Shape{300}, 901);
  r = gc::check_jacobian(wrong, big);
  CHECK(r.compared == gc::Options{}.projections);
  CHECK_FALSE(r.ok);
}

#else  // float build: a reduced variant with loose tolerances, first and second order of smooth ops.

TEST_CASE("gradcheck (float, reduced): smooth ops with loose tolerances") {
  const Tensor a = randn(Shape{3, 4}, 1000), b = randn(Shape{4}, 1001), w = randn(Shape{4, 2}, 1002);
  auto f = [](const std::vector<Var>& in) {
    return softmax_cross_entropy(matmul(tanh(mul(in[0], in[1])), in[2]), {1, 0, 1});
  };
  CHECK_GRADCHECK(gc::check_gradient(f, {a, b, w}));
  CHECK_GRADCHECK(gc::check_hvp(f, {a, b, w}));
  auto g = [](const std::vector<Var>& in) { return div(sigmoid(in[0]), add_scalar(exp(in[1]), real(1))); };
  CHECK_GRADCHECK(gc::check_jacobian(g, {a, b}));
}

#endif
