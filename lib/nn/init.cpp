#include "nn/init.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "base/errors.hpp"

namespace bilevel::nn {

namespace {
void check_fits(const Tensor& theta, const ParamEntry& e, const char* fn) {
  if (e.offset < 0 || e.offset + e.shape.numel() > theta.numel()) {
    throw internal_error(std::string(fn) + ": entry '" + e.name + "' at offset " + std::to_string(e.offset) +
                                " of shape " + e.shape.str() + " does not fit in θ of " +
                                std::to_string(theta.numel()) + " elements");
  }
}
void check_fan(int64_t fan, const ParamEntry& e, const char* fn) {
  if (fan <= 0) {
    throw internal_error(std::string(fn) + ": fan " + std::to_string(fan) + " for entry '" + e.name +
                                "' (must be positive)");
  }
}
}  // namespace

void init_uniform(Tensor& theta, const ParamEntry& entry, double bound, Rng& rng) {
  check_fits(theta, entry, "init_uniform");
  const int64_t n = entry.shape.numel();
  real* p = theta.data() + entry.offset;
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<real>(rng.uniform(-bound, bound));
}

void init_he_uniform(Tensor& theta, const ParamEntry& entry, int64_t fan_in, Rng& rng) {
  check_fan(fan_in, entry, "init_he_uniform");
  init_uniform(theta, entry, std::sqrt(6.0 / static_cast<double>(fan_in)), rng);
}

void init_glorot_uniform(Tensor& theta, const ParamEntry& entry, int64_t fan_in, int64_t fan_out, Rng& rng) {
  check_fan(fan_in, entry, "init_glorot_uniform");
  check_fan(fan_out, entry, "init_glorot_uniform");
  init_uniform(theta, entry, std::sqrt(6.0 / static_cast<double>(fan_in + fan_out)), rng);
}

void init_constant(Tensor& theta, const ParamEntry& entry, real value) {
  check_fits(theta, entry, "init_constant");
  const int64_t n = entry.shape.numel();
  real* p = theta.data() + entry.offset;
  for (int64_t i = 0; i < n; ++i) p[i] = value;
}

}  // namespace bilevel::nn
