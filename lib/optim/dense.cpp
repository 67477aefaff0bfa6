#include "optim/dense.hpp"

#include <cmath>

#include "base/errors.hpp"

namespace bilevel::dense {

Tensor to_tensor(const std::vector<double>& v, const Shape& s) {
  BILEVEL_CHECK(static_cast<int64_t>(v.size()) == s.numel(),
                "dense::to_tensor: " + std::to_string(v.size()) + " values for shape " + s.str());
  std::vector<real> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = static_cast<real>(v[i]);
  return Tensor(s, std::move(r));
}

Tensor to_tensor(const std::vector<double>& v) { return to_tensor(v, Shape{static_cast<int64_t>(v.size())}); }

std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> v(ui(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[ui(i)] = static_cast<double>(t[i]);
  return v;
}

std::vector<double> random_orthogonal(int64_t n, Rng& rng) {
  std::vector<double> q(ui(n * n));
  auto at = [&](int64_t i, int64_t j) -> double& { return q[ui(i * n + j)]; };
  for (int64_t j = 0; j < n; ++j) {
    for (;;) {
      for (int64_t i = 0; i < n; ++i) at(i, j) = rng.normal();
      for (int64_t k = 0; k < j; ++k) {
        double p = 0;
        for (int64_t i = 0; i < n; ++i) p += at(i, k) * at(i, j);
        for (int64_t i = 0; i < n; ++i) at(i, j) -= p * at(i, k);
      }
      double nrm = 0;
      for (int64_t i = 0; i < n; ++i) nrm += at(i, j) * at(i, j);
      nrm = std::sqrt(nrm);
      if (nrm < 1e-8) continue;
      for (int64_t i = 0; i < n; ++i) at(i, j) /= nrm;
      break;
    }
  }
  return q;
}

std::optional<std::vector<double>> cholesky(const std::vector<double>& a, int64_t n) {
  BILEVEL_CHECK(static_cast<int64_t>(a.size()) == n * n, "dense::cholesky: matrix of " + std::to_string(a.size()) +
                                                             " entries, expected " + std::to_string(n * n));
  std::vector<double> l(ui(n * n), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    double s = a[ui(j * n + j)];
    for (int64_t k = 0; k < j; ++k) s -= l[ui(j * n + k)] * l[ui(j * n + k)];
    if (!(s > 0)) return std::nullopt;
    l[ui(j * n + j)] = std::sqrt(s);
    for (int64_t i = j + 1; i < n; ++i) {
      double t = a[ui(i * n + j)];
      for (int64_t k = 0; k < j; ++k) t -= l[ui(i * n + k)] * l[ui(j * n + k)];
      l[ui(i * n + j)] = t / l[ui(j * n + j)];
    }
  }
  return l;
}

std::vector<double> cholesky_solve(const std::vector<double>& l, int64_t n, const std::vector<double>& rhs) {
  BILEVEL_CHECK(static_cast<int64_t>(l.size()) == n * n && static_cast<int64_t>(rhs.size()) == n,
                "dense::cholesky_solve: sizes do not match n = " + std::to_string(n));
  std::vector<double> y(rhs);
  for (int64_t i = 0; i < n; ++i) {  // L y = rhs
    for (int64_t k = 0; k < i; ++k) y[ui(i)] -= l[ui(i * n + k)] * y[ui(k)];
    y[ui(i)] /= l[ui(i * n + i)];
  }
  for (int64_t i = n - 1; i >= 0; --i) {  // Lᵀ x = y
    for (int64_t k = i + 1; k < n; ++k) y[ui(i)] -= l[ui(k * n + i)] * y[ui(k)];
    y[ui(i)] /= l[ui(i * n + i)];
  }
  return y;
}

}  // namespace bilevel::dense
