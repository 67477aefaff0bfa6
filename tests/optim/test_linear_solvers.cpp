// The matrix-free linear solvers (lib/optim/linear_solvers.hpp) on an explicit SPD matrix, against a direct
// Cholesky solve (lib/optim/dense.hpp).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "optim/dense.hpp"
#include "optim/linear_solvers.hpp"

using namespace bilevel;

namespace {

// A = Q diag(s) Qᵀ (n, n) with eigenvalues s log-spaced in [1, cond], and b ~ N(0, I).
struct SpdSystem {
  int64_t n = 0;
  std::vector<double> a, b, eigs;
  MatVec matvec() const {
    return [this](const Tensor& v) {
      Tensor out(Shape{n});
      for (int64_t i = 0; i < n; ++i) {
        double s = 0;
        for (int64_t j = 0; j < n; ++j) s += a[dense::ui(i * n + j)] * static_cast<double>(v[j]);
        out[i] = static_cast<real>(s);
      }
      return out;
    };
  }
};

SpdSystem make_system(int64_t n, double cond, uint64_t seed) {
  Rng rng(seed, {42});
  SpdSystem sys;
  sys.n = n;
  const std::vector<double> q = dense::random_orthogonal(n, rng);
  for (int64_t k = 0; k < n; ++k) sys.eigs.push_back(std::pow(cond, static_cast<double>(k) / static_cast<double>(n - 1)));
  sys.a.assign(dense::ui(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < n; ++k)
        sys.a[dense::ui(i * n + j)] += q[dense::ui(i * n + k)] * sys.eigs[dense::ui(k)] * q[dense::ui(j * n + k)];
  for (int64_t i = 0; i < n; ++i)  // exactly symmetric
    for (int64_t j = 0; j < i; ++j) sys.a[dense::ui(j * n + i)] = sys.a[dense::ui(i * n + j)];
  for (int64_t i = 0; i < n; ++i) sys.b.push_back(rng.normal());
  return sys;
}

std::vector<double> direct_solve(const SpdSystem& s) {
  const auto l = dense::cholesky(s.a, s.n);
  REQUIRE(l.has_value());
  return dense::cholesky_solve(*l, s.n, s.b);
}

double rel_err(const Tensor& x, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(x[static_cast<int64_t>(i)]) - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

double true_residual(const SpdSystem& s, const Tensor& x) {
  const Tensor ax = s.matvec()(x);
  double r = 0;
  for (int64_t i = 0; i < s.n; ++i) {
    const double d = s.b[dense::ui(i)] - static_cast<double>(ax[i]);
    r += d * d;
  }
  return std::sqrt(r);
}

#ifdef BILEVEL_DOUBLE
constexpr double kTight = 1e-10;
#else
constexpr double kTight = 1e-4;
#endif

}  // namespace

TEST_SUITE("optim") {
  TEST_CASE("dense: the Cholesky factor reproduces A and refuses a matrix that is not positive definite") {
    const SpdSystem s = make_system(6, 50, 1);
    const auto l = dense::cholesky(s.a, s.n);
    REQUIRE(l.has_value());
    for (int64_t i = 0; i < s.n; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        double llt = 0;
        for (int64_t k = 0; k < s.n; ++k) llt += (*l)[dense::ui(i * s.n + k)] * (*l)[dense::ui(j * s.n + k)];
        CHECK(llt == doctest::Approx(s.a[dense::ui(i * s.n + j)]).epsilon(1e-12).scale(1));
      }
    CHECK_FALSE(dense::cholesky({1, 2, 2, 1}, 2).has_value());  // eigenvalues 3 and −1
    CHECK_FALSE(dense::cholesky({0, 0, 0, 1}, 2).has_value());  // singular
  }

  TEST_CASE("conjugate gradients: the direct solution, its residual and its product count") {
    const SpdSystem s = make_system(12, 100, 2);
    const std::vector<double> want = direct_solve(s);
    const Tensor b = dense::to_tensor(s.b);
    int64_t calls = 0;
    const MatVec counted = [&](const Tensor& v) {
      ++calls;
      return s.matvec()(v);
    };
    // n iterations reach the solution (exactly in exact arithmetic; a few more absorb rounding).
    const LinearSolution full = conjugate_gradient(counted, b, 3 * s.n, 0.0);
    CHECK(rel_err(full.x, want) < kTight * 100);
    CHECK(full.matvecs == calls);
    CHECK(full.matvecs <= 3 * s.n);
    // The tracked residual is the true one, to rounding.
    const LinearSolution part = conjugate_gradient(s.matvec(), b, 4, 0.0);
    CHECK(part.matvecs == 4);
    CHECK(part.residual == doctest::Approx(true_residual(s, part.x)).epsilon(1e-3));
    CHECK(rel_err(part.x, want) > 1e-3);  // 4 of 12 iterations on κ = 100: not converged, so the test can fail
    // The relative tolerance stops it early, with ‖r‖ ≤ tol·‖b‖.
    const double bnorm = std::sqrt(norm2(b));
    const LinearSolution early = conjugate_gradient(s.matvec(), b, 100, 1e-3);
    CHECK(early.residual <= 1e-3 * bnorm);
    CHECK(early.matvecs < full.matvecs);
    // No iterations: x = 0, residual ‖b‖.
    const LinearSolution none = conjugate_gradient(s.matvec(), b, 0, 0.0);
    CHECK(none.matvecs == 0);
    CHECK(norm2(none.x) == 0.0);
    CHECK(none.residual == doctest::Approx(bnorm));
  }

  TEST_CASE("conjugate gradients stops where the matrix is not positive definite") {
    // A = diag(1, −1), b = (1, 1): the first direction has dᵀAd = 0, so CG returns x = 0 after one product.
    const MatVec indefinite = [](const Tensor& v) {
      Tensor out = v;
      out[1] = -v[1];
      return out;
    };
    const Tensor b = Tensor::vector({real(1), real(1)});
    const LinearSolution s = conjugate_gradient(indefinite, b, 10, 0.0);
    CHECK(s.matvecs == 1);
    CHECK(norm2(s.x) == 0.0);
  }

  TEST_CASE("Neumann series: converges to the direct solution at the rate of its spectral radius") {
    const SpdSystem s = make_system(8, 10, 3);
    const std::vector<double> want = direct_solve(s);
    const Tensor b = dense::to_tensor(s.b);
    const double alpha = 1.0 / 10.0;  // 1/λmax: the error shrinks by ρ = 1 − α·λmin = 0.9 per term
    const LinearSolution few = neumann_series(s.matvec(), b, 20, alpha);
    const LinearSolution many = neumann_series(s.matvec(), b, 400, alpha);
    CHECK(few.matvecs == 20);
    CHECK(many.matvecs == 400);
    CHECK(std::isnan(few.residual));
    CHECK(rel_err(many.x, want) < kTight * 100);
    // Error after K terms is (I − αA)^{K+1}A⁻¹b: at most 0.9^{K+1} relative, and near it (the λmin component
    // of A⁻¹b dominates after a few terms).
    const double bound = std::pow(0.9, 21);
    const double err = rel_err(few.x, want);
    CHECK(err <= bound * 1.0001);
    CHECK(err > bound * 0.01);
    // Zero terms: α b.
    const LinearSolution zero = neumann_series(s.matvec(), b, 0, alpha);
    for (int64_t i = 0; i < s.n; ++i) CHECK(zero.x[i] == static_cast<real>(alpha) * b[i]);
  }
}
