// Gradients of many views of one flat vector, summed with the graph recorded (lib/autodiff/ops_shape.cpp:
// embed_sum, built by embed's sum hook): one node for all views, the same values as the sweep without a graph,
// and correct derivatives of every order (finite differences in the double build).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "autodiff/ops.hpp"
#include "gradcheck.hpp"

using namespace bilevel;
using namespace bilevel::ad;
namespace gc = bilevel::gradcheck;

namespace {

// A model reading its parameters as views of θ (20 elements): two products and a bias, the first block read
// twice (overlapping views), and optionally θ itself in a term (so a gradient that is not an embed is summed
// with the views' gradients too).
Var model(const Var& th, bool direct_term) {
  const Var a = view(th, 0, Shape{2, 3});
  const Var b = view(th, 6, Shape{3, 2});
  const Var c = view(th, 12, Shape{2});
  const Var a2 = view(th, 1, Shape{2, 2});  // overlaps a
  Var y = add(matmul(matmul(a, b), tanh(a2)), c);
  Var loss = sum(mul(y, y));
  if (direct_term) loss = add(loss, scale(sum(mul(th, th)), real(0.1)));
  return add(loss, sum(tanh(view(th, 14, Shape{6}))));
}

const char* op_name(const Var& v) { return v.node()->op->name; }

}  // namespace

TEST_CASE("embed_sum: a graph-recorded gradient of many views is one node with the values of the sweep without graph") {
  for (bool direct : {false, true}) {
    INFO("direct term " << direct);
    const Tensor t0 = gc::randn(Shape{20}, 900);
    const Var th = leaf(t0);
    const Var loss = model(th, direct);
    const Var with_graph = grad(loss, {th}, true)[0];
    const Var without = grad(loss, {th})[0];
    // Same sums in the same order: the same bits.
    CHECK(max_abs_diff(with_graph.value(), without.value()) == 0);
    CHECK(std::string(op_name(with_graph)) == "embed_sum");
    // Five views: all summed by this one node. (With the direct term, the views reached after it join a node
    // whose base holds the earlier ones: fewer inputs, order-dependent.)
    if (!direct) CHECK(with_graph.node()->inputs.size() == 5u);
    // Differentiating the same graph again gives the same gradient (nothing was consumed from it).
    CHECK(max_abs_diff(grad(loss, {th}, true)[0].value(), with_graph.value()) == 0);
    // A vector-Jacobian product through it equals the one through the no-graph gradient's finite differences
    // (checked in the double build below) and is the same with and without a graph in the second sweep.
    const Tensor v = gc::randn(Shape{20}, 901);
    const Var hv1 = grad(dot(with_graph, constant(v)), {th}, true)[0];
    const Var hv2 = grad(dot(with_graph, constant(v)), {th})[0];
    CHECK(max_abs_diff(hv1.value(), hv2.value()) == 0);
  }
}

TEST_CASE("embed_sum: a gradient held by the caller is not taken over") {
  // The sweep's accumulator is the only holder of the nodes it takes over; a user's embed and embed_add keep
  // their values.
  const Var x = leaf(gc::randn(Shape{3}, 902)), y = leaf(gc::randn(Shape{2}, 903));
  const Var e = embed(x, 1, Shape{6});
  const Var s = embed_add(e, y, 4);
  CHECK(e.value().numel() == 6);
  CHECK(s.value()[4] == y.value()[0]);
  CHECK(s.value()[1] == x.value()[0]);
  CHECK(e.value()[1] == x.value()[0]);
}

#ifdef BILEVEL_DOUBLE

TEST_CASE("gradcheck: views summed by embed_sum, first, second and third order") {
  for (bool direct : {false, true}) {
    INFO("direct term " << direct);
    const Tensor t0 = gc::randn(Shape{20}, 910, 0.7);
    auto f = gc::unary([direct](const Var& th) { return model(th, direct); });
    CHECK_GRADCHECK(gc::check_gradient(f, {t0}));
    CHECK_GRADCHECK(gc::check_hvp(f, {t0}));
    // The recorded gradient itself (an embed_sum) checked to second order: third order of the model.
    auto g = gc::unary([direct](const Var& th) { return grad(model(th, direct), {th}, true)[0]; });
    CHECK_GRADCHECK(gc::check_jacobian(g, {t0}));
    CHECK_GRADCHECK(gc::check_second_order(g, {t0}));
  }
}

#endif
