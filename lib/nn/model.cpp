// Model base helpers, activations and the dense models (Linear, Mlp).
#include "nn/model.hpp"

#include <stdexcept>
#include <string>
#include <utility>

#include "base/errors.hpp"
#include "autodiff/ops.hpp"
#include "nn/init.hpp"

namespace bilevel::nn {

void Model::check_theta(const ad::Var& theta, const char* model) const {
  if (!theta.defined() || theta.shape() != Shape{num_params()}) {
    throw internal_error(std::string(model) + ": θ of shape " +
                                (theta.defined() ? theta.shape().str() : std::string("<undefined>")) +
                                ", expected (" + std::to_string(num_params()) + ",)");
  }
}

ad::Var Model::param(const ad::Var& theta, const std::string& name) const {
  const ParamEntry& e = layout_.find(name);
  return ad::view(theta, e.offset, e.shape);
}

// ---- activations -----------------------------------------------------------------------------------
Activation activation_from_name(const std::string& name) {
  if (name == "relu") return Activation::relu;
  if (name == "tanh") return Activation::tanh;
  if (name == "sigmoid") return Activation::sigmoid;
  if (name == "softplus") return Activation::softplus;
  throw internal_error("unknown activation '" + name + "' (valid: relu, tanh, sigmoid, softplus)");
}

std::string activation_name(Activation a) {
  switch (a) {
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
    case Activation::sigmoid: return "sigmoid";
    case Activation::softplus: return "softplus";
  }
  return "?";
}

ad::Var activate(Activation a, const ad::Var& x) {
  switch (a) {
    case Activation::relu: return ad::relu(x);
    case Activation::tanh: return ad::tanh(x);
    case Activation::sigmoid: return ad::sigmoid(x);
    case Activation::softplus: return ad::softplus(x);
  }
  throw std::logic_error("activate: bad Activation value");
}

namespace {
void check_input_2d(const ad::Var& x, int64_t features, const char* model) {
  if (!x.defined() || x.rank() != 2 || x.shape()[1] != features) {
    throw internal_error(std::string(model) + ": input of shape " +
                                (x.defined() ? x.shape().str() : std::string("<undefined>")) + ", expected (B, " +
                                std::to_string(features) + ")");
  }
}
}  // namespace

// ---- Linear -----------------------------------------------------------------------------------------
Linear::Linear(int64_t in, int64_t out) : in_(in), out_(out) {
  if (in < 1 || out < 1) {
    throw internal_error("Linear: sizes " + std::to_string(in) + " → " + std::to_string(out) +
                                " (both must be ≥ 1)");
  }
  layout_.add("weight", Shape{in, out});
  layout_.add("bias", Shape{out});
}

Tensor Linear::init(Rng& rng) const {
  Tensor theta(Shape{num_params()});
  init_glorot_uniform(theta, layout_.entries[0], in_, out_, rng);
  init_constant(theta, layout_.entries[1], real(0));
  return theta;
}

ad::Var Linear::forward(const ad::Var& theta, const ad::Var& x) const {
  // x: (B, in), W: (in, out), b: (out,) → (B, out).
  check_theta(theta, "Linear");
  check_input_2d(x, in_, "Linear");
  return ad::add(ad::matmul(x, param(theta, "weight")), param(theta, "bias"));
}

std::string Linear::describe() const {
  return "linear " + std::to_string(in_) + "-" + std::to_string(out_) + " (" + std::to_string(num_params()) +
         " params)";
}

// ---- Mlp --------------------------------------------------------------------------------------------
namespace {
std::string sizes_str(const std::vector<int64_t>& sizes) {
  std::string s;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i) s += '-';
    s += std::to_string(sizes[i]);
  }
  return s;
}
}  // namespace

Mlp::Mlp(std::vector<int64_t> sizes, Activation activation) : sizes_(std::move(sizes)), activation_(activation) {
  if (sizes_.size() < 2) {
    throw internal_error("Mlp: sizes '" + sizes_str(sizes_) + "' need at least an input and an output size");
  }
  for (int64_t d : sizes_) {
    if (d < 1) throw internal_error("Mlp: sizes '" + sizes_str(sizes_) + "' must all be ≥ 1");
  }
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    const std::string p = "layer" + std::to_string(l);
    layout_.add(p + ".weight", Shape{sizes_[l], sizes_[l + 1]});
    layout_.add(p + ".bias", Shape{sizes_[l + 1]});
  }
}

Mlp::Mlp(std::vector<int64_t> sizes, const std::string& activation)
    : Mlp(std::move(sizes), activation_from_name(activation)) {}

Tensor Mlp::init(Rng& rng) const {
  Tensor theta(Shape{num_params()});
  const size_t layers = sizes_.size() - 1;
  const bool relu_like = activation_ == Activation::relu || activation_ == Activation::softplus;
  for (size_t l = 0; l < layers; ++l) {
    const ParamEntry& w = layout_.entries[2 * l];
    const ParamEntry& b = layout_.entries[2 * l + 1];
    const bool hidden = l + 1 < layers;
    if (hidden && relu_like) {
      init_he_uniform(theta, w, sizes_[l], rng);
    } else {
      init_glorot_uniform(theta, w, sizes_[l], sizes_[l + 1], rng);
    }
    init_constant(theta, b, real(0));
  }
  return theta;
}

ad::Var Mlp::forward(const ad::Var& theta, const ad::Var& x) const {
  // x: (B, d0) → (B, dL); layer l: (B, d_l)·(d_l, d_{l+1}) + (d_{l+1},).
  check_theta(theta, "Mlp");
  check_input_2d(x, sizes_.front(), "Mlp");
  const size_t layers = sizes_.size() - 1;
  ad::Var h = x;
  for (size_t l = 0; l < layers; ++l) {
    const ParamEntry& w = layout_.entries[2 * l];
    const ParamEntry& b = layout_.entries[2 * l + 1];
    h = ad::add(ad::matmul(h, ad::view(theta, w.offset, w.shape)), ad::view(theta, b.offset, b.shape));
    if (l + 1 < layers) h = activate(activation_, h);
  }
  return h;
}

std::string Mlp::describe() const {
  return "mlp " + sizes_str(sizes_) + " " + activation_name(activation_) + " (" + std::to_string(num_params()) +
         " params)";
}

}  // namespace bilevel::nn
