#pragma once
// Differentiable ops. Each op computes its value and attaches a backward rule written with these same
// ops, so gradients can be differentiated again. Shapes are stated per op; row-major throughout.
// Misuse (shape mismatch, bad argument) throws internal_error naming the op and the shapes.
//
// Adding an op touches its function in ops_*.cpp, its declaration here and its finite-difference
// check in tests/autodiff/test_ops.cpp, never the engine: the function computes the value, defines
// its Op (var.hpp: name, backward rule, and a named State struct if the backward needs more than the
// inputs and the output) as a static beside the code, and returns make_op(op, value, inputs[, state]).
//
// Image layout is NHWC: (batch, height, width, channels).
#include <cstdint>
#include <memory>
#include <vector>

#include "autodiff/var.hpp"

namespace bilevel::ad {

// ---- element-wise binary with numpy broadcasting (shapes aligned on the right) -------------------
Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);

// ---- scalar and unary ----------------------------------------------------------------------------
Var neg(const Var& x);
Var scale(const Var& x, real c);       // c·x
Var add_scalar(const Var& x, real c);  // x + c
Var exp(const Var& x);
Var log(const Var& x);                 // x > 0
Var tanh(const Var& x);
Var sigmoid(const Var& x);
Var relu(const Var& x);                // subgradient 0 at 0
Var softplus(const Var& x);            // log(1 + eˣ), stable
Var sin(const Var& x);
Var cos(const Var& x);
Var pow(const Var& x, real p);         // xᵖ; x > 0 unless p is an integer
Var square(const Var& x);
Var sqrt(const Var& x);                // x > 0
Var abs(const Var& x);                 // subgradient sign(x), 0 at 0

// ---- reductions -----------------------------------------------------------------------------------
Var sum(const Var& x);                                    // → scalar ()
Var sum(const Var& x, int axis, bool keepdim = false);    // axis may be negative
Var mean(const Var& x);
Var mean(const Var& x, int axis, bool keepdim = false);
Var sum_to(const Var& x, const Shape& shape);             // sum broadcast dims away: inverse of broadcast_to
Var broadcast_to(const Var& x, const Shape& shape);
Var dot(const Var& a, const Var& b);                      // Σ a⊙b over all elements (same numel) → ()

// ---- linear algebra and shape ---------------------------------------------------------------------
// a: (m, k) (or (k, m) if trans_a), b: (k, n) (or (n, k) if trans_b) → (m, n). bilevel::gemm.
Var matmul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);
Var transpose(const Var& x);                              // (m, n) → (n, m)
Var reshape(const Var& x, const Shape& shape);            // same numel
Var flatten(const Var& x);                                // → (numel,)
// Contiguous view: elements [offset, offset + shape.numel()) of x in row-major order, as `shape`.
// The normal way models read their parameters from one flat vector.
Var view(const Var& x, int64_t offset, const Shape& shape);
// Inverse of view: zeros of `shape` with x's elements written at `offset`.
Var embed(const Var& x, int64_t offset, const Shape& shape);
// acc + embed(x, offset, acc.shape()) as one op (one copy of acc instead of a zero-filled embed and an add):
// how the gradients of many views of one flat parameter vector are summed when a graph is recorded.
Var embed_add(const Var& acc, const Var& x, int64_t offset);
Var slice_rows(const Var& x, int64_t begin, int64_t end);  // rows [begin, end) of axis 0
Var concat(const std::vector<Var>& xs, int axis = 0);       // along axis 0 (other axes: (m, ·) 2-D only)
// out[i] = x.flat[idx[i]], out shape `shape` (numel == idx.size()); indices may repeat.
Var gather(const Var& x, std::shared_ptr<const std::vector<int64_t>> idx, const Shape& shape);
// out = zeros(shape); out.flat[idx[i]] += x.flat[i]. Adjoint of gather.
Var scatter_add(const Var& x, std::shared_ptr<const std::vector<int64_t>> idx, const Shape& shape);
// The indices a gather node reads, or nullptr if n was not made by gather (max_pool2x2 and
// per_example_cross_entropy are gathers: tests use this to tell which piece of a piecewise-smooth graph
// they are on).
const std::vector<int64_t>* gather_indices(const Node& n);

// ---- neural-network ops ---------------------------------------------------------------------------
Var log_softmax(const Var& x);                            // over the last axis of (B, C)
Var softmax(const Var& x);                                // exp(log_softmax(x))
// Mean over the batch of −log softmax(logits)[i, labels[i]], weighted by `weights` (B,) if given:
// (1/B) Σ wᵢ ℓᵢ. logits: (B, C); labels in [0, C). With sum_reduction the 1/B is dropped.
Var softmax_cross_entropy(const Var& logits, const std::vector<int64_t>& labels, const Var& weights = Var(),
                          bool sum_reduction = false);
Var per_example_cross_entropy(const Var& logits, const std::vector<int64_t>& labels);  // (B,)
Var mse(const Var& pred, const Var& target);              // mean of (pred − target)²

struct Conv2dParams {
  int64_t stride = 1;
  int64_t pad = 0;
};
// x: (N, H, W, C) → columns (N·OH·OW, KH·KW·C), OH = (H + 2·pad − KH)/stride + 1.
Var im2col(const Var& x, int64_t kh, int64_t kw, Conv2dParams p);
// Adjoint of im2col: columns back onto an image of shape x_shape (overlaps summed).
Var col2im(const Var& cols, const Shape& x_shape, int64_t kh, int64_t kw, Conv2dParams p);
// x: (N, H, W, C), w: (F, KH, KW, C), bias: (F,) or undefined → (N, OH, OW, F).
Var conv2d(const Var& x, const Var& w, const Var& bias, Conv2dParams p);
// x: (N, H, W, C) → (N, H/2, W/2, C) (floor), max over each 2×2 window; ties go to the first.
Var max_pool2x2(const Var& x);
// Batch normalisation with batch statistics over all axes but the last (channels):
// y = (x − μ)/sqrt(σ² + eps)·gamma + beta, σ² the biased batch variance. gamma, beta: (C,).
Var batch_norm(const Var& x, const Var& gamma, const Var& beta, real eps = real(1e-5));

// ---- fused linear + softmax cross-entropy (ops_fused.cpp) ------------------------------------------
// x: (B, D), params: (D·C + C,) = W (D, C) row-major then b (C,) (nn::Linear's θ), labels: B ints in [0, C),
// weights: (B,) or undefined → () = softmax_cross_entropy(x·W + b, labels, weights, sum_reduction). When x is a
// constant (data), one pass over x gives the loss and (if params is tracked) its gradient, and one more pass each
// Hessian-vector product; unfused each takes two. If x requires grad, it is the plain composition.
Var linear_cross_entropy(const Var& x, const Var& params, const std::vector<int64_t>& labels,
                         const Var& weights = Var(), bool sum_reduction = false);

// x: (n,), s: (n,) → () = ½ Σⱼ exp(sⱼ) xⱼ² (a weight decay with per-weight log coefficients). Same function as
// scale(sum(mul(exp(s), square(x))), ½); its gradient in x is one pass, and each Hessian-vector product with its
// mixed block in s one more (composed: about ten element-wise ops each).
Var exp_weighted_square_sum(const Var& x, const Var& s);

// ---- batch normalisation, fused (ops_batchnorm.cpp) ----------------------------------------------------
// x: (..., C) → (..., C): each channel standardised over all other axes with its batch mean and biased
// variance, (x − x̄)/sqrt(σ² + eps). One op forward and one per backward rule (every order differentiable);
// batch_norm is this times gamma plus beta.
Var batch_standardize(const Var& x, real eps = real(1e-5));
// z: (..., C), gamma, beta: (C,) → max(0, z·gamma + beta) per channel, one pass (ReLU subgradient 0 at 0).
Var scale_shift_relu(const Var& z, const Var& gamma, const Var& beta);
// relu(batch_norm(x, gamma, beta, eps)) as batch_standardize then scale_shift_relu: the same values.
Var batch_norm_relu(const Var& x, const Var& gamma, const Var& beta, real eps = real(1e-5));

// ---- operators ------------------------------------------------------------------------------------
inline Var operator+(const Var& a, const Var& b) { return add(a, b); }
inline Var operator-(const Var& a, const Var& b) { return sub(a, b); }
inline Var operator*(const Var& a, const Var& b) { return mul(a, b); }
inline Var operator/(const Var& a, const Var& b) { return div(a, b); }
inline Var operator-(const Var& a) { return neg(a); }
inline Var operator*(const Var& a, real c) { return scale(a, c); }
inline Var operator*(real c, const Var& a) { return scale(a, c); }
inline Var operator/(const Var& a, real c) { return scale(a, real(1) / c); }
inline Var operator+(const Var& a, real c) { return add_scalar(a, c); }
inline Var operator+(real c, const Var& a) { return add_scalar(a, c); }
inline Var operator-(const Var& a, real c) { return add_scalar(a, -c); }
inline Var operator-(real c, const Var& a) { return add_scalar(neg(a), c); }

// Broadcast result shape of a and b, or throws naming `op`.
Shape broadcast_shape(const Shape& a, const Shape& b, const char* op);

}  // namespace bilevel::ad
