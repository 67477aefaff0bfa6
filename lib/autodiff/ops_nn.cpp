// Neural-network ops: log-softmax, fused softmax cross-entropy, mse, im2col/col2im, conv2d,
// 2×2 max-pool and batch-norm with batch statistics.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <oneapi/tbb/parallel_invoke.h>
#include <oneapi/tbb/task_arena.h>

#include "base/errors.hpp"
#include "autodiff/ops.hpp"
#include "tensor/gemm_into.hpp"
#include "tensor/simd.hpp"
#include "tensor/vmath.hpp"

namespace bilevel::ad {

namespace {
const Var& in0(const Var& out) { return out.node()->inputs[0]; }

void check_rank(const Var& x, int rank, const char* op, const char* what) {
  if (x.rank() != rank) {
    throw internal_error(std::string(op) + ": expects " + what + ", got shape " + x.shape().str());
  }
}

// Per row of x (b × c): m + log Σⱼ exp(x[i, j] − m), m = the row's maximum, the exponentials in real
// (vectorised over the whole matrix, tensor/vmath.hpp: the costly part of the softmax ops) and summed in
// double; m rounded to real before the sum is added, so log_softmax's output is x − (m + log Σ) as real.
std::vector<double> row_log_sum_exp(const real* x, int64_t b, int64_t c) {
  std::vector<double> lse(static_cast<size_t>(b));
  if (c == 0) return lse;  // empty rows: nothing to read
  Tensor e = Tensor::uninitialized(Shape{b, c});
  real* pe = e.data();
  std::vector<real> m(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) {
    const real* r = x + i * c;
    real mi = r[0];
    for (int64_t j = 1; j < c; ++j) mi = std::max(mi, r[j]);
    m[static_cast<size_t>(i)] = mi;
    for (int64_t j = 0; j < c; ++j) pe[i * c + j] = r[j] - mi;
  }
  exp_into(pe, pe, b * c);
  for (int64_t i = 0; i < b; ++i) {
    double s = 0;
    for (int64_t j = 0; j < c; ++j) s += static_cast<double>(pe[i * c + j]);
    lse[static_cast<size_t>(i)] = static_cast<double>(m[static_cast<size_t>(i)]) + std::log(s);
  }
  return lse;
}

std::shared_ptr<const std::vector<int64_t>> label_indices(const std::vector<int64_t>& labels, int64_t b, int64_t c,
                                                          const char* op) {
  if (static_cast<int64_t>(labels.size()) != b) {
    throw internal_error(std::string(op) + ": " + std::to_string(labels.size()) + " labels for " +
                                std::to_string(b) + " rows of logits");
  }
  auto idx = std::make_shared<std::vector<int64_t>>(labels.size());
  for (int64_t i = 0; i < b; ++i) {
    const int64_t y = labels[static_cast<size_t>(i)];
    if (y < 0 || y >= c) {
      throw internal_error(std::string(op) + ": label " + std::to_string(y) + " at row " + std::to_string(i) +
                                  " is outside [0, " + std::to_string(c) + ")");
    }
    (*idx)[static_cast<size_t>(i)] = i * c + y;
  }
  return idx;
}
}  // namespace

Var log_softmax(const Var& x) {
  // x: (B, C) → (B, C). Backward: g − softmax(x)·Σ_c g (softmax = exp of the output).
  check_rank(x, 2, "log_softmax", "a 2-D (batch, classes) tensor");
  const int64_t b = x.shape()[0], c = x.shape()[1];
  Tensor y = Tensor::uninitialized(x.shape());
  const real* px = x.value().data();
  real* py = y.data();
  const std::vector<double> lse = row_log_sum_exp(px, b, c);
  for (int64_t i = 0; i < b; ++i) {
    const real l = static_cast<real>(lse[static_cast<size_t>(i)]);
    for (int64_t j = 0; j < c; ++j) py[i * c + j] = px[i * c + j] - l;
  }
  static constexpr Op<> op({.name = "log_softmax", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              gi[0] = sub(g, mul(exp(o), sum(g, 1, true)));
                            }});
  return make_op(op, std::move(y), {x});
}

Var softmax(const Var& x) { return exp(log_softmax(x)); }

Var per_example_cross_entropy(const Var& logits, const std::vector<int64_t>& labels) {
  check_rank(logits, 2, "per_example_cross_entropy", "2-D logits (batch, classes)");
  const int64_t b = logits.shape()[0], c = logits.shape()[1];
  auto idx = label_indices(labels, b, c, "per_example_cross_entropy");
  return neg(gather(log_softmax(logits), std::move(idx), Shape{b}));
}

Var softmax_cross_entropy(const Var& logits, const std::vector<int64_t>& labels, const Var& weights,
                          bool sum_reduction) {
  // logits: (B, C), labels: B ints, weights: (B,) or undefined → ().
  // Fused forward; backward ∂/∂logits = (softmax − onehot)·w·g·s, ∂/∂w = ℓ·g·s with s = 1 or 1/B,
  // written with differentiable ops so second derivatives (including ∂²/∂logits∂w) work.
  check_rank(logits, 2, "softmax_cross_entropy", "2-D logits (batch, classes)");
  const int64_t b = logits.shape()[0], c = logits.shape()[1];
  auto idx = label_indices(labels, b, c, "softmax_cross_entropy");
  if (weights.defined() && (weights.rank() != 1 || weights.shape()[0] != b)) {
    throw internal_error("softmax_cross_entropy: weights of shape " + weights.shape().str() +
                                " for logits of shape " + logits.shape().str() + " (expected (" +
                                std::to_string(b) + ",))");
  }
  const real* px = logits.value().data();
  const std::vector<double> lse = row_log_sum_exp(px, b, c);
  double total = 0;
  for (int64_t i = 0; i < b; ++i) {
    const double li = lse[static_cast<size_t>(i)] - static_cast<double>(px[(*idx)[static_cast<size_t>(i)]]);
    total += (weights.defined() ? static_cast<double>(weights.value()[i]) : 1.0) * li;
  }
  const double s = sum_reduction ? 1.0 : 1.0 / static_cast<double>(std::max<int64_t>(b, 1));
  std::vector<Var> inputs{logits};
  if (weights.defined()) inputs.push_back(weights);
  struct Saved {
    real scale;                                        // s
    std::shared_ptr<const std::vector<int64_t>> idx;  // flat index of each row's label: i·C + yᵢ
  };
  static constexpr Op<Saved> op(
      {.name = "softmax_cross_entropy", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
         const Saved& sv = op.saved(o);
         const auto& ins = o.node()->inputs;
         const Var& z = ins[0];
         const bool weighted = ins.size() > 1;
         const int64_t bb = z.shape()[0];
         Var gs = scale(g, sv.scale);
         if (gi.needed(0)) {
           Tensor onehot(z.shape());
           for (int64_t i = 0; i < bb; ++i) onehot[(*sv.idx)[static_cast<size_t>(i)]] = real(1);
           Var d = sub(softmax(z), constant(std::move(onehot)));
           if (weighted) d = mul(d, reshape(ins[1], Shape{bb, 1}));
           gi[0] = mul(d, gs);
         }
         if (weighted && gi.needed(1)) {
           Var nll = neg(gather(log_softmax(z), sv.idx, Shape{bb}));
           gi[1] = mul(nll, gs);
         }
       }});
  return make_op(op, Tensor::scalar(static_cast<real>(total * s)), std::move(inputs),
                 Saved{static_cast<real>(s), std::move(idx)});
}

Var mse(const Var& pred, const Var& target) {
  if (pred.shape() != target.shape()) {
    throw internal_error("mse: prediction shape " + pred.shape().str() + " differs from target shape " +
                                target.shape().str());
  }
  return mean(square(sub(pred, target)));
}

// ---- convolution ---------------------------------------------------------------------------------
// conv2d is one op over im2col and one product, with its two backward rules as ops of their own (the input
// gradient: product then col2im; the weight gradient: product with the forward's columns), each the other's
// derivative, so every order is differentiable without reshape copies of images, gradients or weights:
//   y = conv(x, w):            ∂/∂x = conv_input_grad(g, w),  ∂/∂w = conv_weight_grad(g, x)
//   conv_input_grad(g, w):     ⟨k, ·⟩ = ⟨conv(k, w), g⟩ = ⟨w, conv_weight_grad(g, k)⟩
//   conv_weight_grad(g, x):    ⟨k, ·⟩ = ⟨conv(x, k), g⟩ = ⟨x, conv_input_grad(g, k)⟩
// Rows of the columns are the output pixels (N·OH·OW), columns the taps (KH·KW·C); W is read as (F, KH·KW·C).
// The products are the ones matmul did on the reshaped operands (same shapes and flags), so the bits are too.
namespace {
struct ConvGeom {
  int64_t n, h, w, c, kh, kw, s, p, oh, ow;
  int64_t rows() const { return n * oh * ow; }
  int64_t taps() const { return kh * kw * c; }
  // 1×1, stride 1, no padding: the image is its own columns.
  bool pointwise() const { return kh == 1 && kw == 1 && s == 1 && p == 0; }
};

ConvGeom conv_geom(const Shape& x, int64_t kh, int64_t kw, Conv2dParams prm, const char* op) {
  if (x.rank != 4) throw internal_error(std::string(op) + ": expects NHWC input, got shape " + x.str());
  if (kh <= 0 || kw <= 0 || prm.stride <= 0 || prm.pad < 0) {
    throw internal_error(std::string(op) + ": kernel " + std::to_string(kh) + "×" + std::to_string(kw) +
                                ", stride " + std::to_string(prm.stride) + ", pad " + std::to_string(prm.pad) +
                                " (need kernel ≥ 1, stride ≥ 1, pad ≥ 0)");
  }
  ConvGeom g{x[0], x[1], x[2], x[3], kh, kw, prm.stride, prm.pad, 0, 0};
  const int64_t hh = g.h + 2 * g.p - kh, ww = g.w + 2 * g.p - kw;
  if (hh < 0 || ww < 0) {
    throw internal_error(std::string(op) + ": kernel " + std::to_string(kh) + "×" + std::to_string(kw) +
                                " larger than padded input " + x.str());
  }
  g.oh = hh / g.s + 1;
  g.ow = ww / g.s + 1;
  return g;
}

// Visits every tap of every output pixel: f(col0, img0, len, inside) for the C channels of one tap, contiguous
// from column index col0 and (when inside the image) from image index img0 (len = C).
template <class F>
BILEVEL_SIMD_BODY inline void for_each_tap(const ConvGeom& g, F f) {
  const int64_t kcols = g.taps();
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        const int64_t row = (n * g.oh + oy) * g.ow + ox;
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oy * g.s - g.p + ky;
          const bool row_in = iy >= 0 && iy < g.h;
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t ix = ox * g.s - g.p + kx;
            const int64_t col0 = row * kcols + (ky * g.kw + kx) * g.c;
            const bool in = row_in && ix >= 0 && ix < g.w;
            f(col0, in ? ((n * g.h + iy) * g.w + ix) * g.c : 0, g.c, in);
          }
        }
      }
}

// Columns of image x into pc (N·OH·OW, KH·KW·C); padding taps are zero.
void im2col_into(const real* px, const ConvGeom& g, real* pc) {
  simd_dispatch([&]() BILEVEL_SIMD_BODY {
    for_each_tap(g, [&](int64_t col0, int64_t img0, int64_t len, bool in) BILEVEL_SIMD_BODY {
      if (in) {
        for (int64_t k = 0; k < len; ++k) pc[col0 + k] = px[img0 + k];
      } else {
        for (int64_t k = 0; k < len; ++k) pc[col0 + k] = real(0);
      }
    });
  });
}
Tensor im2col_value(const real* px, const ConvGeom& g) {
  Tensor cols = Tensor::uninitialized(Shape{g.rows(), g.taps()});
  im2col_into(px, g, cols.data());
  return cols;
}

// Columns summed onto the image pi (all of it written; overlapping taps added, padding taps dropped). Each pixel
// gathers its taps in increasing row order from 0 — the order in which adding the rows one after another onto a
// zero image would sum them, so the bits are that scatter's — and is written once: no zero-filled image, no
// second pass over it.
void col2im_into(const real* pc, const ConvGeom& g, real* pi) {
  simd_dispatch([&]() BILEVEL_SIMD_BODY {
    const int64_t kcols = g.taps(), c = g.c;
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t iy = 0; iy < g.h; ++iy)
        for (int64_t ix = 0; ix < g.w; ++ix) {
          real* out = pi + ((n * g.h + iy) * g.w + ix) * c;
          for (int64_t k = 0; k < c; ++k) out[k] = real(0);
          // Output row oy = (iy + p − ky)/s grows as ky falls: taps in decreasing ky, then decreasing kx.
          for (int64_t ky = g.kh - 1; ky >= 0; --ky) {
            const int64_t ty = iy + g.p - ky;
            if (ty < 0 || ty % g.s != 0 || ty / g.s >= g.oh) continue;
            const int64_t oy = ty / g.s;
            for (int64_t kx = g.kw - 1; kx >= 0; --kx) {
              const int64_t tx = ix + g.p - kx;
              if (tx < 0 || tx % g.s != 0 || tx / g.s >= g.ow) continue;
              const int64_t row = (n * g.oh + oy) * g.ow + tx / g.s;
              const real* in = pc + row * kcols + (ky * g.kw + kx) * c;
              for (int64_t k = 0; k < c; ++k) out[k] += in[k];
            }
          }
        }
  });
}
Tensor col2im_value(const real* pc, const Shape& x_shape, const ConvGeom& g) {
  Tensor img = Tensor::uninitialized(x_shape);
  col2im_into(pc, g, img.data());
  return img;
}

// What im2col and col2im keep for their backward (each the other's adjoint).
struct ConvSaved {
  int64_t kh, kw;
  Conv2dParams p;
};

// The columns of a convolution's input, kept by the forward for the weight gradient (shared, immutable).
using SharedCols = std::shared_ptr<const Tensor>;

// Geometry of the image a conv_input_grad writes, kept in 32-bit fields to fit a node's saved state.
struct ConvInputSaved {
  int32_t n, h, w, c, stride, pad;
};
struct ConvWeightSaved {
  SharedCols cols;  // the columns of x if the forward kept them (else recomputed)
  int32_t kh, kw, stride, pad;
};
struct ConvForwardSaved {
  SharedCols cols;
  Conv2dParams p;
};

int32_t narrow(int64_t v) { return static_cast<int32_t>(v); }

// The columns of x for a kh×kw kernel (null for a pointwise convolution, which reads x itself).
SharedCols columns_of(const Var& x, int64_t kh, int64_t kw, Conv2dParams p) {
  const ConvGeom g = conv_geom(x.shape(), kh, kw, p, "im2col");
  if (g.pointwise()) return nullptr;
  return std::make_shared<const Tensor>(im2col_value(x.value().data(), g));
}

Var conv_forward(const Var& x, const Var& w, Conv2dParams p, SharedCols cols);
Var conv_input_grad(const Var& g, const Var& w, const Shape& x_shape, Conv2dParams p);
Var conv_weight_grad(const Var& g, const Var& x, int64_t kh, int64_t kw, Conv2dParams p, SharedCols cols);

// Each product of a convolution is a job in three parts, so that the two of one backward rule can run side by
// side: the constructor checks the shapes and allocates every tensor on the calling thread (the memory meter
// counts per thread), run() only computes (on any thread: no node, no allocation), finish() makes the node on
// the calling thread (grad mode is per thread). The values do not depend on where run() ran.

// y = columns(x) · W₂ᵀ as (N, OH, OW, F). `cols`, if given, are x's columns already made.
class ConvForwardJob {
 public:
  ConvForwardJob(const Var& x, const Var& w, Conv2dParams p, SharedCols cols)
      : x_(x), w_(w), p_(p), g_(conv_geom(x.shape(), w.shape()[1], w.shape()[2], p, "conv2d")), cols_(std::move(cols)) {
    if (!g_.pointwise() && !cols_) {
      auto made = std::make_shared<Tensor>(Tensor::uninitialized(Shape{g_.rows(), g_.taps()}));
      fill_ = made.get();
      cols_ = std::move(made);
    }
    y_ = Tensor::uninitialized(Shape{g_.n, g_.oh, g_.ow, w.shape()[0]});
  }
  void run() {
    if (fill_) im2col_into(x_.value().data(), g_, fill_->data());
    const real* pc = g_.pointwise() ? x_.value().data() : cols_->data();
    gemm_into(g_.rows(), w_.shape()[0], g_.taps(), false, true, pc, g_.taps(), w_.value().data(), g_.taps(), y_.data());
  }
  Var finish();

 private:
  const Var& x_;
  const Var& w_;
  Conv2dParams p_;
  ConvGeom g_;
  SharedCols cols_;
  Tensor* fill_ = nullptr;  // columns this job makes
  Tensor y_;
};

// g: (N, OH, OW, F), w: (F, KH, KW, C) → (N, H, W, C) = col2im(G₂ · W₂).
class ConvInputGradJob {
 public:
  ConvInputGradJob(const Var& g, const Var& w, const Shape& x_shape, Conv2dParams p)
      : g_(g), w_(w), p_(p), geo_(conv_geom(x_shape, w.shape()[1], w.shape()[2], p, "conv2d_input_grad")) {
    if (g.shape() != Shape{geo_.n, geo_.oh, geo_.ow, w.shape()[0]}) {
      throw internal_error("conv2d_input_grad: gradient " + g.shape().str() + " for image " + x_shape.str() +
                           " and weights " + w.shape().str());
    }
    if (geo_.pointwise()) {
      img_ = Tensor::uninitialized(x_shape);
    } else {
      cols_ = Tensor::uninitialized(Shape{geo_.rows(), geo_.taps()});
      img_ = Tensor::uninitialized(x_shape);
    }
  }
  void run() {
    const int64_t f = w_.shape()[0];
    real* out = geo_.pointwise() ? img_.data() : cols_.data();
    gemm_into(geo_.rows(), geo_.taps(), f, false, false, g_.value().data(), f, w_.value().data(), geo_.taps(), out);
    if (!geo_.pointwise()) col2im_into(cols_.data(), geo_, img_.data());
  }
  Var finish();

 private:
  const Var& g_;
  const Var& w_;
  Conv2dParams p_;
  ConvGeom geo_;
  Tensor cols_, img_;
};

// g: (N, OH, OW, F), x: (N, H, W, C) → (F, KH, KW, C) = G₂ᵀ · columns(x).
class ConvWeightGradJob {
 public:
  ConvWeightGradJob(const Var& g, const Var& x, int64_t kh, int64_t kw, Conv2dParams p, SharedCols cols)
      : g_(g), x_(x), kh_(kh), kw_(kw), p_(p), geo_(conv_geom(x.shape(), kh, kw, p, "conv2d_weight_grad")),
        cols_(std::move(cols)) {
    const int64_t f = g.shape()[g.rank() - 1];
    if (g.shape() != Shape{geo_.n, geo_.oh, geo_.ow, f}) {
      throw internal_error("conv2d_weight_grad: gradient " + g.shape().str() + " for image " + x.shape().str());
    }
    if (!geo_.pointwise() && !cols_) {
      auto made = std::make_shared<Tensor>(Tensor::uninitialized(Shape{geo_.rows(), geo_.taps()}));
      fill_ = made.get();
      cols_ = std::move(made);
    }
    gw_ = Tensor::uninitialized(Shape{f, kh, kw, geo_.c});
  }
  void run() {
    if (fill_) im2col_into(x_.value().data(), geo_, fill_->data());
    const real* pc = geo_.pointwise() ? x_.value().data() : cols_->data();
    const int64_t f = gw_.dim(0);
    gemm_into(f, geo_.taps(), geo_.rows(), true, false, g_.value().data(), f, pc, geo_.taps(), gw_.data());
  }
  Var finish();

 private:
  const Var& g_;
  const Var& x_;
  int64_t kh_, kw_;
  Conv2dParams p_;
  ConvGeom geo_;
  SharedCols cols_;
  Tensor* fill_ = nullptr;  // columns this job makes
  Tensor gw_;
};

// The two products of one backward rule: side by side when a second thread is free to take one (oneTBB work
// stealing; isolated, so the waiting thread runs only their pieces, never another task of the meta-batch), so
// the thread left without a task at the end of a meta-batch shares the last task's work. Same bits either way.
template <class A, class B>
void side_by_side(A& a, B& b) {
  if (tbb::this_task_arena::max_concurrency() <= 1) {
    a.run();
    b.run();
    return;
  }
  tbb::this_task_arena::isolate([&] { tbb::parallel_invoke([&] { a.run(); }, [&] { b.run(); }); });
}

constexpr Op<ConvForwardSaved> conv_op(
    {.name = "conv2d", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
       const ConvForwardSaved& s = conv_op.saved(o);
       const Var& x = o.node()->inputs[0];
       const Var& w = o.node()->inputs[1];
       if (gi.needed(0) && gi.needed(1)) {
         ConvInputGradJob dx(g, w, x.shape(), s.p);
         ConvWeightGradJob dw(g, x, w.shape()[1], w.shape()[2], s.p, s.cols);
         side_by_side(dx, dw);
         gi[0] = dx.finish();
         gi[1] = dw.finish();
       } else if (gi.needed(0)) {
         gi[0] = conv_input_grad(g, w, x.shape(), s.p);
       } else if (gi.needed(1)) {
         gi[1] = conv_weight_grad(g, x, w.shape()[1], w.shape()[2], s.p, s.cols);
       }
     }});

constexpr Op<ConvInputSaved> conv_input_grad_op(
    {.name = "conv2d_input_grad", .backward = [](const Var& o, const Var& k, InputGrads& gi) {
       const ConvInputSaved& s = conv_input_grad_op.saved(o);
       const Conv2dParams p{s.stride, s.pad};
       const Var& g = o.node()->inputs[0];
       const Var& w = o.node()->inputs[1];
       if (gi.needed(0) && gi.needed(1)) {
         // Both rules read the columns of k: made once.
         const SharedCols cols = columns_of(k, w.shape()[1], w.shape()[2], p);
         ConvForwardJob dg(k, w, p, cols);
         ConvWeightGradJob dw(g, k, w.shape()[1], w.shape()[2], p, cols);
         side_by_side(dg, dw);
         gi[0] = dg.finish();
         gi[1] = dw.finish();
       } else if (gi.needed(0)) {
         gi[0] = conv_forward(k, w, p, nullptr);
       } else if (gi.needed(1)) {
         gi[1] = conv_weight_grad(g, k, w.shape()[1], w.shape()[2], p, nullptr);
       }
     }});

constexpr Op<ConvWeightSaved> conv_weight_grad_op(
    {.name = "conv2d_weight_grad", .backward = [](const Var& o, const Var& k, InputGrads& gi) {
       const ConvWeightSaved& s = conv_weight_grad_op.saved(o);
       const Conv2dParams p{s.stride, s.pad};
       const Var& g = o.node()->inputs[0];
       const Var& x = o.node()->inputs[1];
       if (gi.needed(0) && gi.needed(1)) {
         ConvForwardJob dg(x, k, p, s.cols);
         ConvInputGradJob dx(g, k, x.shape(), p);
         side_by_side(dg, dx);
         gi[0] = dg.finish();
         gi[1] = dx.finish();
       } else if (gi.needed(0)) {
         gi[0] = conv_forward(x, k, p, s.cols);
       } else if (gi.needed(1)) {
         gi[1] = conv_input_grad(g, k, x.shape(), p);
       }
     }});

Var ConvForwardJob::finish() {
  // The weight gradient reads the columns again: keep them only if it can be asked for.
  if (!(grad_enabled() && w_.requires_grad())) cols_.reset();
  return make_op(conv_op, std::move(y_), {x_, w_}, ConvForwardSaved{std::move(cols_), p_});
}

Var ConvInputGradJob::finish() {
  cols_ = Tensor();  // the scratch columns, freed on the thread that made them
  return make_op(conv_input_grad_op, std::move(img_), {g_, w_},
                 ConvInputSaved{narrow(geo_.n), narrow(geo_.h), narrow(geo_.w), narrow(geo_.c), narrow(p_.stride),
                                narrow(p_.pad)});
}

Var ConvWeightGradJob::finish() {
  if (!grad_enabled()) cols_.reset();
  return make_op(conv_weight_grad_op, std::move(gw_), {g_, x_},
                 ConvWeightSaved{std::move(cols_), narrow(kh_), narrow(kw_), narrow(p_.stride), narrow(p_.pad)});
}

Var conv_forward(const Var& x, const Var& w, Conv2dParams p, SharedCols cols) {
  ConvForwardJob job(x, w, p, std::move(cols));
  job.run();
  return job.finish();
}

Var conv_input_grad(const Var& g, const Var& w, const Shape& x_shape, Conv2dParams p) {
  ConvInputGradJob job(g, w, x_shape, p);
  job.run();
  return job.finish();
}

Var conv_weight_grad(const Var& g, const Var& x, int64_t kh, int64_t kw, Conv2dParams p, SharedCols cols) {
  ConvWeightGradJob job(g, x, kh, kw, p, std::move(cols));
  job.run();
  return job.finish();
}
}  // namespace

Var im2col(const Var& x, int64_t kh, int64_t kw, Conv2dParams p) {
  const ConvGeom g = conv_geom(x.shape(), kh, kw, p, "im2col");
  static constexpr Op<ConvSaved> op({.name = "im2col", .backward = [](const Var& o, const Var& gr, InputGrads& gi) {
                                       const ConvSaved& s = op.saved(o);
                                       gi[0] = col2im(gr, in0(o).shape(), s.kh, s.kw, s.p);
                                     }});
  return make_op(op, im2col_value(x.value().data(), g), {x}, ConvSaved{kh, kw, p});
}

Var col2im(const Var& cols, const Shape& x_shape, int64_t kh, int64_t kw, Conv2dParams p) {
  const ConvGeom g = conv_geom(x_shape, kh, kw, p, "col2im");
  if (cols.shape() != Shape{g.rows(), g.taps()}) {
    throw internal_error("col2im: columns of shape " + cols.shape().str() + " do not match image " +
                                x_shape.str());
  }
  static constexpr Op<ConvSaved> op({.name = "col2im", .backward = [](const Var& o, const Var& gr, InputGrads& gi) {
                                       const ConvSaved& s = op.saved(o);
                                       gi[0] = im2col(gr, s.kh, s.kw, s.p);
                                     }});
  return make_op(op, col2im_value(cols.value().data(), x_shape, g), {cols}, ConvSaved{kh, kw, p});
}

Var conv2d(const Var& x, const Var& w, const Var& bias, Conv2dParams p) {
  // x: (N, H, W, C), w: (F, KH, KW, C), bias: (F,) → (N, OH, OW, F) = im2col(x)·W₂ᵀ + b.
  check_rank(w, 4, "conv2d", "weights (F, KH, KW, C)");
  const int64_t f = w.shape()[0], kh = w.shape()[1], kw = w.shape()[2];
  const ConvGeom g = conv_geom(x.shape(), kh, kw, p, "conv2d");
  if (w.shape()[3] != g.c) {
    throw internal_error("conv2d: weights " + w.shape().str() + " expect " + std::to_string(w.shape()[3]) +
                                " input channels, input " + x.shape().str() + " has " + std::to_string(g.c));
  }
  if (bias.defined() && bias.shape() != Shape{f}) {
    throw internal_error("conv2d: bias of shape " + bias.shape().str() + " for " + std::to_string(f) +
                                " filters");
  }
  Var y = conv_forward(x, w, p, nullptr);
  return bias.defined() ? add(y, bias) : y;
}

Var max_pool2x2(const Var& x) {
  // x: (N, H, W, C) → (N, H/2, W/2, C); the argmax is fixed, so this is a gather (backward: scatter).
  check_rank(x, 4, "max_pool2x2", "NHWC input");
  const int64_t n = x.shape()[0], h = x.shape()[1], w = x.shape()[2], c = x.shape()[3];
  const int64_t oh = h / 2, ow = w / 2;
  if (oh == 0 || ow == 0) throw internal_error("max_pool2x2: input " + x.shape().str() + " is smaller than 2×2");
  auto idx = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(n * oh * ow * c));
  const real* px = x.value().data();
  size_t k = 0;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t ch = 0; ch < c; ++ch) {
          int64_t best = ((b * h + 2 * oy) * w + 2 * ox) * c + ch;
          for (int64_t dy = 0; dy < 2; ++dy)
            for (int64_t dx = 0; dx < 2; ++dx) {
              const int64_t j = ((b * h + 2 * oy + dy) * w + 2 * ox + dx) * c + ch;
              if (px[j] > px[best]) best = j;
            }
          (*idx)[k++] = best;
        }
  return gather(x, std::move(idx), Shape{n, oh, ow, c});
}

Var batch_norm(const Var& x, const Var& gamma, const Var& beta, real eps) {
  // x: (..., C) normalised per channel over all other axes with batch statistics: batch_standardize (one
  // fused op) times gamma plus beta (row broadcasts over the channels).
  if (x.rank() < 2) throw internal_error("batch_norm: expects at least 2-D input, got " + x.shape().str());
  const int64_t c = x.shape()[x.rank() - 1];
  if (gamma.shape() != Shape{c} || beta.shape() != Shape{c}) {
    throw internal_error("batch_norm: gamma " + gamma.shape().str() + " and beta " + beta.shape().str() +
                                " must both be (" + std::to_string(c) + ",) for input " + x.shape().str());
  }
  return add(mul(batch_standardize(x, eps), gamma), beta);
}

}  // namespace bilevel::ad
