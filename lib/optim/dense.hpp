#pragma once
// Small dense linear algebra in double, for the closed forms the problems and tests check the autodiff
// against (independent of lib/autodiff on purpose). Matrices are row-major std::vector<double>.
#include <cstdint>
#include <optional>
#include <vector>

#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

namespace bilevel::dense {

// An int64_t index into a std::vector.
inline size_t ui(int64_t i) { return static_cast<size_t>(i); }

// v rounded to `real` and back: instance data stored this way is exactly what the autodiff losses see.
inline double round_to_real(double v) { return static_cast<double>(static_cast<real>(v)); }

// v as a tensor of shape `s` (numel(s) == v.size()), or as a vector (n,).
Tensor to_tensor(const std::vector<double>& v, const Shape& s);
Tensor to_tensor(const std::vector<double>& v);
// The elements of t in order, as doubles.
std::vector<double> to_doubles(const Tensor& t);

// Q: (n, n) with orthonormal columns, by modified Gram–Schmidt on a Gaussian matrix drawn from `rng` (a column
// that comes out numerically dependent is redrawn). For seeded random SPD instances Q diag(s) Qᵀ.
std::vector<double> random_orthogonal(int64_t n, Rng& rng);

// The lower Cholesky factor L of a symmetric (n, n) matrix a (a = LLᵀ; only the lower triangle of a is read),
// or nothing when a is not positive definite (a pivot ≤ 0 or NaN).
std::optional<std::vector<double>> cholesky(const std::vector<double>& a, int64_t n);
// x with LLᵀx = rhs, for L from cholesky (forward then back substitution).
std::vector<double> cholesky_solve(const std::vector<double>& l, int64_t n, const std::vector<double>& rhs);

}  // namespace bilevel::dense
