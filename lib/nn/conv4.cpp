// Conv4: the 4-block few-shot CNN over a flat parameter vector.
#include <stdexcept>
#include <string>

#include "base/errors.hpp"
#include "autodiff/ops.hpp"
#include "nn/init.hpp"
#include "nn/model.hpp"

namespace bilevel::nn {

Downsample downsample_from_name(const std::string& name) {
  if (name == "maxpool") return Downsample::maxpool;
  if (name == "stride") return Downsample::stride;
  throw internal_error("unknown downsample '" + name + "' (valid: maxpool, stride)");
}

std::string downsample_name(Downsample d) { return d == Downsample::maxpool ? "maxpool" : "stride"; }

namespace {
constexpr int64_t kernel = 3;

std::string geometry_str(int64_t h, int64_t w, int64_t c) {
  return std::to_string(h) + "x" + std::to_string(w) + "x" + std::to_string(c);
}

// Spatial size after one block. maxpool: conv keeps s (pad 1), pool halves it (floor) and needs s ≥ 2.
// stride: (s + 2·1 − 3)/2 + 1 = ⌈s/2⌉. Returns 0 where the block does not fit.
int64_t block_out(int64_t s, Downsample d) { return d == Downsample::maxpool ? s / 2 : (s - 1) / 2 + 1; }
}  // namespace

Conv4::Conv4(int64_t height, int64_t width, int64_t channels, int64_t filters, int64_t classes,
             Downsample downsample)
    : height_(height), width_(width), channels_(channels), filters_(filters), classes_(classes),
      downsample_(downsample) {
  if (height < 1 || width < 1 || channels < 1 || filters < 1 || classes < 1) {
    throw internal_error("Conv4: input " + geometry_str(height, width, channels) + ", filters " +
                                std::to_string(filters) + ", classes " + std::to_string(classes) +
                                " (all must be ≥ 1)");
  }
  int64_t h = height, w = width;
  for (int i = 0; i < num_blocks; ++i) {
    h = block_out(h, downsample);
    w = block_out(w, downsample);
    if (h < 1 || w < 1) {
      throw internal_error("Conv4: input " + geometry_str(height, width, channels) + " is too small for " +
                                  std::to_string(num_blocks) + " blocks with " + downsample_name(downsample) +
                                  " downsampling (block " + std::to_string(i) + " has no output; maxpool needs ≥ 16)");
    }
  }
  out_height_ = h;
  out_width_ = w;
  int64_t c = channels;
  for (int i = 0; i < num_blocks; ++i) {
    const std::string s = std::to_string(i);
    layout_.add("conv" + s + ".weight", Shape{filters, kernel, kernel, c});
    layout_.add("bn" + s + ".gamma", Shape{filters});
    layout_.add("bn" + s + ".beta", Shape{filters});
    c = filters;
  }
  layout_.add("head.weight", Shape{feature_dim(), classes});
  layout_.add("head.bias", Shape{classes});
}

Conv4::Conv4(int64_t height, int64_t width, int64_t channels, int64_t filters, int64_t classes,
             const std::string& downsample)
    : Conv4(height, width, channels, filters, classes, downsample_from_name(downsample)) {}

Tensor Conv4::init(Rng& rng) const {
  Tensor theta(Shape{num_params()});
  const auto& e = layout_.entries;
  int64_t c = channels_;
  for (size_t i = 0; i < static_cast<size_t>(num_blocks); ++i) {
    init_he_uniform(theta, e[3 * i], kernel * kernel * c, rng);  // conv → BN → ReLU
    init_constant(theta, e[3 * i + 1], real(1));                // gamma
    init_constant(theta, e[3 * i + 2], real(0));                // beta
    c = filters_;
  }
  init_glorot_uniform(theta, e[3 * num_blocks], feature_dim(), classes_, rng);
  init_constant(theta, e[3 * num_blocks + 1], real(0));
  return theta;
}

ad::Var Conv4::forward(const ad::Var& theta, const ad::Var& x) const {
  // x: (B, H, W, C) → 4 blocks → (B, H₄, W₄, F) → (B, D) → (B, N).
  check_theta(theta, "Conv4");
  if (!x.defined() || x.rank() != 4 || x.shape()[1] != height_ || x.shape()[2] != width_ ||
      x.shape()[3] != channels_) {
    throw internal_error("Conv4: input of shape " + (x.defined() ? x.shape().str() : std::string("<undefined>")) +
                                ", expected (B, " + std::to_string(height_) + ", " + std::to_string(width_) + ", " +
                                std::to_string(channels_) + ")");
  }
  const auto& e = layout_.entries;
  const ad::Conv2dParams conv{downsample_ == Downsample::stride ? 2 : 1, 1};
  auto at = [&](size_t k) { return ad::view(theta, e[k].offset, e[k].shape); };
  ad::Var h = x;
  for (size_t i = 0; i < static_cast<size_t>(num_blocks); ++i) {
    h = ad::conv2d(h, at(3 * i), ad::Var(), conv);
    h = ad::batch_norm_relu(h, at(3 * i + 1), at(3 * i + 2));
    if (downsample_ == Downsample::maxpool) h = ad::max_pool2x2(h);
  }
  const int64_t b = x.shape()[0];
  h = ad::reshape(h, Shape{b, feature_dim()});
  return ad::add(ad::matmul(h, at(3 * num_blocks)), at(3 * num_blocks + 1));
}

std::string Conv4::describe() const {
  return "conv4 " + geometry_str(height_, width_, channels_) + " F=" + std::to_string(filters_) +
         " N=" + std::to_string(classes_) + " " + downsample_name(downsample_) + " (" +
         std::to_string(num_params()) + " params)";
}

}  // namespace bilevel::nn
