#pragma once
// Siren: a coordinate network with sine activations (Sitzmann et al. 2020, "Implicit neural representations with
// periodic activation functions"), the usual model of implicit neural representations (INRs).
#include <cstdint>
#include <string>
#include <vector>

#include "nn/model.hpp"

namespace bilevel::nn {

// sizes = {d0, d1, …, dL} (L ≥ 2 dense layers): coordinates x: (B, d0) → values (B, dL).
//   h₀ = x;  h_{l+1} = sin(ω₀·(h_l·W_l + b_l)) for l < L−1;  output = h_{L−1}·W_{L−1} + b_{L−1}
// Layout as Mlp's: "layer0.weight" (d0, d1), "layer0.bias" (d1,), …, "layer{L−1}.bias" (dL,).
// Init (the paper's scheme): first layer W ~ U(±1/d0); later layers W ~ U(±√(6/d_l)/ω₀) (so ω₀·h·W keeps unit-order
// pre-activations); biases U(±1/√d_l) (the usual dense-layer default). Entries are drawn in layout order.
class Siren final : public Model {
 public:
  // Requires sizes.size() ≥ 3, every size ≥ 1 and ω₀ > 0 (internal_error otherwise).
  Siren(std::vector<int64_t> sizes, double omega0);
  Tensor init(Rng& rng) const override;
  ad::Var forward(const ad::Var& theta, const ad::Var& x) const override;
  std::string describe() const override;
  const std::vector<int64_t>& sizes() const { return sizes_; }
  double omega0() const { return omega0_; }

 private:
  std::vector<int64_t> sizes_;
  double omega0_;
};

}  // namespace bilevel::nn
