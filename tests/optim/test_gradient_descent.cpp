// The inner-loop helper (lib/optim/gradient_descent.hpp) on a quadratic with a known trajectory.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "optim/gradient_descent.hpp"

using namespace bilevel;

TEST_SUITE("optim") {
  TEST_CASE("gradient descent on ½‖θ − c‖² contracts by (1 − α) per step; it stops on a non-finite θ if asked") {
    const Tensor c = Tensor::vector({real(1), real(-2), real(3)});
    const auto loss = [&](const ad::Var& th) { return ad::sum(ad::square(ad::sub(th, ad::constant(c)))) * real(0.5); };
    const Tensor g = loss_gradient(loss, Tensor(Shape{3}));
    for (int64_t i = 0; i < 3; ++i) CHECK(g[i] == -c[i]);
    const real lr = real(0.25);
    const Tensor theta = gradient_descent(loss, Tensor(Shape{3}), 5, lr);
    for (int64_t i = 0; i < 3; ++i) {
      const double want = static_cast<double>(c[i]) * (1 - std::pow(0.75, 5));  // θ_k − c = 0.75^k (θ₀ − c)
      CHECK(static_cast<double>(theta[i]) == doctest::Approx(want).epsilon(1e-6));
    }
    CHECK(gradient_descent(loss, c, 0, lr)[0] == c[0]);
    // A NaN start: without the flag every step is taken (and stays NaN); with it, θ comes back untouched.
    Tensor bad = c;
    bad[1] = std::numeric_limits<real>::quiet_NaN();
    int64_t evals = 0;
    const auto counted = [&](const ad::Var& th) {
      ++evals;
      return loss(th);
    };
    gradient_descent(counted, bad, 4, lr);
    CHECK(evals == 4);
    evals = 0;
    const Tensor stopped = gradient_descent(counted, bad, 4, lr, /*stop_when_non_finite=*/true);
    CHECK(evals == 0);
    CHECK(stopped[0] == c[0]);
  }
}
