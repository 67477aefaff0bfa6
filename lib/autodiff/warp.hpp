#pragma once
// Differentiable affine warp of images by bilinear sampling (spatial-transformer style): the op behind learned
// augmentation (problems/invariance_learning.cpp).
#include "autodiff/var.hpp"

namespace bilevel::ad {

// x: (N, H, W, C) images (NHWC), a: (N, 6) one affine map per image → (N, H, W, C).
// Output pixel (i, j) has normalised coordinates u = −1 + 2j/(W − 1), v = −1 + 2i/(H − 1) (corners at ±1, so H, W
// ≥ 2) and reads the input at
//     u' = a₀u + a₁v + a₂,   v' = a₃u + a₄v + a₅
// (a = (1, 0, 0, 0, 1, 0) is the identity; a rotation by φ about the centre is (cos φ, −sin φ, 0, sin φ, cos φ, 0)),
// interpolated bilinearly between the four surrounding pixels; pixels outside the image read as zero.
// Differentiable in x (linear) and in a (piecewise smooth: smooth while no sampling point crosses a pixel row or
// column, where the derivative in a jumps), to any order: it is composed of matmul, gather and element-wise ops,
// so its backward rules are those ops' differentiable ones. The four corner reads are gathers, so a finite-
// difference check that crosses a pixel boundary is flagged as not smooth by the kink guard. Far off-image
// coordinates read zero; a non-finite map gives a non-finite output.
Var affine_warp(const Var& x, const Var& a);

}  // namespace bilevel::ad
