// Siren (see siren.hpp).
#include "nn/siren.hpp"

#include <cmath>
#include <sstream>
#include <string>
#include <utility>

#include "autodiff/ops.hpp"
#include "base/errors.hpp"
#include "nn/init.hpp"

namespace bilevel::nn {

Siren::Siren(std::vector<int64_t> sizes, double omega0) : sizes_(std::move(sizes)), omega0_(omega0) {
  bool ok = sizes_.size() >= 3 && omega0_ > 0 && std::isfinite(omega0_);
  for (int64_t s : sizes_) ok = ok && s >= 1;
  if (!ok) throw internal_error("Siren: needs ≥ 3 sizes, all ≥ 1, and ω₀ > 0 (" + describe() + ")");
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    layout_.add("layer" + std::to_string(l) + ".weight", Shape{sizes_[l], sizes_[l + 1]});
    layout_.add("layer" + std::to_string(l) + ".bias", Shape{sizes_[l + 1]});
  }
}

Tensor Siren::init(Rng& rng) const {
  Tensor theta(Shape{num_params()});
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    const auto fan_in = static_cast<double>(sizes_[l]);
    const double w_bound = l == 0 ? 1.0 / fan_in : std::sqrt(6.0 / fan_in) / omega0_;
    init_uniform(theta, layout_.entries[2 * l], w_bound, rng);
    init_uniform(theta, layout_.entries[2 * l + 1], 1.0 / std::sqrt(fan_in), rng);
  }
  return theta;
}

ad::Var Siren::forward(const ad::Var& theta, const ad::Var& x) const {
  check_theta(theta, "Siren");
  if (!x.defined() || x.rank() != 2 || x.shape()[1] != sizes_[0]) {
    throw internal_error("Siren: input of shape " + (x.defined() ? x.shape().str() : std::string("<undefined>")) +
                         ", expected (B, " + std::to_string(sizes_[0]) + ")");
  }
  ad::Var h = x;
  const size_t layers = sizes_.size() - 1;
  for (size_t l = 0; l < layers; ++l) {
    const std::string p = "layer" + std::to_string(l);
    h = ad::add(ad::matmul(h, param(theta, p + ".weight")), param(theta, p + ".bias"));
    if (l + 1 < layers) h = ad::sin(ad::scale(h, static_cast<real>(omega0_)));
  }
  return h;
}

std::string Siren::describe() const {
  std::ostringstream s;
  s << "siren ";
  for (size_t i = 0; i < sizes_.size(); ++i) s << (i ? "-" : "") << sizes_[i];
  s << " omega0=" << omega0_ << " (" << num_params() << " params)";
  return s.str();
}

}  // namespace bilevel::nn
