// affine_warp: bilinear sampling composed of differentiable ops (see warp.hpp).
#include "autodiff/warp.hpp"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.hpp"
#include "base/errors.hpp"

namespace bilevel::ad {

namespace {

// (6, H·W) constant mapping a's row to pixel coordinates: px = a·gx + (W − 1)/2, py = a·gy + (H − 1)/2.
Tensor coordinate_matrix(int64_t h, int64_t w, bool for_x) {
  const int64_t hw = h * w;
  Tensor g(Shape{6, hw});
  const double half = for_x ? 0.5 * static_cast<double>(w - 1) : 0.5 * static_cast<double>(h - 1);
  const int64_t row0 = for_x ? 0 : 3;
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j) {
      const int64_t p = i * w + j;
      const double u = -1.0 + 2.0 * static_cast<double>(j) / static_cast<double>(w - 1);
      const double v = -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(h - 1);
      g[(row0 + 0) * hw + p] = static_cast<real>(half * u);
      g[(row0 + 1) * hw + p] = static_cast<real>(half * v);
      g[(row0 + 2) * hw + p] = static_cast<real>(half);
    }
  return g;
}

}  // namespace

Var affine_warp(const Var& x, const Var& a) {
  // x: (N, H, W, C), a: (N, 6) → (N, H, W, C).
  if (x.rank() != 4 || a.rank() != 2 || a.shape()[1] != 6 || a.shape()[0] != x.shape()[0]) {
    throw internal_error("affine_warp: expects images (N, H, W, C) and maps (N, 6), got " + x.shape().str() + " and " +
                         a.shape().str());
  }
  const int64_t n = x.shape()[0], h = x.shape()[1], w = x.shape()[2], c = x.shape()[3], hw = h * w;
  if (h < 2 || w < 2) throw internal_error("affine_warp: images must be at least 2×2, got " + x.shape().str());
  const Var px = add_scalar(matmul(a, constant(coordinate_matrix(h, w, true))), static_cast<real>(0.5 * double(w - 1)));
  const Var py = add_scalar(matmul(a, constant(coordinate_matrix(h, w, false))), static_cast<real>(0.5 * double(h - 1)));
  // Integer parts (constants: piecewise constant in a) and the in-image masks of the four corners.
  Tensor x0(Shape{n, hw}), y0(Shape{n, hw});
  std::vector<std::vector<int64_t>> corner_pixel(4, std::vector<int64_t>(static_cast<size_t>(n * hw), -1));
  const Tensor& pxv = px.value();
  const Tensor& pyv = py.value();
  for (int64_t m = 0; m < n * hw; ++m) {
    const double fx = static_cast<double>(pxv[m]), fy = static_cast<double>(pyv[m]);
    // Far off the image (or not finite): every corner is outside; the fractional parts are then irrelevant.
    if (!(fx > -2.0 && fx < static_cast<double>(w) + 1.0 && fy > -2.0 && fy < static_cast<double>(h) + 1.0)) {
      x0[m] = std::isfinite(fx) ? std::floor(pxv[m]) : real(0);
      y0[m] = std::isfinite(fy) ? std::floor(pyv[m]) : real(0);
      continue;
    }
    const auto ix = static_cast<int64_t>(std::floor(fx)), iy = static_cast<int64_t>(std::floor(fy));
    x0[m] = static_cast<real>(ix);
    y0[m] = static_cast<real>(iy);
    const int64_t img = m / hw;
    for (int k = 0; k < 4; ++k) {
      const int64_t cx = ix + (k & 1), cy = iy + (k >> 1);
      if (cx >= 0 && cx < w && cy >= 0 && cy < h) corner_pixel[static_cast<size_t>(k)][static_cast<size_t>(m)] = (img * h + cy) * w + cx;
    }
  }
  const Var fx = sub(px, constant(std::move(x0)));  // fractional parts, in [0, 1) where they matter
  const Var fy = sub(py, constant(std::move(y0)));
  const Var gx = add_scalar(neg(fx), real(1)), gy = add_scalar(neg(fy), real(1));
  Var out;
  for (int k = 0; k < 4; ++k) {
    const auto& pix = corner_pixel[static_cast<size_t>(k)];
    auto idx = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(n * hw * c), 0);
    Tensor mask(Shape{n, hw});
    for (int64_t m = 0; m < n * hw; ++m) {
      const int64_t p = pix[static_cast<size_t>(m)];
      if (p < 0) continue;
      mask[m] = 1;
      for (int64_t ch = 0; ch < c; ++ch) (*idx)[static_cast<size_t>(m * c + ch)] = p * c + ch;
    }
    const Var weight = mul(mul((k & 1) ? fx : gx, (k >> 1) ? fy : gy), constant(std::move(mask)));  // (N, HW)
    const Var term = mul(reshape(weight, Shape{n, hw, 1}), gather(x, std::move(idx), Shape{n, hw, c}));
    out = k == 0 ? term : add(out, term);
  }
  return reshape(out, x.shape());
}

}  // namespace bilevel::ad
