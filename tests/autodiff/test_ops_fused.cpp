// Tests of the fused ops of lib/autodiff/ops_fused.cpp. The fused linear + softmax cross-entropy: values, gradients and
// Hessian-vector products against the unfused composition softmax_cross_entropy(x·W + b) (both builds), the same
// bits for any thread count, and (double build) finite-difference checks of the first, second and third order —
// the third order differentiates the backward rules' own graph (the composed path taken when create_graph is on).
#include <doctest/doctest.h>
#include <oneapi/tbb/task_arena.h>

#include <array>
#include <cstring>
#include <vector>

#include "autodiff/ops.hpp"
#include "base/errors.hpp"
#include "gradcheck.hpp"
#include "tensor/gemm_small.hpp"
#include "tensor/rng.hpp"

using namespace bilevel;
using namespace bilevel::ad;
namespace gc = bilevel::gradcheck;

namespace {

using gc::randn;

std::vector<int64_t> random_labels(int64_t b, int64_t c, uint64_t seed) {
  Rng r(seed, {12});
  std::vector<int64_t> y(static_cast<size_t>(b));
  for (auto& v : y) v = r.randint(c);
  return y;
}

// The unfused reference: softmax_cross_entropy(x·W + b).
Var composed(const Var& x, const Var& params, const std::vector<int64_t>& labels, const Var& w, bool sum_red) {
  const int64_t d = x.shape()[1], c = params.numel() / (d + 1);
  return softmax_cross_entropy(add(matmul(x, view(params, 0, Shape{d, c})), view(params, d * c, Shape{c})), labels, w,
                               sum_red);
}

// Splits every pass into blocks of one row while alive (the blocks follow the split grain).
struct SmallGrain {
  int64_t saved = gemm_detail::split_grain_value();
  explicit SmallGrain(int64_t g) { gemm_detail::set_split_grain(g); }
  ~SmallGrain() { gemm_detail::set_split_grain(saved); }
  SmallGrain(const SmallGrain&) = delete;
  SmallGrain& operator=(const SmallGrain&) = delete;
};

// Loss, ∇_θ, ∇_w and the Hessian-vector product (∇_θ⟨∇_θL, v⟩, ∇_w⟨∇_θL, v⟩) of a loss function of (θ, w).
struct Derivs {
  Tensor loss, g_theta, g_w, hv_theta, hv_w;
};
template <class F>
Derivs derivs(const F& loss_fn, const Tensor& theta, const Tensor& w, const Tensor& v) {
  Derivs out;
  const Var th = leaf(theta), wl = leaf(w);
  const Var l = loss_fn(th, wl);
  out.loss = l.value();
  const auto g = grad(l, {th, wl}, true);
  out.g_theta = g[0].value();
  out.g_w = g[1].value();
  const auto h = grad(dot(g[0], constant(v)), {th, wl});
  out.hv_theta = h[0].value();
  out.hv_w = h[1].value();
  return out;
}

void check_close(const Tensor& a, const Tensor& b, double tol) {
  REQUIRE(a.numel() == b.numel());
  double scale = 1e-3;
  for (int64_t i = 0; i < b.numel(); ++i) scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  CHECK(max_abs_diff(a, b) <= tol * scale);
}

// Loss, both gradients and both H·v parts of two computations agree.
void check_close(const Derivs& a, const Derivs& b, double tol) {
  check_close(a.loss, b.loss, tol);
  check_close(a.g_theta, b.g_theta, tol);
  check_close(a.g_w, b.g_w, tol);
  check_close(a.hv_theta, b.hv_theta, tol);
  check_close(a.hv_w, b.hv_w, tol);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() && std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(real)) == 0;
}

}  // namespace

TEST_CASE("linear_cross_entropy: loss, gradient and H·v equal the unfused composition") {
  const int64_t b = 37, d = 23, c = 5;
  const Tensor x = randn(Shape{b, d}, 1);
  const Tensor theta = randn(Shape{d * c + c}, 2, 0.3);
  const Tensor w = randn(Shape{b}, 3);  // negative weights too: the loss is linear in w
  const Tensor v = randn(Shape{d * c + c}, 4);
  const auto labels = random_labels(b, c, 5);
  const double tol = gc::is_double ? 1e-12 : 2e-5;
  for (int64_t grain : {int64_t{1} << 18, int64_t{1}, int64_t{200}}) {  // one block; one row per block; 8 rows
    SmallGrain g(grain);
    for (bool sum_red : {false, true}) {
      for (bool weighted : {false, true}) {
        INFO("grain " << grain << ", sum_reduction " << sum_red << ", weighted " << weighted);
        const Var xc = constant(x);
        auto fused = [&](const Var& th, const Var& wl) {
          return linear_cross_entropy(xc, th, labels, weighted ? wl : Var(), sum_red);
        };
        auto plain = [&](const Var& th, const Var& wl) { return composed(xc, th, labels, weighted ? wl : Var(), sum_red); };
        check_close(derivs(fused, theta, w, v), derivs(plain, theta, w, v), tol);
      }
    }
  }
}

TEST_CASE("linear_cross_entropy: the same bits on 1 and 2 threads, and without a graph") {
  // 301 × 40 × 7: 4·500/280 = 7 rows per block, 43 blocks; 97 × 300 × 8: one row per block, and a gradient of
  // 2408 elements, whose 97 partial products are summed in parallel ranges on two threads.
  for (const auto& [b, d, c] : {std::array<int64_t, 3>{301, 40, 7}, std::array<int64_t, 3>{97, 300, 8}}) {
    INFO("shape " << b << " x " << d << " x " << c);
    const Tensor x = randn(Shape{b, d}, 21);
    const Tensor theta = randn(Shape{d * c + c}, 22, 0.2);
    const Tensor w = randn(Shape{b}, 23);
    const Tensor v = randn(Shape{d * c + c}, 24);
    const auto labels = random_labels(b, c, 25);
    SmallGrain g(500);
    auto run = [&](int threads) {
      Derivs out;
      tbb::task_arena arena(threads);
      arena.execute([&] {
        out = derivs([&](const Var& th, const Var& wl) { return linear_cross_entropy(constant(x), th, labels, wl); },
                     theta, w, v);
      });
      return out;
    };
    const Derivs one = run(1), two = run(2);
    CHECK(same_bits(one.loss, two.loss));
    CHECK(same_bits(one.g_theta, two.g_theta));
    CHECK(same_bits(one.g_w, two.g_w));
    CHECK(same_bits(one.hv_theta, two.hv_theta));
    CHECK(same_bits(one.hv_w, two.hv_w));
    // The loss without any graph (evaluation) is the same number.
    NoGradGuard no_grad;
    CHECK(same_bits(linear_cross_entropy(constant(x), constant(theta), labels, constant(w)).value(), one.loss));
  }
}

TEST_CASE("linear_cross_entropy: data that requires grad falls back to the composition") {
  const Tensor x = randn(Shape{6, 4}, 31), theta = randn(Shape{4 * 3 + 3}, 32);
  const std::vector<int64_t> labels{0, 2, 1, 1, 0, 2};
  const Var xl = leaf(x), th = leaf(theta);
  const auto gf = grad(linear_cross_entropy(xl, th, labels), {xl, th});
  const Var xl2 = leaf(x), th2 = leaf(theta);
  const auto gp = grad(composed(xl2, th2, labels, Var(), false), {xl2, th2});
  CHECK(same_bits(gf[0].value(), gp[0].value()));
  CHECK(same_bits(gf[1].value(), gp[1].value()));
}

TEST_CASE("linear_cross_entropy: shape and label errors name the op") {
  const Var x = constant(Tensor(Shape{3, 4}));
  const std::vector<int64_t> labels{0, 1, 2};
  CHECK_THROWS_AS(linear_cross_entropy(x, constant(Tensor(Shape{14})), labels), internal_error);  // not C·(D+1)
  CHECK_THROWS_AS(linear_cross_entropy(x, constant(Tensor(Shape{15})), {0, 1}), internal_error);
  CHECK_THROWS_AS(linear_cross_entropy(x, constant(Tensor(Shape{15})), {0, 1, 3}), internal_error);  // C = 3
  CHECK_THROWS_AS(linear_cross_entropy(x, constant(Tensor(Shape{15})), labels, constant(Tensor(Shape{2}))),
                  internal_error);
  CHECK_THROWS_AS(linear_cross_entropy(constant(Tensor(Shape{12})), constant(Tensor(Shape{15})), labels),
                  internal_error);
  CHECK(linear_cross_entropy(x, constant(Tensor(Shape{15})), labels).item() == doctest::Approx(std::log(3.0)));
}

TEST_CASE("exp_weighted_square_sum: loss, gradients and H·v equal the composition, with and without a graph") {
  const int64_t n = 57;
  const Tensor x = randn(Shape{n}, 61), s = randn(Shape{n}, 62), v = randn(Shape{n}, 63);
  const double tol = gc::is_double ? 1e-12 : 2e-6;
  auto fused = [](const Var& a, const Var& b) { return exp_weighted_square_sum(a, b); };
  auto plain = [](const Var& a, const Var& b) { return scale(sum(mul(exp(b), square(a))), real(0.5)); };
  const Derivs f = derivs(fused, x, s, v), p = derivs(plain, x, s, v);
  check_close(f, p, tol);
  // Without a graph (the direct rules), and with a seed other than 1.
  const Var xa = leaf(x), sa = leaf(s);
  const auto g1 = grad(fused(xa, sa), {xa, sa});
  CHECK(same_bits(g1[0].value(), f.g_theta));
  check_close(g1[1].value(), p.g_w, tol);
  const auto g3 = grad({scale(fused(xa, sa), real(3))}, {constant(Tensor::scalar(real(1)))}, {xa, sa});
  check_close(g3[0].value(), scaled(p.g_theta, real(3)), tol);
  check_close(g3[1].value(), scaled(p.g_w, real(3)), tol);
  // Nothing tracked: a constant with the same value.
  const Var c = fused(constant(x), constant(s));
  CHECK_FALSE(c.requires_grad());
  CHECK(c.item() == f.loss.item());
  CHECK_THROWS_AS(fused(leaf(x), leaf(randn(Shape{n + 1}, 64))), internal_error);
}

#ifdef BILEVEL_DOUBLE
TEST_CASE("gradcheck: linear_cross_entropy, first to third order") {
  const int64_t b = 5, d = 3, c = 4, p = d * c + c;  // 16 + 5 inputs: full Hessians
  const Tensor x = randn(Shape{b, d}, 41, 1.5);
  const Tensor theta = randn(Shape{p}, 42, 0.7);
  const Tensor w = randn(Shape{b}, 43);
  const std::vector<int64_t> labels{1, 0, 3, 2, 3};
  const Tensor v = randn(Shape{p}, 44), u = randn(Shape{b}, 45);
  for (int64_t grain : {int64_t{1} << 18, int64_t{1}}) {  // one block; one row per block (parallel, summed)
    SmallGrain g(grain);
    for (bool sum_red : {false, true}) {
      INFO("grain " << grain << ", sum_reduction " << sum_red);
      const Var xc = constant(x);
      auto loss = [&](const std::vector<Var>& in) { return linear_cross_entropy(xc, in[0], labels, in[1], sum_red); };
      CHECK_GRADCHECK(gc::check_gradient(loss, {theta, w}));
      CHECK_GRADCHECK(gc::check_hvp(loss, {theta, w}));          // the fused H·v (and the mixed ∂²/∂θ∂w block)
      CHECK_GRADCHECK(gc::check_second_order(loss, {theta, w}));  // a cotangent that depends on θ and w
      auto unweighted = [&](const std::vector<Var>& in) { return linear_cross_entropy(xc, in[0], labels, Var(), sum_red); };
      CHECK_GRADCHECK(gc::check_gradient(unweighted, {theta}));
      CHECK_GRADCHECK(gc::check_hvp(unweighted, {theta}));
      // ⟨∇_θL, v⟩ and ⟨∇_wL, u⟩ as functions: their gradients are the fused backward passes of the gradient and
      // per-example-loss nodes; their Hessians differentiate the composed rules (third order of L).
      auto hv = [&](const std::vector<Var>& in) {
        const auto gr = grad(linear_cross_entropy(xc, in[0], labels, in[1], sum_red), {in[0]}, true);
        return dot(gr[0], constant(v));
      };
      CHECK_GRADCHECK(gc::check_gradient(hv, {theta, w}));
      CHECK_GRADCHECK(gc::check_hvp(hv, {theta, w}));
      auto lw = [&](const std::vector<Var>& in) {
        const auto gr = grad(linear_cross_entropy(xc, in[0], labels, in[1], sum_red), {in[1]}, true);
        return dot(gr[0], constant(u));
      };
      CHECK_GRADCHECK(gc::check_gradient(lw, {theta, w}));
      CHECK_GRADCHECK(gc::check_hvp(lw, {theta, w}));
    }
  }
}
TEST_CASE("gradcheck: exp_weighted_square_sum, first to third order") {
  const int64_t n = 9;
  const Tensor x = randn(Shape{n}, 71), s = randn(Shape{n}, 72, 0.5), v = randn(Shape{n}, 73);
  auto loss = [](const std::vector<Var>& in) { return exp_weighted_square_sum(in[0], in[1]); };
  CHECK_GRADCHECK(gc::check_gradient(loss, {x, s}));
  CHECK_GRADCHECK(gc::check_hvp(loss, {x, s}));          // the fused H·v and mixed block
  CHECK_GRADCHECK(gc::check_second_order(loss, {x, s}));  // a cotangent that depends on x and s
  // ⟨∇_xL, v⟩ as a function: its gradient is the gradient node's backward, its Hessian the composed rules.
  auto hv = [&](const std::vector<Var>& in) {
    const auto gr = grad(exp_weighted_square_sum(in[0], in[1]), {in[0]}, true);
    return dot(gr[0], constant(v));
  };
  CHECK_GRADCHECK(gc::check_gradient(hv, {x, s}));
  CHECK_GRADCHECK(gc::check_hvp(hv, {x, s}));
  // ⟨∇_sL, v⟩ likewise (½ G⊙x through the gradient node).
  auto hs = [&](const std::vector<Var>& in) {
    const auto gr = grad(exp_weighted_square_sum(in[0], in[1]), {in[1]}, true);
    return dot(gr[0], constant(v));
  };
  CHECK_GRADCHECK(gc::check_gradient(hs, {x, s}));
  CHECK_GRADCHECK(gc::check_hvp(hs, {x, s}));
}
#endif
