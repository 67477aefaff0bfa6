#include <doctest/doctest.h>

#include "autodiff/functional.hpp"
#include "autodiff/ops.hpp"

using namespace bilevel;
using namespace bilevel::ad;

TEST_CASE("grad of a small expression") {
  Var x = leaf(Tensor::vector({1, 2, 3}));
  Var y = sum(square(x));
  auto g = grad(y, {x})[0];
  CHECK(g.value()[0] == doctest::Approx(2));
  CHECK(g.value()[2] == doctest::Approx(6));
}
