#pragma once
// Seeded initialisers that write one layout entry of a flat parameter vector θ.
//
// Each draws exactly entry.shape.numel() numbers from `rng`, in element order, so a model's init
// (which visits its entries in layout order) is a pure function of the Rng stream and the layout.
#include <cstdint>

#include "nn/layout.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

namespace bilevel::nn {

// Requires theta of numel ≥ entry.offset + entry.shape.numel() (throws internal_error otherwise).
// θ[entry] ~ U(−bound, bound).
void init_uniform(Tensor& theta, const ParamEntry& entry, double bound, Rng& rng);
// He/Kaiming uniform for a layer followed by a ReLU-like activation: bound = sqrt(6 / fan_in),
// so Var(w) = 2 / fan_in.
void init_he_uniform(Tensor& theta, const ParamEntry& entry, int64_t fan_in, Rng& rng);
// Glorot/Xavier uniform for tanh/sigmoid or linear layers: bound = sqrt(6 / (fan_in + fan_out)).
void init_glorot_uniform(Tensor& theta, const ParamEntry& entry, int64_t fan_in, int64_t fan_out, Rng& rng);
// θ[entry] = value (biases: 0, batch-norm gamma: 1). Draws nothing.
void init_constant(Tensor& theta, const ParamEntry& entry, real value);

}  // namespace bilevel::nn
