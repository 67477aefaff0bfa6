#pragma once
// Functional models over ONE flat parameter vector.
//
// A Model owns no parameters: it owns a ParamLayout and maps (θ, x) to an output Var, reading each
// parameter tensor as ad::view(theta, entry.offset, entry.shape). θ is the (P,) Var the caller
// differentiates through (inner steps, hypergradients), so every estimator is plain vector algebra.
//
// Models are immutable after construction and hold no mutable state: forward() is safe to call
// from several threads at once, each with its own graph (its own θ and x leaves).
//
// Shapes: images are NHWC (batch, height, width, channels); matrices are row-major; a weight
// matrix W of a dense layer is stored (in, out) so that y = x·W + b.
// Errors: a wrong θ or x shape throws internal_error naming the model and the shapes.
#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/var.hpp"
#include "nn/layout.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

namespace bilevel::nn {

class Model {
 public:
  virtual ~Model() = default;

  const ParamLayout& layout() const { return layout_; }
  int64_t num_params() const { return layout_.size; }

  // A fresh θ of shape (P,) drawn from `rng` (advances it). Deterministic for a given Rng stream;
  // each model states its scheme. Entries are filled in layout order.
  virtual Tensor init(Rng& rng) const = 0;
  // Requires theta of shape (P,) with P == num_params() and x of the model's input shape.
  // Ensures a differentiable function of θ and x (twice, away from ReLU kinks and max-pool ties).
  virtual ad::Var forward(const ad::Var& theta, const ad::Var& x) const = 0;
  // One line, e.g. "mlp 1-40-40-1 relu (1761 params)".
  virtual std::string describe() const = 0;

 protected:
  Model() = default;
  Model(const Model&) = default;
  Model& operator=(const Model&) = default;
  // Throws internal_error unless theta has shape (num_params(),).
  void check_theta(const ad::Var& theta, const char* model) const;
  // ad::view of θ for the entry called `name`.
  ad::Var param(const ad::Var& theta, const std::string& name) const;

  ParamLayout layout_;
};

// ---- activations -----------------------------------------------------------------------------------
enum class Activation { relu, tanh, sigmoid, softplus };

// "relu" | "tanh" | "sigmoid" | "softplus"; anything else throws internal_error listing them.
Activation activation_from_name(const std::string& name);
std::string activation_name(Activation a);
// Element-wise activation, any shape.
ad::Var activate(Activation a, const ad::Var& x);

// ---- Linear -----------------------------------------------------------------------------------------
// x: (B, in) → (B, out), y = x·W + b.
// Layout: "weight" (in, out), "bias" (out,).
// Init: Glorot-uniform W (a linear layer with no activation after it), zero b.
class Linear final : public Model {
 public:
  // Requires in ≥ 1, out ≥ 1.
  Linear(int64_t in, int64_t out);
  Tensor init(Rng& rng) const override;
  ad::Var forward(const ad::Var& theta, const ad::Var& x) const override;
  std::string describe() const override;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
};

// ---- Mlp --------------------------------------------------------------------------------------------
// sizes = {d0, d1, …, dL} (L ≥ 1 dense layers): x: (B, d0) → (B, dL).
//   h₀ = x;  h_{l+1} = act(h_l·W_l + b_l) for l < L−1;  output = h_{L−1}·W_{L−1} + b_{L−1}
// (no activation after the last layer).
// Layout, in order: "layer0.weight" (d0, d1), "layer0.bias" (d1,), "layer1.weight" (d1, d2), …,
// "layer{L−1}.bias" (dL,). P = Σ_l (d_l + 1)·d_{l+1}; e.g. {1, 40, 40, 1} has 1761.
// Init: hidden layers He-uniform for relu and softplus (ReLU-like), Glorot-uniform for tanh and
// sigmoid; the last (linear) layer Glorot-uniform; all biases zero.
class Mlp final : public Model {
 public:
  // Requires sizes.size() ≥ 2 and every size ≥ 1.
  explicit Mlp(std::vector<int64_t> sizes, Activation activation = Activation::relu);
  // activation by name (see activation_from_name).
  Mlp(std::vector<int64_t> sizes, const std::string& activation);
  Tensor init(Rng& rng) const override;
  ad::Var forward(const ad::Var& theta, const ad::Var& x) const override;
  std::string describe() const override;
  const std::vector<int64_t>& sizes() const { return sizes_; }
  Activation activation() const { return activation_; }

 private:
  std::vector<int64_t> sizes_;
  Activation activation_;
};

// ---- Conv4 ------------------------------------------------------------------------------------------
// The 4-block few-shot CNN (MAML/ProtoNets backbone). x: (B, H, W, C) → logits (B, N).
// Each block i = 0..3, with h₀ = x:
//   conv 3×3, F filters, pad 1, stride 1 (maxpool) or 2 (stride), no bias
//   → batch_norm with batch statistics (eps 1e-5) → ReLU → 2×2 max-pool (maxpool only).
// A conv bias is omitted on purpose: batch-norm subtracts the per-channel batch mean, so it would
// cancel exactly, have zero gradient and make the Hessian singular.
// Then flatten (row-major over (h, w, f)) to D = H₄·W₄·F features → head: y = h·W + b.
// Spatial sizes: maxpool: s → s/2 per block (floor; each conv output must be ≥ 2);
//                stride:  s → ⌈s/2⌉ per block. E.g. 28 → 1 (maxpool) or 2 (stride); 84 → 5 or 6.
// Layout, in order: for i = 0..3: "conv{i}.weight" (F, 3, 3, C_i) with C₀ = C, C_i = F after,
// "bn{i}.gamma" (F,), "bn{i}.beta" (F,); then "head.weight" (D, N), "head.bias" (N,).
// P = 9·C·F + 3·9·F² + 8·F + (D + 1)·N.
// Init: conv weights He-uniform with fan_in 9·C_i (a ReLU follows), gamma ones, beta zeros,
// head Glorot-uniform with zero bias.
enum class Downsample { maxpool, stride };
// "maxpool" | "stride"; anything else throws internal_error listing them.
Downsample downsample_from_name(const std::string& name);
std::string downsample_name(Downsample d);

class Conv4 final : public Model {
 public:
  static constexpr int num_blocks = 4;
  // Requires positive sizes and an input large enough for four blocks (throws internal_error
  // naming the geometry otherwise: maxpool needs H, W ≥ 16).
  Conv4(int64_t height, int64_t width, int64_t channels, int64_t filters, int64_t classes,
        Downsample downsample = Downsample::maxpool);
  Conv4(int64_t height, int64_t width, int64_t channels, int64_t filters, int64_t classes,
        const std::string& downsample);
  Tensor init(Rng& rng) const override;
  ad::Var forward(const ad::Var& theta, const ad::Var& x) const override;
  std::string describe() const override;

  int64_t height() const { return height_; }
  int64_t width() const { return width_; }
  int64_t channels() const { return channels_; }
  int64_t filters() const { return filters_; }
  int64_t classes() const { return classes_; }
  Downsample downsample() const { return downsample_; }
  // Spatial size after the four blocks and the flattened feature size D = H₄·W₄·F.
  int64_t out_height() const { return out_height_; }
  int64_t out_width() const { return out_width_; }
  int64_t feature_dim() const { return out_height_ * out_width_ * filters_; }

 private:
  int64_t height_, width_, channels_, filters_, classes_;
  Downsample downsample_;
  int64_t out_height_ = 0, out_width_ = 0;
};

}  // namespace bilevel::nn
