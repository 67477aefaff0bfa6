// Siren: the forward pass against a direct computation, the initialisation's bounds, and finite-difference checks
// (double build) in θ and in the coordinates, first and second order.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autodiff/ops.hpp"
#include "gradcheck.hpp"
#include "nn/siren.hpp"
#include "tensor/rng.hpp"

using namespace bilevel;
namespace gc = bilevel::gradcheck;

TEST_CASE("Siren: layout, init bounds and the forward pass against a direct computation") {
  const nn::Siren net({2, 3, 3, 1}, 30.0);
  CHECK(net.num_params() == (2 + 1) * 3 + (3 + 1) * 3 + (3 + 1) * 1);
  CHECK(net.describe() == "siren 2-3-3-1 omega0=30 (25 params)");
  Rng rng(4);
  const Tensor theta = net.init(rng);
  const auto& e = net.layout().entries;
  for (int64_t k = 0; k < e[0].shape.numel(); ++k) CHECK(std::abs(theta[e[0].offset + k]) <= 1.0 / 2);
  for (int64_t k = 0; k < e[2].shape.numel(); ++k) CHECK(std::abs(theta[e[2].offset + k]) <= std::sqrt(6.0 / 3) / 30);
  // The init is a pure function of the stream.
  Rng again(4);
  CHECK(max_abs_diff(net.init(again), theta) == 0.0);

  const Tensor x = rng.uniform_tensor(Shape{4, 2}, -1, 1);
  const Tensor y = net.forward(ad::constant(theta), ad::constant(x)).value();
  REQUIRE(y.shape() == Shape({4, 1}));
  const auto w = [&](int l, int64_t i, int64_t j, int64_t cols) { return static_cast<double>(theta[e[2 * l].offset + i * cols + j]); };
  const auto b = [&](int l, int64_t j) { return static_cast<double>(theta[e[2 * l + 1].offset + j]); };
  for (int64_t r = 0; r < 4; ++r) {
    std::vector<double> h = {x[r * 2], x[r * 2 + 1]};
    for (int l = 0; l < 3; ++l) {
      const int64_t out = l == 2 ? 1 : 3;
      std::vector<double> z(static_cast<size_t>(out));
      for (int64_t j = 0; j < out; ++j) {
        z[static_cast<size_t>(j)] = b(l, j);
        for (size_t i = 0; i < h.size(); ++i) z[static_cast<size_t>(j)] += h[i] * w(l, static_cast<int64_t>(i), j, out);
        if (l < 2) z[static_cast<size_t>(j)] = std::sin(30.0 * z[static_cast<size_t>(j)]);
      }
      h = z;
    }
    CHECK(y[r] == doctest::Approx(h[0]).epsilon(1e-4));
  }
  CHECK_THROWS(nn::Siren({2, 1}, 30.0));
}

#ifdef BILEVEL_DOUBLE
TEST_CASE("gradcheck: Siren in θ and in the coordinates") {
  const nn::Siren net({2, 4, 4, 1}, 5.0);
  Rng rng(5);
  const Tensor theta = net.init(rng), x = rng.uniform_tensor(Shape{3, 2}, -1, 1);
  auto f = [&net](const std::vector<ad::Var>& in) { return net.forward(in[0], in[1]); };
  CHECK_GRADCHECK(gc::check_jacobian(f, {theta, x}));
  CHECK_GRADCHECK(gc::check_second_order(f, {theta, x}));
}
#endif
