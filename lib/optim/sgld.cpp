#include "optim/sgld.hpp"

#include <cmath>
#include <stdexcept>

#include "base/errors.hpp"

namespace bilevel {

double sgld_noise_std(double eta, double tau, double data_n) {
  if (!(eta > 0) || !(tau >= 0) || !(data_n > 0)) {
    throw internal_error("sgld_noise_std: needs eta > 0, tau ≥ 0, N > 0 (got eta = " + std::to_string(eta) +
                                ", tau = " + std::to_string(tau) + ", N = " + std::to_string(data_n) + ")");
  }
  return std::sqrt(2.0 * eta * tau / data_n);
}

void sgld_step(Tensor& theta, const Tensor& grad, real eta, real noise_std, Rng& noise) {
  if (theta.numel() != grad.numel()) {
    throw internal_error("sgld_step: θ " + theta.shape().str() + " and gradient " + grad.shape().str() +
                                " differ in size");
  }
  axpy(-eta, grad, theta);
  if (noise_std == real(0)) return;
  real* t = theta.data();
  for (int64_t i = 0; i < theta.numel(); ++i) t[i] += noise_std * static_cast<real>(noise.normal());
}

std::vector<int64_t> sgld_minibatch(int64_t n, int64_t size, Rng& rng) {
  if (!(size > 0 && size <= n)) {
    throw internal_error("sgld_minibatch: size " + std::to_string(size) + " must lie in [1, n = " +
                                std::to_string(n) + "]");
  }
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  for (int64_t i = 0; i < size; ++i) {
    const int64_t j = i + rng.randint(n - i);
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
  }
  idx.resize(static_cast<size_t>(size));
  return idx;
}

bool SgldSchedule::retained(int64_t t) const {
  if (t <= burn_in || t > total_steps()) return false;
  return (t - burn_in) % thin == 0;
}

bool SgldSchedule::reset_at(int64_t t) const { return window > 0 && t > 0 && t % window == 0; }

int64_t SgldSchedule::window_start(int64_t t) const { return window > 0 ? (t / window) * window : 0; }

int64_t SgldSchedule::steps_since_reset(int64_t t) const {
  if (t < 1) return 0;
  return window > 0 ? t - ((t - 1) / window) * window : t;
}

bool SgldSchedule::sample_ahead(int64_t t) const {
  // The first kept sample after t, and the last step whose sample still sees the step from θ_t.
  const int64_t first = burn_in + thin;
  const int64_t next = t < first ? first : burn_in + thin * ((t - burn_in) / thin + 1);
  const int64_t limit = window > 0 ? std::min(total_steps(), window_start(t) + window) : total_steps();
  return next <= limit;
}

const std::vector<std::string>& sgld_variant_names() {
  static const std::vector<std::string> names = {"pathwise", "cov", "drop-hessian", "one-step", "two-pass", "frozen"};
  return names;
}

SgldVariant sgld_variant_from_name(const std::string& name) {
  const auto& names = sgld_variant_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<SgldVariant>(i);
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
  throw option_error("unknown sgld variant '" + name + "' (expected one of: " + all + ")");
}

}  // namespace bilevel
