// Fused linear + softmax cross-entropy: L = s Σᵢ wᵢ CE(xᵢ·W + b, yᵢ), whose gradient and Hessian-vector
// products each read the data matrix x once.
//
// Notation: x (B, D) constant data, θ = [W (D, C) row-major; b (C,)] (P = D·C + C, nn::Linear's layout),
// zᵢ = Wᵀxᵢ + b, pᵢ = softmax(zᵢ), eᵢ = one-hot(yᵢ), ℓᵢ = log Σⱼ exp(zᵢⱼ) − zᵢ,yᵢ, s = 1/B (or 1), wᵢ = 1 unweighted.
//
// Derivation.
//   ∂L/∂zᵢ = s wᵢ (pᵢ − eᵢ), so ∇_θ L = [Xᵀ D; 1ᵀ D] with D = s w ⊙ (P − Y), and ∂L/∂wᵢ = s ℓᵢ.
//   The gradient g(θ, w) = ∇_θ L is a node of its own (lce_grad). Its vector-Jacobian product with a cotangent
//   V = [V_W; V_b]: uᵢ = V_Wᵀxᵢ + V_b is the derivative of zᵢ along V, and since the softmax Jacobian
//   diag(p) − ppᵀ is symmetric, ∂⟨g, V⟩/∂zᵢ = s wᵢ (pᵢ⊙uᵢ − pᵢ⟨pᵢ, uᵢ⟩) =: rᵢ, hence
//   ∇_θ⟨g, V⟩ = [Xᵀ R; 1ᵀ R] (the Hessian-vector product) and ∂⟨g, V⟩/∂wᵢ = s⟨pᵢ − eᵢ, uᵢ⟩ (the mixed block).
//   The per-example losses ℓ (a node of their own, reached through ∂L/∂w) have ∇_θ⟨ℓ, u⟩ = [Xᵀ Dᵤ; 1ᵀ Dᵤ],
//   Dᵤ = u ⊙ (P − Y).
// One pass: each of these is X·(C columns) per row, a per-row transform, then Xᵀ·(per-row values). The rows are
// independent, so the two products run block by block of rows while the block of X is in cache, and the Xᵀ
// products of the blocks are summed. The forward computes the loss and, when θ needs a gradient, the gradient
// in the same pass (every loss built with θ tracked is differentiated in this code base); the backward of the
// gradient node is one more pass. Unfused, a gradient reads X twice and a Hessian-vector product twice more.
//
// Differentiability: the rules above run as fused passes when no graph is recorded (a gradient or a
// Hessian-vector product whose result is only read). When a graph is recorded (create_graph), the same rules are
// composed from the differentiable primitive ops (softmax, matmul, ...), so derivatives of any order exist.
//
// Threads and bits: the row blocks depend only on the shape (and the split grain of tensor/gemm_small.hpp); blocks
// run in parallel on the oneTBB threads, each writes its own rows and its own partial Xᵀ product, and the
// partials are added in block order. The result is the same bits for any thread count.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.hpp"
#include "base/errors.hpp"
#include "tensor/gemm_small.hpp"
#include "tensor/vmath.hpp"

namespace bilevel::ad {

namespace {

// What the forward pass leaves for the backward rules (shared by the loss node and the nodes its backward makes).
struct LceData {
  std::vector<int64_t> labels;  // yᵢ
  int64_t classes = 0;          // C
  real scale = 1;               // s
  Tensor probs;                 // P (B, C) at the forward's θ
  Tensor losses;                // ℓ (B,)
  Tensor grad;                  // ∇_θ L (P,), when θ was tracked
};
struct LceSaved {
  std::shared_ptr<const LceData> data;
};

// ---- row blocks ------------------------------------------------------------------------------------------



// Fixed by the shape and the grain only.
struct RowBlocks {
  int64_t rows = 0, size = 1, count = 0;
};
// The blocks are made as equal as the rows allow (1000 rows: 8 × 125, not 7 × 133 + 69), so that two threads get
// the same work.
RowBlocks row_blocks(int64_t b, int64_t d, int64_t c) {
  RowBlocks rb;
  rb.rows = b;
  const int64_t grain = gemm_detail::split_grain_value();
  const int64_t target = std::clamp<int64_t>(4 * grain / std::max<int64_t>(1, d * c), 1, std::max<int64_t>(1, b));
  const int64_t count = (b + target - 1) / target;
  rb.size = std::max<int64_t>(1, (b + count - 1) / std::max<int64_t>(1, count));
  rb.count = (b + rb.size - 1) / rb.size;
  return rb;
}

// f(block, begin, end) for every block: in parallel when there are several and threads to run them, isolated
// so that a thread waiting here runs only these blocks (never a task that could reuse its scratch buffers).
template <class F>
void for_each_block(const RowBlocks& rb, const F& f) {
  auto one = [&](int64_t k) { f(k, k * rb.size, std::min(rb.rows, (k + 1) * rb.size)); };
  if (rb.count <= 1 || tbb::this_task_arena::max_concurrency() <= 1) {
    for (int64_t k = 0; k < rb.count; ++k) one(k);
    return;
  }
  tbb::this_task_arena::isolate([&] {
    tbb::parallel_for(
        tbb::blocked_range<int64_t>(0, rb.count, 1),
        [&](const tbb::blocked_range<int64_t>& r) {
          for (int64_t k = r.begin(); k != r.end(); ++k) one(k);
        },
        tbb::simple_partitioner());
  });
}

// A per-thread scratch buffer of at least n elements (grows, never shrinks). `slot` keeps the users apart.
real* scratch(int slot, int64_t n) {
  thread_local std::vector<real> buf[4];
  auto& v = buf[slot];
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}
// rows: a block's per-row values (row_pass); cols: Wᵀ of the caller (read by every block); partials: the
// caller's per-block Xᵀ products; block: a block's logits or directional derivatives.
enum ScratchSlot { slot_rows = 0, slot_cols = 1, slot_partials = 2, slot_block = 3 };

// One pass over the rows of x (B, D): for each block [i0, i1), rows(i0, i1, dblk) runs the per-row work and, when
// want_xt, fills dblk ((i1 − i0) × C); the pass returns [Xᵀ D; 1ᵀ D] (D·C + C,) summed over the blocks in block
// order (an empty tensor when !want_xt). Each block's product is formed transposed, Dᵀ X_blk (C × D), by the rows
// kernel (vectorised along the D features, no copies); the sum of the blocks is transposed once at the end.
template <class RowsFn>
Tensor row_pass(const Tensor& x, int64_t c, bool want_xt, const RowsFn& rows) {
  const int64_t b = x.dim(0), d = x.dim(1), p = d * c + c;
  const RowBlocks rb = row_blocks(b, d, c);
  real* partials = want_xt ? scratch(slot_partials, std::max<int64_t>(1, rb.count) * p) : nullptr;
  const real* px = x.data();
  for_each_block(rb, [&](int64_t k, int64_t i0, int64_t i1) {
    const int64_t n = i1 - i0;
    real* dblk = scratch(slot_rows, n * c);
    rows(i0, i1, dblk);
    if (!want_xt) return;
    real* part = partials + k * p;
    gemm_detail::gemm_small_serial(c, d, n, /*trans_a=*/true, /*trans_b=*/false, dblk, c, px + i0 * d, d, part);
    real* colsum = part + d * c;
    std::fill(colsum, colsum + c, real(0));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < c; ++j) colsum[j] += dblk[i * c + j];
  });
  // Work of the pass for the roofline counters: the products, x read once, θ-sized operands and results.
  GemmCounter::add((want_xt ? 4 : 2) * b * d * c, (b * d + 2 * p + 2 * b * c) * static_cast<int64_t>(sizeof(real)));
  if (!want_xt) return Tensor();
  Tensor out(Shape{p});
  if (rb.count == 0) return out;
  // The blocks' partial products summed in block order, element by element (the same sums for any thread count);
  // on several threads, ranges of elements in parallel.
  auto sum_partials = [&](int64_t e0, int64_t e1) {
    for (int64_t k = 1; k < rb.count; ++k) {
      const real* part = partials + k * p;
      for (int64_t e = e0; e < e1; ++e) partials[e] += part[e];
    }
  };
  const int64_t chunk = 2048;  // elements per range: 8 KB of the sum, rb.count reads each
  if (rb.count > 2 && p > chunk && tbb::this_task_arena::max_concurrency() > 1) {
    tbb::this_task_arena::isolate([&] {
      tbb::parallel_for(
          tbb::blocked_range<int64_t>(0, (p + chunk - 1) / chunk, 1),
          [&](const tbb::blocked_range<int64_t>& r) {
            for (int64_t q = r.begin(); q != r.end(); ++q) sum_partials(q * chunk, std::min(p, (q + 1) * chunk));
          },
          tbb::simple_partitioner());
    });
  } else {
    sum_partials(0, p);
  }
  transpose_into(partials, c, d, d, out.data());
  std::copy(partials + d * c, partials + p, out.data() + d * c);
  return out;
}

// Wᵀ (C × D) of the first D·C elements of v (W (D, C) row-major), in per-thread scratch: the rows of x meet the
// columns of W as contiguous dot products.
const real* transposed_w(const Tensor& v, int64_t d, int64_t c) {
  real* wt = scratch(slot_cols, d * c);
  transpose_into(v.data(), d, c, c, wt);
  return wt;
}

// ---- the three ops --------------------------------------------------------------------------------------

const LceData& data_of(const Var& o);

// Differentiable compositions of the rules (used when a graph is recorded).
Var composite_probs(const Var& x, const Var& params, int64_t c) {
  const int64_t d = x.shape()[1];
  return softmax(add(matmul(x, view(params, 0, Shape{d, c})), view(params, d * c, Shape{c})));
}
Var packed_xt(const Var& x, const Var& dm) { return concat({flatten(matmul(x, dm, true)), sum(dm, 0)}, 0); }
Var onehot(const LceData& dt) {
  const auto b = static_cast<int64_t>(dt.labels.size());
  Tensor y(Shape{b, dt.classes});
  for (int64_t i = 0; i < b; ++i) y[i * dt.classes + dt.labels[static_cast<size_t>(i)]] = real(1);
  return constant(std::move(y));
}

// ℓ (B,): inputs {x, θ}. Backward: ∇_θ⟨ℓ, u⟩ = [Xᵀ Dᵤ; 1ᵀ Dᵤ], Dᵤ = u ⊙ (P − Y).
void lce_losses_backward(const Var& o, const Var& u, InputGrads& gi) {
  if (!gi.needed(1)) return;
  const LceData& dt = data_of(o);
  const Var& x = o.node()->inputs[0];
  const int64_t c = dt.classes;
  if (grad_enabled()) {
    const Var pm = composite_probs(x, o.node()->inputs[1], c);
    gi[1] = packed_xt(x, mul(sub(pm, onehot(dt)), reshape(u, Shape{x.shape()[0], 1})));
    return;
  }
  const real* pu = u.value().data();
  const real* pp = dt.probs.data();
  gi[1] = constant(row_pass(x.value(), c, true, [&](int64_t i0, int64_t i1, real* dblk) {
    for (int64_t i = i0; i < i1; ++i) {
      real* dr = dblk + (i - i0) * c;
      for (int64_t j = 0; j < c; ++j) dr[j] = pu[i] * pp[i * c + j];
      dr[dt.labels[static_cast<size_t>(i)]] -= pu[i];
    }
  }));
}

// ∇_θ L (P,): inputs {x, θ} or {x, θ, w}. Backward with V (P,): uᵢ = V_Wᵀxᵢ + V_b,
// rᵢ = s wᵢ (pᵢ⊙uᵢ − pᵢ⟨pᵢ, uᵢ⟩): ∇_θ⟨g, V⟩ = [Xᵀ R; 1ᵀ R], ∂⟨g, V⟩/∂wᵢ = s⟨pᵢ − eᵢ, uᵢ⟩.
void lce_grad_backward(const Var& o, const Var& v, InputGrads& gi) {
  const auto& ins = o.node()->inputs;
  const bool weighted = ins.size() > 2;
  const bool need_theta = gi.needed(1), need_w = weighted && gi.needed(2);
  if (!need_theta && !need_w) return;
  const LceData& dt = data_of(o);
  const Var& x = ins[0];
  const int64_t b = x.shape()[0], d = x.shape()[1], c = dt.classes;
  if (grad_enabled()) {
    const Var pm = composite_probs(x, ins[1], c);
    const Var u = add(matmul(x, view(v, 0, Shape{d, c})), view(v, d * c, Shape{c}));
    if (need_theta) {
      const Var pu = mul(pm, u);
      Var r = sub(pu, mul(pm, sum(pu, 1, true)));
      if (weighted) r = mul(r, reshape(ins[2], Shape{b, 1}));
      gi[1] = packed_xt(x, scale(r, dt.scale));
    }
    if (need_w) gi[2] = scale(sum(mul(sub(pm, onehot(dt)), u), 1), dt.scale);
    return;
  }
  const real* vt = transposed_w(v.value(), d, c);  // V_Wᵀ: read by every block, written before the pass
  const real* vb = v.value().data() + d * c;
  const real* pp = dt.probs.data();
  const real* pw = weighted ? ins[2].value().data() : nullptr;
  const real* px = x.value().data();
  Tensor gw = need_w ? Tensor::uninitialized(Shape{b}) : Tensor();
  real* pgw = gw.data();
  const double s = static_cast<double>(dt.scale);
  Tensor gtheta = row_pass(x.value(), c, need_theta, [&](int64_t i0, int64_t i1, real* dblk) {
    const int64_t n = i1 - i0;
    real* uu = scratch(slot_block, n * c);  // uᵢ of the block's rows
    gemm_detail::gemm_small_serial(n, c, d, false, true, px + i0 * d, d, vt, d, uu);
    for (int64_t i = i0; i < i1; ++i) {
      real* ur = uu + (i - i0) * c;
      const real* pr = pp + i * c;
      const int64_t y = dt.labels[static_cast<size_t>(i)];
      double pu_sum = 0;  // ⟨pᵢ, uᵢ⟩
      for (int64_t j = 0; j < c; ++j) {
        ur[j] += vb[j];
        pu_sum += static_cast<double>(pr[j] * ur[j]);
      }
      if (need_w) pgw[i] = static_cast<real>(s * (pu_sum - static_cast<double>(ur[y])));  // s⟨pᵢ − eᵢ, uᵢ⟩
      if (need_theta) {
        const real f = static_cast<real>(s * (pw ? static_cast<double>(pw[i]) : 1.0));
        const real t = static_cast<real>(pu_sum);
        real* dr = dblk + (i - i0) * c;
        for (int64_t j = 0; j < c; ++j) dr[j] = f * (pr[j] * ur[j] - pr[j] * t);
      }
    }
  });
  if (need_theta) gi[1] = constant(std::move(gtheta));
  if (need_w) gi[2] = constant(std::move(gw));
}

// L (): inputs {x, θ} or {x, θ, w}. Backward: ∇_θ = g·(the lce_grad node, its value computed by the forward),
// ∂/∂w = g·s·(the lce_losses node).
void lce_backward(const Var& o, const Var& g, InputGrads& gi);

constexpr Op<LceSaved> lce_losses_op({.name = "linear_cross_entropy_losses", .backward = lce_losses_backward});
constexpr Op<LceSaved> lce_grad_op({.name = "linear_cross_entropy_grad", .backward = lce_grad_backward});
constexpr Op<LceSaved> lce_op({.name = "linear_cross_entropy", .backward = lce_backward});

const LceData& data_of(const Var& o) {
  const Node& n = *o.node();
  const OpDef* def = n.op;
  const LceSaved& sv = def == &lce_op ? lce_op.saved(n) : def == &lce_grad_op ? lce_grad_op.saved(n)
                                                                               : lce_losses_op.saved(n);
  return *sv.data;
}

void lce_backward(const Var& o, const Var& g, InputGrads& gi) {
  const auto& ins = o.node()->inputs;
  const std::shared_ptr<const LceData>& data = lce_op.saved(o).data;
  const bool unit = !g.requires_grad() && g.value()[0] == real(1);  // the seed of grad(): no product needed
  if (gi.needed(1)) {
    std::vector<Var> in{ins[0], ins[1]};
    if (ins.size() > 2) in.push_back(ins[2]);
    Var gr = make_op(lce_grad_op, data->grad, std::move(in), LceSaved{data});
    gi[1] = unit ? gr : mul(gr, g);
  }
  if (ins.size() > 2 && gi.needed(2)) {
    Var losses = make_op(lce_losses_op, data->losses, {ins[0], ins[1]}, LceSaved{data});
    gi[2] = mul(losses, scale(g, data->scale));
  }
}

}  // namespace

Var linear_cross_entropy(const Var& x, const Var& params, const std::vector<int64_t>& labels, const Var& weights,
                         bool sum_reduction) {
  if (x.rank() != 2) throw internal_error("linear_cross_entropy: expects 2-D data (batch, features), got " + x.shape().str());
  const int64_t b = x.shape()[0], d = x.shape()[1];
  if (params.rank() != 1 || params.numel() % (d + 1) != 0 || params.numel() == 0) {
    throw internal_error("linear_cross_entropy: parameters of shape " + params.shape().str() + " for data " +
                         x.shape().str() + " (expected (C·(" + std::to_string(d) + " + 1),): W (D, C) then b (C,))");
  }
  const int64_t c = params.numel() / (d + 1);
  if (static_cast<int64_t>(labels.size()) != b) {
    throw internal_error("linear_cross_entropy: " + std::to_string(labels.size()) + " labels for " +
                         std::to_string(b) + " rows of data");
  }
  for (int64_t i = 0; i < b; ++i) {
    const int64_t y = labels[static_cast<size_t>(i)];
    if (y < 0 || y >= c) {
      throw internal_error("linear_cross_entropy: label " + std::to_string(y) + " at row " + std::to_string(i) +
                           " is outside [0, " + std::to_string(c) + ")");
    }
  }
  const bool weighted = weights.defined();
  if (weighted && (weights.rank() != 1 || weights.shape()[0] != b)) {
    throw internal_error("linear_cross_entropy: weights of shape " + weights.shape().str() + " for data " +
                         x.shape().str() + " (expected (" + std::to_string(b) + ",))");
  }
  if (x.requires_grad()) {  // data that is itself differentiated (an MLP's last layer): the plain composition
    return softmax_cross_entropy(add(matmul(x, view(params, 0, Shape{d, c})), view(params, d * c, Shape{c})), labels,
                                 weights, sum_reduction);
  }
  const bool want_grad = grad_enabled() && params.requires_grad();
  auto data = std::make_shared<LceData>();
  data->labels = labels;
  data->classes = c;
  const double s = sum_reduction ? 1.0 : 1.0 / static_cast<double>(std::max<int64_t>(b, 1));
  data->scale = static_cast<real>(s);
  data->probs = Tensor::uninitialized(Shape{b, c});
  data->losses = Tensor::uninitialized(Shape{b});
  const real* wt = transposed_w(params.value(), d, c);
  const real* bias = params.value().data() + d * c;
  const real* pw = weighted ? weights.value().data() : nullptr;
  const real* px = x.value().data();
  real* pp = data->probs.data();
  real* pl = data->losses.data();
  const std::vector<int64_t>& ys = data->labels;
  data->grad = row_pass(x.value(), c, want_grad, [&](int64_t i0, int64_t i1, real* dblk) {
    const int64_t n = i1 - i0;
    real* z = pp + i0 * c;
    gemm_detail::gemm_small_serial(n, c, d, false, true, px + i0 * d, d, wt, d, z);
    real* rowinfo = scratch(slot_block, 2 * n);  // per row: the maximum logit, the label's logit
    for (int64_t r = 0; r < n; ++r) {
      real* zr = z + r * c;
      for (int64_t j = 0; j < c; ++j) zr[j] += bias[j];
      real m = zr[0];
      for (int64_t j = 1; j < c; ++j) m = std::max(m, zr[j]);
      rowinfo[2 * r] = m;
      rowinfo[2 * r + 1] = zr[ys[static_cast<size_t>(i0 + r)]];
      for (int64_t j = 0; j < c; ++j) zr[j] -= m;
    }
    exp_into(z, z, n * c);
    for (int64_t r = 0; r < n; ++r) {
      real* pr = z + r * c;
      double sum_e = 0;
      for (int64_t j = 0; j < c; ++j) sum_e += static_cast<double>(pr[j]);
      const double lse = static_cast<double>(rowinfo[2 * r]) + std::log(sum_e);
      pl[i0 + r] = static_cast<real>(lse - static_cast<double>(rowinfo[2 * r + 1]));
      const real inv = static_cast<real>(1.0 / sum_e);
      for (int64_t j = 0; j < c; ++j) pr[j] *= inv;
      if (!want_grad) continue;
      const real f = static_cast<real>(s * (pw ? static_cast<double>(pw[i0 + r]) : 1.0));
      real* dr = dblk + r * c;
      for (int64_t j = 0; j < c; ++j) dr[j] = f * pr[j];
      dr[ys[static_cast<size_t>(i0 + r)]] -= f;
    }
  });
  double total = 0;
  for (int64_t i = 0; i < b; ++i) total += (pw ? static_cast<double>(pw[i]) : 1.0) * static_cast<double>(pl[i]);
  std::vector<Var> inputs{x, params};
  if (weighted) inputs.push_back(weights);
  const bool tracked = grad_enabled() && (params.requires_grad() || (weighted && weights.requires_grad()));
  if (!tracked) data.reset();  // a constant: nothing will read the saved state
  return make_op(lce_op, Tensor::scalar(static_cast<real>(total * s)), std::move(inputs), LceSaved{std::move(data)});
}


// ---- exp-weighted squared norm -------------------------------------------------------------------------------
//
// L = ½ Σⱼ exp(sⱼ) xⱼ² (hpo-l2's per-weight decay, s = log decay). With e = exp(s):
//   ∂L/∂x = e⊙x =: G (a node of its own), ∂L/∂s = ½ e⊙x² = ½ G⊙x.
//   ⟨G, V⟩ has ∂/∂x = e⊙V (the Hessian-vector product) and ∂/∂s = e⊙x⊙V = G⊙V (the mixed block).
// Composed of exp, square, mul, sum and scale, one gradient and one H·v take about ten element-wise passes and
// nodes each; here the forward is one pass (e kept for the backward), the gradient one, and each H·v with its mixed
// block one more. With create_graph the rules are composed of differentiable ops (G itself, exp, mul), so every
// order exists.

namespace {

struct EwsData {
  Tensor e;  // exp(s)
};
struct EwsSaved {
  std::shared_ptr<const EwsData> data;
};

void ews_grad_backward(const Var& o, const Var& v, InputGrads& gi);
void ews_backward(const Var& o, const Var& g, InputGrads& gi);
constexpr Op<EwsSaved> ews_grad_op({.name = "exp_weighted_square_sum_grad", .backward = ews_grad_backward});
constexpr Op<EwsSaved> ews_op({.name = "exp_weighted_square_sum", .backward = ews_backward});

// G = e⊙x (n,): inputs {x, s}. Backward with V (n,): ∂⟨G, V⟩/∂x = e⊙V, ∂⟨G, V⟩/∂s = G⊙V.
void ews_grad_backward(const Var& o, const Var& v, InputGrads& gi) {
  const auto& ins = o.node()->inputs;
  if (grad_enabled()) {
    if (gi.needed(0)) gi[0] = mul(exp(ins[1]), v);
    if (gi.needed(1)) gi[1] = mul(o, v);
    return;
  }
  const Tensor& e = ews_grad_op.saved(o).data->e;
  const int64_t n = e.numel();
  const real* pe = e.data();
  const real* pv = v.value().data();
  if (gi.needed(0)) {
    Tensor hx = Tensor::uninitialized(e.shape());
    real* ph = hx.data();
    for (int64_t j = 0; j < n; ++j) ph[j] = pe[j] * pv[j];
    gi[0] = constant(std::move(hx));
  }
  if (gi.needed(1)) {
    Tensor hs = Tensor::uninitialized(e.shape());
    real* ph = hs.data();
    const real* pg = o.value().data();
    for (int64_t j = 0; j < n; ++j) ph[j] = pg[j] * pv[j];
    gi[1] = constant(std::move(hs));
  }
}

// L (): inputs {x, s}. Backward: ∂/∂x = g·G, ∂/∂s = g·½ G⊙x.
void ews_backward(const Var& o, const Var& g, InputGrads& gi) {
  const auto& ins = o.node()->inputs;
  const std::shared_ptr<const EwsData>& data = ews_op.saved(o).data;
  const bool unit = !g.requires_grad() && g.value()[0] == real(1);  // the seed of grad(): no product needed
  const Tensor& e = data->e;
  const int64_t n = e.numel();
  Tensor gv = Tensor::uninitialized(e.shape());
  {
    const real* pe = e.data();
    const real* px = ins[0].value().data();
    real* pg = gv.data();
    for (int64_t j = 0; j < n; ++j) pg[j] = pe[j] * px[j];
  }
  if (grad_enabled()) {
    const Var gr = make_op(ews_grad_op, std::move(gv), {ins[0], ins[1]}, EwsSaved{data});
    if (gi.needed(0)) gi[0] = unit ? gr : mul(gr, g);
    if (gi.needed(1)) {
      const Var half = scale(mul(gr, ins[0]), real(0.5));
      gi[1] = unit ? half : mul(half, g);
    }
    return;
  }
  const real gs = g.value()[0];
  if (gi.needed(1)) {
    Tensor ds = Tensor::uninitialized(e.shape());
    const real* pg = gv.data();
    const real* px = ins[0].value().data();
    real* pd = ds.data();
    for (int64_t j = 0; j < n; ++j) pd[j] = gs * (real(0.5) * (pg[j] * px[j]));
    gi[1] = constant(std::move(ds));
  }
  if (gi.needed(0)) {
    if (!unit) {
      real* pg = gv.data();
      for (int64_t j = 0; j < n; ++j) pg[j] *= gs;
    }
    gi[0] = constant(std::move(gv));
  }
}

}  // namespace

Var exp_weighted_square_sum(const Var& x, const Var& s) {
  if (x.rank() != 1 || s.shape() != x.shape()) {
    throw internal_error("exp_weighted_square_sum: x of shape " + x.shape().str() + " and s of shape " + s.shape().str() +
                         " (expected two vectors of the same length)");
  }
  auto data = std::make_shared<EwsData>();
  data->e = Tensor::uninitialized(s.shape());
  exp_into(s.value().data(), data->e.data(), s.numel());
  const real* pe = data->e.data();
  const real* px = x.value().data();
  double part[4] = {0, 0, 0, 0};  // four interleaved partial sums (a fixed order), then added in order
  const int64_t n = x.numel();
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    for (int l = 0; l < 4; ++l) part[l] += static_cast<double>(pe[j + l] * (px[j + l] * px[j + l]));
  for (; j < n; ++j) part[0] += static_cast<double>(pe[j] * (px[j] * px[j]));
  const double total = (part[0] + part[1]) + (part[2] + part[3]);
  const bool tracked = grad_enabled() && (x.requires_grad() || s.requires_grad());
  if (!tracked) data.reset();  // a constant: nothing will read the saved state
  return make_op(ews_op, Tensor::scalar(static_cast<real>(0.5 * total)), {x, s}, EwsSaved{std::move(data)});
}

}  // namespace bilevel::ad
