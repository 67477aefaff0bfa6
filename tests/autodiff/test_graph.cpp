// Tests of lib/autodiff/graph.cpp: the reverse sweep (no accumulation, zeros for unrelated inputs,
// shared subexpressions, vector-Jacobian products, higher order, repeated and nested calls), saved
// state, grad mode, deep graphs (no stack overflow on backward or destruction, no leaked nodes),
// threads, and the error messages of ops.
#include <doctest/doctest.h>

#include <pthread.h>

#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/errors.hpp"
#include "autodiff/functional.hpp"
#include "autodiff/ops.hpp"
#include "tensor/rng.hpp"

using namespace bilevel;
using namespace bilevel::ad;

namespace {

// The message of the internal_error that f throws ("" if it throws nothing; other exception
// types propagate and fail the test).
template <class F>
std::string internal_error_message(F f) {
  try {
    f();
  } catch (const bilevel::internal_error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Runs f to completion on a new thread whose stack is `bytes` large.
void run_on_small_stack(const std::function<void()>& f, size_t bytes = 512 * 1024) {
  pthread_attr_t attr;
  REQUIRE(pthread_attr_init(&attr) == 0);
  REQUIRE(pthread_attr_setstacksize(&attr, bytes) == 0);
  pthread_t th;
  auto trampoline = [](void* p) -> void* {
    (*static_cast<const std::function<void()>*>(p))();
    return nullptr;
  };
  REQUIRE(pthread_create(&th, &attr, trampoline, const_cast<std::function<void()>*>(&f)) == 0);
  pthread_join(th, nullptr);
  pthread_attr_destroy(&attr);
}

}  // namespace

TEST_CASE("grad does not accumulate across calls on the same graph") {
  Var x = leaf(Tensor::vector({1.0f, -2.0f, 0.5f}));
  Var y = sum(mul(square(x), x));  // Σ x³, ∇ = 3x²
  const Tensor g1 = grad(y, {x})[0].value();
  const Tensor g2 = grad(y, {x})[0].value();
  Var z = sum(exp(x));  // a different output sharing the leaf
  const Tensor gz = grad(z, {x})[0].value();
  const Tensor g3 = grad(y, {x}, /*create_graph=*/true)[0].value();
  const Tensor g4 = grad(y, {x})[0].value();
  for (int64_t i = 0; i < 3; ++i) {
    const double ref = 3.0 * x.value()[i] * x.value()[i];
    CHECK(g1[i] == doctest::Approx(ref));
    CHECK(g2[i] == g1[i]);
    CHECK(g3[i] == g1[i]);
    CHECK(g4[i] == g1[i]);
    CHECK(gz[i] == doctest::Approx(std::exp(static_cast<double>(x.value()[i]))));
  }
  // A leaf used as the target of one call and not of the next keeps no stale gradient.
  Var w = leaf(Tensor::scalar(2));
  Var u = mul(w, sum(x));
  CHECK(grad(u, {w})[0].item() == doctest::Approx(-0.5));
  CHECK(grad(u, {x})[0].value()[0] == doctest::Approx(2.0));
  CHECK(grad(u, {w})[0].item() == doctest::Approx(-0.5));
}

TEST_CASE("grad with respect to inputs the output does not depend on returns zeros of their shape") {
  Var x = leaf(Tensor::vector({1.0f, 2.0f}));
  Var unrelated = leaf(Tensor(Shape{2, 3}, real(5)));
  Var c = constant(Tensor::vector({3.0f, 4.0f}));
  Var y = sum(mul(x, c));
  const auto g = grad(y, {unrelated, x, c});
  REQUIRE(g.size() == 3);
  CHECK(g[0].shape() == Shape({2, 3}));
  CHECK(norm2(g[0].value()) == 0);
  CHECK(g[1].value().to_vector() == std::vector<real>{3, 4});
  CHECK(g[2].shape() == Shape{2});
  CHECK(norm2(g[2].value()) == 0);  // a constant gets no gradient
  // An output that requires no gradient at all.
  const auto g0 = grad(sum(c), {x});
  CHECK(g0[0].shape() == Shape{2});
  CHECK(norm2(g0[0].value()) == 0);
  // A branch that is cut by relu's zero mask still gives (exact) zeros, not missing entries.
  Var n = leaf(Tensor::vector({-1.0f, -2.0f}));
  CHECK(norm2(grad(sum(relu(n)), {n})[0].value()) == 0);
}

TEST_CASE("grad: shared subexpressions, intermediate targets, the output itself, repeated targets") {
  Var x = leaf(Tensor::vector({0.3f, -0.7f}));
  Var a = exp(x);
  Var y = sum(add(mul(a, a), a));  // Σ e^{2x} + e^x, ∇ = 2e^{2x} + e^x; ∂y/∂a = 2a + 1
  const auto g = grad(y, {x, a, x, y});
  for (int64_t i = 0; i < 2; ++i) {
    const double e = std::exp(static_cast<double>(x.value()[i]));
    CHECK(g[0].value()[i] == doctest::Approx(2 * e * e + e));
    CHECK(g[1].value()[i] == doctest::Approx(2 * e + 1));
    CHECK(g[2].value()[i] == g[0].value()[i]);
  }
  CHECK(g[3].item() == doctest::Approx(1.0));
  // The same Var used twice as an operand.
  Var s = sum(mul(x, x));
  CHECK(grad(s, {x})[0].value()[1] == doctest::Approx(2 * x.value()[1]));
}

TEST_CASE("grad: vector-Jacobian products over several outputs, one an ancestor of the other") {
  Var x = leaf(Tensor::vector({0.5f, 1.5f, -1.0f}));
  Var y1 = square(x);          // (3,)
  Var y2 = sum(mul(y1, x));    // Σ x³, depends on y1
  const Tensor u1 = Tensor::vector({1.0f, -2.0f, 0.5f});
  const auto g = grad({y1, y2}, {constant(u1), constant(Tensor::scalar(3))}, {x});
  for (int64_t i = 0; i < 3; ++i) {
    const double xi = x.value()[i];
    CHECK(g[0].value()[i] == doctest::Approx(u1[i] * 2 * xi + 3 * 3 * xi * xi));
  }
  CHECK_THROWS_AS(grad({y1}, {constant(Tensor::vector({1.0f}))}, {x}), bilevel::internal_error);
  CHECK_THROWS_AS(grad({y1, y2}, {constant(u1)}, {x}), bilevel::internal_error);
  const std::string msg = internal_error_message([&] { grad(y1, {x}); });
  CHECK(contains(msg, "grad"));
  CHECK(contains(msg, "(3,)"));
}

TEST_CASE("gradients of views of one flat vector add up, and no caller-held Var is modified") {
  // θ: (10,), a = θ[0:6], b = θ[4:10] overlap on θ[4:6]; L = ⟨a, r⟩ + ⟨b, s⟩ + ⟨θ, t⟩.
  const Tensor th0 = Tensor::vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  const Tensor r = Tensor::vector({1, -1, 2, -2, 3, -3}), s = Tensor::vector({0.5, 0.25, 4, 8, -1, 2});
  const Tensor t(Shape{10}, real(0.125));
  for (bool create_graph : {false, true}) {
    INFO("create_graph " << create_graph);
    Var th = leaf(th0);
    Var a = view(th, 0, Shape{2, 3}), b = view(th, 4, Shape{6});
    Var l = add(add(dot(a, constant(r)), dot(b, constant(s))), dot(th, constant(t)));
    const Var g = grad(l, {th}, create_graph)[0];
    std::vector<double> ref(10, 0.125);
    for (int64_t i = 0; i < 6; ++i) {
      ref[static_cast<size_t>(i)] += r[i];
      ref[static_cast<size_t>(i + 4)] += s[i];
    }
    for (int64_t i = 0; i < 10; ++i) CHECK(g.value()[i] == doctest::Approx(ref[static_cast<size_t>(i)]));
    // A second call does not touch the Tensor held by the first result.
    const Tensor before = g.value();
    (void)grad(l, {th}, create_graph);
    (void)grad(add(l, dot(a, constant(r))), {th}, create_graph);
    CHECK(g.value().to_vector() == before.to_vector());
  }
  // grad_outputs are read, never written: the same cotangent Var seeds two outputs and flows,
  // unchanged, straight into the target through identity-like backward rules.
  Var x = leaf(Tensor::vector({1, 2, 3}));
  const Var u = constant(Tensor::vector({1, 10, 100}));
  Var y1 = add_scalar(x, real(1)), y2 = reshape(x, Shape{3, 1});
  const auto g = grad({y1, y1, reshape(y2, Shape{3}), x}, {u, u, u, u}, {x});
  CHECK(g[0].value().to_vector() == std::vector<real>{4, 40, 400});
  CHECK(u.value().to_vector() == std::vector<real>{1, 10, 100});
  const auto gv = grad({view(x, 1, Shape{2}), view(x, 0, Shape{2})}, {constant(Tensor::vector({1, 1})), view(u, 0, Shape{2})}, {x});
  CHECK(gv[0].value().to_vector() == std::vector<real>{1, 11, 1});
  CHECK(u.value().to_vector() == std::vector<real>{1, 10, 100});
}

namespace {

// c·x², element-wise, whose backward asks grad() for d(x²)/dx = 2x on the graph below x (which it
// shares with the call running the backward): a backward rule that itself differentiates. The inner
// call needs a recorded graph, so the calls that run this backward must pass create_graph=true
// (without it, ops inside backward rules record nothing and the inner gradient would be zero).
Var scaled_square_by_inner_grad(const Var& x, real c) {
  struct Saved {
    real c;
  };
  static constexpr Op<Saved> op({.name = "scaled_square_by_inner_grad",
                                 .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                                   const Var& in = o.node()->inputs[0];
                                   const Var two_x = grad(sum(square(in)), {in}, /*create_graph=*/true)[0];
                                   gi[0] = mul(g, scale(two_x, op.saved(o).c));
                                 }});
  return make_op(op, scaled(square(x).value(), c), {x}, Saved{c});
}

}  // namespace

TEST_CASE("grad inside a backward rule: the inner call leaves the outer call's gradients alone") {
  // a = eˣ, y = Σ (c·a²)·a = c Σ e^{3x}: dy/dx = 3c e^{3x}, d²(Σ dy/dx)/dx² = 9c e^{3x}. The outer
  // call reaches a (and x) twice — through the op, whose backward runs the inner grad() over a and
  // x, and directly — so per-call state kept on the nodes would be overwritten mid-sweep.
  const real c = real(0.75);
  Var x = leaf(Tensor::vector({0.2f, -0.4f, 0.1f}));
  Var a = exp(x);
  Var y = sum(mul(scaled_square_by_inner_grad(a, c), a));
  const Var g1 = grad(y, {x}, /*create_graph=*/true)[0];
  REQUIRE(g1.requires_grad());
  const Var g2 = grad(sum(g1), {x}, /*create_graph=*/true)[0];
  const auto both = grad(y, {a, x}, /*create_graph=*/true);  // an intermediate target beside the leaf
  for (int64_t i = 0; i < 3; ++i) {
    const double e = std::exp(static_cast<double>(x.value()[i]));
    CHECK(g1.value()[i] == doctest::Approx(3 * c * e * e * e));
    CHECK(g2.value()[i] == doctest::Approx(9 * c * e * e * e));
    CHECK(both[0].value()[i] == doctest::Approx(3 * c * e * e));
    CHECK(both[1].value()[i] == g1.value()[i]);
  }
}

TEST_CASE("grad twice on the same graph, with another call in between, gives the same bits") {
  // Nothing of a call stays on the graph: the second call on y repeats the first exactly, whatever ran
  // in between (a call on a graph sharing y's nodes, and a double backward through the first result).
  Var x = leaf(Tensor::vector({0.3f, -1.1f, 0.8f, 2.0f}));
  Var th = leaf(Tensor::vector({0.5f, 0.25f, -0.75f}));
  Var h = tanh(mul(view(x, 1, Shape{3}), th));
  Var y = add(sum(mul(h, h)), dot(view(x, 0, Shape{2}), view(th, 1, Shape{2})));
  for (bool create_graph : {false, true}) {
    INFO("create_graph " << create_graph);
    const auto first = grad(y, {x, th}, create_graph);
    const auto other = grad(sum(exp(h)), {th, x}, create_graph);  // shares h, th and x with y
    if (create_graph) (void)grad(sum(mul(first[0], first[0])), {x, th});
    const auto again = grad(y, {x, th}, create_graph);
    for (size_t k = 0; k < 2; ++k) {
      CHECK(again[k].value().to_vector() == first[k].value().to_vector());
      CHECK(again[k].requires_grad() == create_graph);
    }
    CHECK(other[0].shape() == th.shape());
    if (create_graph) {  // the second-order results agree too
      const Tensor h1 = grad(sum(first[0]), {th})[0].value();
      const Tensor h2 = grad(sum(again[0]), {th})[0].value();
      CHECK(h1.to_vector() == h2.to_vector());
    }
  }
}

TEST_CASE("saved state: read back typed, shared data released with the node") {
  auto idx = std::make_shared<const std::vector<int64_t>>(std::vector<int64_t>{2, 0, 2});
  Var x = leaf(Tensor::vector({1.0f, 2.0f, 3.0f}));
  {
    Var g = gather(x, idx, Shape{3});
    REQUIRE(gather_indices(*g.node()) == idx.get());
    CHECK(idx.use_count() == 2);  // the node holds the indices for its backward
    CHECK(gather_indices(*x.node()) == nullptr);
    CHECK(gather_indices(*exp(x).node()) == nullptr);
    CHECK(grad(sum(g), {x})[0].value().to_vector() == std::vector<real>{1, 0, 2});
    NoGradGuard off;
    Var c = gather(x, idx, Shape{3});  // a constant keeps its op and state too
    CHECK(std::string(c.node()->op->name) == "gather");
    CHECK(idx.use_count() == 3);
  }
  CHECK(idx.use_count() == 1);  // ... and releases them when it dies
  CHECK(std::string(x.node()->op->name) == "leaf");
  CHECK(std::string(view(x, 1, Shape{2}).node()->op->name) == "view");
}

TEST_CASE("create_graph: results are differentiable only when asked, up to third order") {
  Var x = leaf(Tensor::vector({0.7f, -1.2f}));
  Var y = sum(pow(x, real(4)));
  const auto g_plain = grad(y, {x});
  CHECK_FALSE(g_plain[0].requires_grad());
  CHECK(g_plain[0].node()->inputs.empty());  // records no graph
  const Var g1 = grad(y, {x}, true)[0];      // 4x³
  REQUIRE(g1.requires_grad());
  const Var g2 = grad(sum(g1), {x}, true)[0];  // 12x²
  REQUIRE(g2.requires_grad());
  const Var g3 = grad(sum(g2), {x})[0];  // 24x
  CHECK_FALSE(g3.requires_grad());
  for (int64_t i = 0; i < 2; ++i) {
    const double v = x.value()[i];
    CHECK(g1.value()[i] == doctest::Approx(4 * v * v * v));
    CHECK(g2.value()[i] == doctest::Approx(12 * v * v));
    CHECK(g3.value()[i] == doctest::Approx(24 * v));
  }
  // The gradient of a linear function is a constant even with create_graph: nothing to differentiate.
  Var lin = sum(scale(x, real(3)));
  const Var gl = grad(lin, {x}, true)[0];
  CHECK(gl.value()[0] == doctest::Approx(3.0));
  CHECK(norm2(grad(sum(mul(gl, gl)), {x})[0].value()) == 0);
}

TEST_CASE("NoGradGuard: ops record nothing inside, grad mode is restored, guards nest") {
  Var x = leaf(Tensor::vector({1.0f, 2.0f}));
  CHECK(grad_enabled());
  {
    NoGradGuard outer;
    CHECK_FALSE(grad_enabled());
    Var y = exp(x);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.node()->inputs.empty());
    CHECK(y.value()[0] == doctest::Approx(std::exp(1.0)));
    {
      NoGradGuard inner;
      CHECK_FALSE(grad_enabled());
    }
    CHECK_FALSE(grad_enabled());  // the inner guard restores "off", not "on"
    CHECK(norm2(grad(sum(y), {x})[0].value()) == 0);
  }
  CHECK(grad_enabled());
  Var z = exp(x);
  CHECK(z.requires_grad());
  CHECK(z.node()->inputs.size() == 1);
  // Ops on constants only are constants, and each op counts one node.
  const int64_t before = nodes_created();
  Var c = add(constant(Tensor::scalar(1)), constant(Tensor::scalar(2)));
  CHECK_FALSE(c.requires_grad());
  CHECK(nodes_created() - before == 3);
}

TEST_CASE("grad mode is per thread, and threads differentiate their own graphs concurrently") {
  NoGradGuard off_here;
  std::vector<double> results(4, 0.0);
  std::vector<int> recorded(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &results, &recorded] {
      Var x = leaf(Tensor::vector({static_cast<real>(t + 1)}));
      Var y = x;
      for (int i = 0; i < 2000; ++i) y = add(scale(y, real(0.5)), scale(x, real(0.5)));  // y ≡ x
      Var l = sum(mul(y, y));
      recorded[static_cast<size_t>(t)] = l.requires_grad();
      results[static_cast<size_t>(t)] = grad(l, {x})[0].value()[0];
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    CHECK(recorded[static_cast<size_t>(t)] == 1);  // NoGradGuard of the main thread does not leak
    CHECK(results[static_cast<size_t>(t)] == doctest::Approx(2.0 * (t + 1)));
  }
  CHECK_FALSE(grad_enabled());
}

TEST_CASE("a chain of 100000 ops: backward, double backward and destruction without stack overflow") {
  // Each body runs on a thread with a 512 KiB stack: recursion one frame per node (in the search,
  // the sweep or the destructors) would overflow it at this depth, even where 8 MiB would not.
  constexpr int depth = 100000;
  const real c = real(1.000001);
  const double cn = std::pow(static_cast<double>(c), depth);
  // 10⁵ roundings of the running product: ~10⁵·2⁻²⁴ relative drift in float.
  const double tol = sizeof(real) == sizeof(double) ? 1e-8 : 2e-2;
  int64_t leaked = -1;  // live bytes left on the worker thread after its graph is gone

  SUBCASE("creation and backward") {
    Tensor g;
    run_on_small_stack([&] {
      const int64_t live_before = MemoryMeter::live_bytes();
      {
        Var x = leaf(Tensor::vector({0.5f, -1.0f}));
        Var y = x;
        for (int i = 0; i < depth; ++i) y = (i % 2) ? scale(y, c * c) : add_scalar(y, real(1e-3));
        g = grad(sum(y), {x})[0].value();
      }
      leaked = MemoryMeter::live_bytes() - live_before - g.numel() * static_cast<int64_t>(sizeof(real));
    });
    REQUIRE(g.numel() == 2);
    CHECK(g[0] == doctest::Approx(cn).epsilon(tol));
    CHECK(g[1] == g[0]);
  }
  SUBCASE("destruction of a graph that was never differentiated") {
    bool recorded = false;
    run_on_small_stack([&] {
      const int64_t live_before = MemoryMeter::live_bytes();
      {
        Var x = leaf(Tensor::scalar(1));
        Var y = x;
        for (int i = 0; i < depth; ++i) y = sin(y);
        recorded = y.requires_grad();
        x = Var();
        y = Var();  // the whole chain dies here, from the output end
      }
      leaked = MemoryMeter::live_bytes() - live_before;
    });
    CHECK(recorded);
  }
  SUBCASE("create_graph on the deep chain, Hessian through the deep gradient graph") {
    double g1 = 0, g2 = 0;
    run_on_small_stack([&] {
      const int64_t live_before = MemoryMeter::live_bytes();
      {
        Var x = leaf(Tensor::scalar(0.5));
        Var y = x;
        for (int i = 0; i < depth; ++i) y = scale(y, c);  // y = cⁿx
        Var l = scale(square(y), real(0.5));               // L = ½c²ⁿx², L' = c²ⁿx, L'' = c²ⁿ
        Var g = grad(l, {x}, true)[0];
        g1 = g.item();
        g2 = grad(g, {x})[0].item();
      }
      leaked = MemoryMeter::live_bytes() - live_before;
    });
    CHECK(g1 == doctest::Approx(cn * cn * 0.5).epsilon(tol));
    CHECK(g2 == doctest::Approx(cn * cn).epsilon(tol));
  }
  // Every tensor of the graph (values and gradients) was freed once the handles were gone.
  CHECK(leaked == 0);
}

TEST_CASE("no reference cycles: graphs built by grad(create_graph) and the functional API are freed") {
  const int64_t live_before = MemoryMeter::live_bytes();
  {
    Rng rng(3);
    const Tensor x0 = rng.normal_tensor(Shape{3, 4});
    const Tensor v = rng.normal_tensor(Shape{3, 4});
    auto f = [](const Var& x) { return sum(mul(exp(x), tanh(x))) + softmax_cross_entropy(x, {0, 3, 1}); };
    const Tensor hv = hvp(f, x0, v);
    CHECK(hv.all_finite());
    Var x = leaf(x0);
    Var g = grad(f(x), {x}, true)[0];
    Var g2 = grad(sum(mul(g, g)), {x}, true)[0];
    CHECK(g2.requires_grad());
  }
  CHECK(MemoryMeter::live_bytes() == live_before);
}

TEST_CASE("shape errors throw internal_error naming the op and the shapes") {
  const Var a = leaf(Tensor(Shape{2, 3}));
  SUBCASE("add with incompatible shapes") {
    const std::string m = internal_error_message([&] { add(a, leaf(Tensor(Shape{4}))); });
    CHECK(contains(m, "add"));
    CHECK(contains(m, "(2, 3)"));
    CHECK(contains(m, "(4,)"));
    CHECK(contains(internal_error_message([&] { mul(a, leaf(Tensor(Shape{3, 3}))); }), "mul"));
  }
  SUBCASE("matmul inner dimensions") {
    const std::string m = internal_error_message([&] { matmul(a, leaf(Tensor(Shape{2, 5}))); });
    CHECK(contains(m, "matmul"));
    CHECK(contains(m, "(2, 3)"));
    CHECK(contains(m, "(2, 5)"));
    // With trans_a the inner dimension is 2, so the same operands are fine.
    CHECK(matmul(a, leaf(Tensor(Shape{2, 5})), true, false).shape() == Shape({3, 5}));
  }
  SUBCASE("conv2d channel mismatch") {
    const Var x = leaf(Tensor(Shape{1, 5, 5, 3}));
    const Var w = leaf(Tensor(Shape{4, 3, 3, 2}));
    const std::string m = internal_error_message([&] { conv2d(x, w, Var(), Conv2dParams{}); });
    CHECK(contains(m, "conv2d"));
    CHECK(contains(m, "(4, 3, 3, 2)"));
    CHECK(contains(m, "(1, 5, 5, 3)"));
    CHECK(contains(internal_error_message([&] { conv2d(x, leaf(Tensor(Shape{4, 3, 3, 3})), leaf(Tensor(Shape{3})),
                                                         Conv2dParams{}); }),
                   "bias"));
  }
  SUBCASE("softmax_cross_entropy with a bad label or bad weights") {
    const Var z = leaf(Tensor(Shape{2, 5}));
    const std::string m = internal_error_message([&] { softmax_cross_entropy(z, {1, 7}); });
    CHECK(contains(m, "softmax_cross_entropy"));
    CHECK(contains(m, "label 7"));
    CHECK(contains(m, "[0, 5)"));
    CHECK(contains(internal_error_message([&] { softmax_cross_entropy(z, {-1, 0}); }), "label -1"));
    CHECK(contains(internal_error_message([&] { softmax_cross_entropy(z, {1}); }), "1 labels for 2 rows"));
    const std::string mw =
        internal_error_message([&] { softmax_cross_entropy(z, {1, 2}, leaf(Tensor(Shape{3}))); });
    CHECK(contains(mw, "weights of shape (3,)"));
    CHECK(contains(mw, "(2, 5)"));
  }
  SUBCASE("other ops") {
    CHECK(contains(internal_error_message([&] { reshape(a, Shape{4, 2}); }), "(2, 3)"));
    CHECK(contains(internal_error_message([&] { view(a, 4, Shape{3}); }), "view"));
    CHECK(contains(internal_error_message([&] { embed(a, 1, Shape{6}); }), "embed"));
    CHECK(contains(internal_error_message([&] { slice_rows(a, 1, 3); }), "slice_rows"));
    CHECK(contains(internal_error_message([&] { concat({a, leaf(Tensor(Shape{2, 2}))}, 0); }), "concat"));
    CHECK(contains(internal_error_message([&] { transpose(leaf(Tensor(Shape{3}))); }), "transpose"));
    CHECK(contains(internal_error_message([&] { dot(a, leaf(Tensor(Shape{5}))); }), "dot"));
    CHECK(contains(internal_error_message([&] { mse(a, leaf(Tensor(Shape{3, 2}))); }), "mse"));
    CHECK(contains(internal_error_message([&] {
                     gather(a, std::make_shared<const std::vector<int64_t>>(std::vector<int64_t>{6}), Shape{1});
                   }),
                   "index 6"));
    CHECK(contains(internal_error_message([&] { max_pool2x2(leaf(Tensor(Shape{1, 1, 4, 2}))); }), "max_pool2x2"));
    CHECK(contains(internal_error_message([&] { log_softmax(leaf(Tensor(Shape{6}))); }), "log_softmax"));
    CHECK(contains(internal_error_message([&] {
                     batch_norm(a, leaf(Tensor(Shape{3})), leaf(Tensor(Shape{2})));
                   }),
                   "batch_norm"));
    CHECK(contains(internal_error_message([&] { im2col(leaf(Tensor(Shape{1, 2, 2, 1})), 3, 3, {}); }), "im2col"));
  }
}
