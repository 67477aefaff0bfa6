// affine_warp: exact values on maps whose result is known (identity, whole-pixel shifts, a quarter turn, zero
// padding, one bilinear point by hand), and finite-difference checks of first and second order in the image and in
// the map (double build).
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/warp.hpp"
#include "gradcheck.hpp"
#include "tensor/rng.hpp"

using namespace bilevel;
using namespace bilevel::ad;
namespace gc = bilevel::gradcheck;

namespace {

Tensor maps(const std::vector<std::vector<double>>& rows) {
  Tensor a(Shape{static_cast<int64_t>(rows.size()), 6});
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t k = 0; k < 6; ++k) a[static_cast<int64_t>(i * 6 + k)] = static_cast<real>(rows[i][k]);
  return a;
}

real at(const Tensor& t, int64_t n, int64_t i, int64_t j, int64_t ch) {
  return t[((n * t.dim(1) + i) * t.dim(2) + j) * t.dim(3) + ch];
}

}  // namespace

TEST_CASE("affine_warp: identity, whole-pixel shift with zero padding, quarter turn, one bilinear point") {
  Rng rng(1);
  const int64_t h = 4, w = 5, c = 2;
  const Tensor x = rng.normal_tensor(Shape{2, h, w, c});
  // Identity on image 0; shift right by one pixel on image 1 (reads the pixel to the left: u' = u − 2/(W−1)).
  const Tensor a = maps({{1, 0, 0, 0, 1, 0}, {1, 0, -2.0 / (w - 1), 0, 1, 0}});
  const Tensor y = affine_warp(constant(x), constant(a)).value();
  REQUIRE(y.shape() == x.shape());
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j)
      for (int64_t ch = 0; ch < c; ++ch) {
        CHECK(at(y, 0, i, j, ch) == doctest::Approx(at(x, 0, i, j, ch)).epsilon(1e-6));
        const real shifted = j == 0 ? real(0) : at(x, 1, i, j - 1, ch);
        CHECK(at(y, 1, i, j, ch) == doctest::Approx(shifted).epsilon(1e-5).scale(1.0));
      }
  // A quarter turn of a square image: u' = −v, v' = u, so y(i, j) = x(j, W−1−i).
  const Tensor sq = rng.normal_tensor(Shape{1, 4, 4, 1});
  const Tensor yq = affine_warp(constant(sq), constant(maps({{0, -1, 0, 1, 0, 0}}))).value();
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j) CHECK(at(yq, 0, i, j, 0) == doctest::Approx(at(sq, 0, j, 3 - i, 0)).epsilon(1e-5).scale(1.0));
  // Half a pixel right and a quarter down of output (0, 0), i.e. pixel coordinates (0.25, 0.5) in (row, column):
  // 0.75·(0.5·x00 + 0.5·x01) + 0.25·(0.5·x10 + 0.5·x11).
  const Tensor yb = affine_warp(constant(sq), constant(maps({{1, 0, 1.0 / 3, 0, 1, 0.5 / 3}}))).value();
  const double expect = 0.75 * 0.5 * (at(sq, 0, 0, 0, 0) + at(sq, 0, 0, 1, 0)) + 0.25 * 0.5 * (at(sq, 0, 1, 0, 0) + at(sq, 0, 1, 1, 0));
  CHECK(at(yb, 0, 0, 0, 0) == doctest::Approx(expect).epsilon(1e-5));
  // Far off the image everything reads zero.
  const Tensor yz = affine_warp(constant(sq), constant(maps({{1, 0, 40, 0, 1, 0}}))).value();
  CHECK(norm2(yz) == 0.0);
  // Wrong shapes are internal errors naming the op.
  CHECK_THROWS_WITH(affine_warp(constant(sq), constant(Tensor(Shape{1, 5}))), doctest::Contains("affine_warp"));
}

#ifdef BILEVEL_DOUBLE
TEST_CASE("gradcheck: affine_warp in the image and the map, first and second order") {
  Rng rng(2);
  auto f = [](const std::vector<Var>& in) { return affine_warp(in[0], in[1]); };
  // Maps near a rotation with a small shift and scale: sampling points fall strictly inside pixel cells (no FD
  // step crosses a boundary; the kink guard would say so), some outside the image (zero padding).
  for (double angle : {0.3, -0.7, 2.0}) {
    CAPTURE(angle);
    const double s = 0.9, co = s * std::cos(angle), si = s * std::sin(angle);
    const Tensor a = maps({{co, -si, 0.13, si, co, -0.07}, {co * 1.1, -si, -0.21, si, co * 0.95, 0.11}});
    const Tensor x = rng.normal_tensor(Shape{2, 4, 5, 2});
    CHECK_GRADCHECK(gc::check_jacobian(f, {x, a}));
    CHECK_GRADCHECK(gc::check_second_order(f, {x, a}));
    // The map alone (the path a learned augmentation differentiates), including its own second derivatives.
    auto in_map = [x](const std::vector<Var>& in) { return sum(square(affine_warp(constant(x), in[0]))); };
    CHECK_GRADCHECK(gc::check_gradient(in_map, {a}));
    CHECK_GRADCHECK(gc::check_hvp(in_map, {a}));
  }
  // Larger image: random projections. Entries without simple ratios, so no sampling point sits on a pixel row or
  // column (round entries put some exactly there, and the kink guard then fails the check, as it should).
  const Tensor big = rng.normal_tensor(Shape{3, 9, 8, 1});
  const Tensor a3 = maps({{0.9537, -0.2113, 0.0519, 0.1987, 0.9412, 0.0331},
                          {1.0123, 0.1071, -0.0937, -0.1149, 0.9871, 0.2029},
                          {0.8143, 0.0123, 0.0071, -0.0093, 1.1911, -0.0517}});
  CHECK_GRADCHECK(gc::check_jacobian(f, {big, a3}));
  CHECK_GRADCHECK(gc::check_second_order(f, {big, a3}));
}
#endif
