#include "optim/linear_solvers.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/errors.hpp"

namespace bilevel {

LinearSolution conjugate_gradient(const MatVec& matvec, const Tensor& b, int64_t max_iters, double rel_tol) {
  BILEVEL_CHECK(max_iters >= 0 && rel_tol >= 0, "conjugate_gradient: needs max_iters ≥ 0 and rel_tol ≥ 0");
  LinearSolution s;
  s.x = Tensor(b.shape());
  Tensor r = b, d = b;  // residual b − Ax and search direction
  double rs = norm2(r);
  const double stop = rel_tol * rel_tol * std::max(norm2(b), 1e-300);
  for (int64_t it = 0; it < max_iters && rs > stop; ++it) {
    const Tensor ad = matvec(d);
    ++s.matvecs;
    const double dad = dot(d, ad);
    if (!(dad > 0)) break;
    const real a = static_cast<real>(rs / dad);
    axpy(a, d, s.x);
    axpy(-a, ad, r);
    const double rs_new = norm2(r);
    d = add(r, scaled(d, static_cast<real>(rs_new / rs)));
    rs = rs_new;
  }
  s.residual = std::sqrt(rs);
  return s;
}

LinearSolution neumann_series(const MatVec& matvec, const Tensor& b, int64_t terms, double alpha) {
  BILEVEL_CHECK(terms >= 0 && alpha > 0, "neumann_series: needs terms ≥ 0 and alpha > 0");
  const real a = static_cast<real>(alpha);
  LinearSolution s;
  Tensor term = b;  // (I − αA)^i b
  Tensor sum = b;
  for (int64_t it = 0; it < terms; ++it) {
    axpy(-a, matvec(term), term);
    ++s.matvecs;
    axpy(real(1), term, sum);
  }
  s.x = scaled(sum, a);
  s.residual = std::numeric_limits<double>::quiet_NaN();
  return s;
}

}  // namespace bilevel
