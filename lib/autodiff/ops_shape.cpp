// Shape ops and matmul: reshape, view/embed, slices, concat, gather/scatter, transpose, matmul.
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "base/errors.hpp"
#include "autodiff/ops.hpp"

namespace bilevel::ad {

namespace {
const Var& in0(const Var& out) { return out.node()->inputs[0]; }
}  // namespace

Var reshape(const Var& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  static constexpr Op<> op({.name = "reshape", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                              gi[0] = reshape(g, in0(o).shape());
                            }});
  return make_op(op, x.value().reshaped(shape), {x});
}

Var flatten(const Var& x) { return reshape(x, Shape{x.numel()}); }

namespace {
// Gradients of many views of one flat vector, summed with the graph recorded: base + Σᵢ embed(xᵢ, offᵢ), one node
// however many views there are. Inputs: [base,] x₁, x₂, …; the offsets of the xᵢ are shared by the node. The sweep
// builds it through embed's sum hook (embed_accumulate below): each further view's gradient takes over the
// node made for the previous ones, when nothing else holds it, and adds its slice in place — where a chain of
// embed_adds copied the whole accumulator once per view. The value is the same sums in the same order.
struct EmbedSumSaved {
  std::shared_ptr<const std::vector<int64_t>> offsets;  // of the inputs after the base
  bool has_base;
};
constexpr Op<EmbedSumSaved> embed_sum_op(
    {.name = "embed_sum",
     .backward = [](const Var& o, const Var& g, InputGrads& gi) {
       const EmbedSumSaved& s = embed_sum_op.saved(o);
       const auto& ins = o.node()->inputs;
       const size_t first = s.has_base ? 1 : 0;
       if (s.has_base && gi.needed(0)) gi[0] = g;
       for (size_t i = first; i < ins.size(); ++i) {
         if (gi.needed(i)) gi[i] = view(g, (*s.offsets)[i - first], ins[i].shape());
       }
     },
     .add_input_grad = [](const Var& o, const Var& g, size_t i, real* acc) {
       const EmbedSumSaved& s = embed_sum_op.saved(o);
       const real* pg = g.value().data();
       if (s.has_base && i == 0) {
         for (int64_t k = 0, m = g.numel(); k < m; ++k) acc[k] += pg[k];
         return;
       }
       pg += (*s.offsets)[i - (s.has_base ? 1 : 0)];
       for (int64_t k = 0, m = o.node()->inputs[i].numel(); k < m; ++k) acc[k] += pg[k];
     }});

// The size is saved because a constant embed (no inputs recorded) is still summed by its slice only.
struct EmbedSaved {
  int64_t offset, size;
};
Var embed_accumulate(const Var& acc, const Var& x, int64_t offset);
// As a gradient being summed, an embed adds its slice only, or joins an embed_sum with a graph.
constexpr Op<EmbedSaved> embed_op({.name = "embed",
                                   .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                                     gi[0] = view(g, embed_op.saved(o).offset, in0(o).shape());
                                   },
                                   .add_value = [](const Node& o, real* acc) {
                                     const EmbedSaved& s = embed_op.saved(o);
                                     const real* pv = o.value.data();
                                     for (int64_t k = s.offset; k < s.offset + s.size; ++k) acc[k] += pv[k];
                                   },
                                   .sum = [](const Var& acc, const Var& o) {
                                     if (o.node()->inputs.empty()) return add(acc, o);
                                     return embed_accumulate(acc, in0(o), embed_op.saved(o).offset);
                                   }});

// acc + embed(x, offset, acc.shape()) for the sweep's sum hook, whose caller replaces acc by the result. If acc is
// an embed or embed_sum node with its inputs recorded and the caller holds it alone, the result takes over its
// value and inputs (acc is left empty, to be released by the caller); otherwise a new embed_sum with acc as base.
Var embed_accumulate(const Var& acc, const Var& x, int64_t offset) {
  const int64_t n = x.numel();
  if (offset < 0 || offset + n > acc.numel()) {
    throw internal_error("embed_sum: " + std::to_string(n) + " elements at offset " + std::to_string(offset) +
                         " do not fit in shape " + acc.shape().str());
  }
  Node* an = acc.node();
  const bool own = grad_enabled() && acc.ptr().use_count() == 1 && an->requires_grad && !an->inputs.empty() &&
                   (an->op == &embed_op || an->op == &embed_sum_op);
  Tensor v;
  std::vector<Var> inputs;
  auto offsets = std::make_shared<std::vector<int64_t>>();
  bool has_base = false;
  if (own) {
    if (an->op == &embed_op) {
      offsets->push_back(embed_op.saved(*an).offset);
    } else {
      const EmbedSumSaved& s = embed_sum_op.saved(*an);
      *offsets = *s.offsets;
      has_base = s.has_base;
    }
    v = std::move(an->value);
    inputs = std::move(an->inputs);
    an->inputs.clear();
  } else {
    v = acc.value();
    inputs.push_back(acc);
    has_base = true;
  }
  const real* px = x.value().data();
  real* pv = v.data() + offset;
  for (int64_t i = 0; i < n; ++i) pv[i] += px[i];
  inputs.push_back(x);
  offsets->push_back(offset);
  return make_op(embed_sum_op, std::move(v), std::move(inputs), EmbedSumSaved{std::move(offsets), has_base});
}

struct ViewSaved {
  int64_t offset;
};
// Without a graph the gradient goes straight into its slice of x's accumulator; with one, it joins the
// accumulator's embed_sum (or starts it as an embed) — never a zero-padded embed that is then summed.
constexpr Op<ViewSaved> view_op({.name = "view",
                                 .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                                   gi[0] = embed(g, view_op.saved(o).offset, in0(o).shape());
                                 },
                                 .add_input_grad = [](const Var& o, const Var& g, size_t, real* acc) {
                                   real* pa = acc + view_op.saved(o).offset;
                                   const real* pg = g.value().data();
                                   for (int64_t k = 0, m = g.numel(); k < m; ++k) pa[k] += pg[k];
                                 },
                                 .sum_input_grad = [](const Var& o, const Var& g, size_t, const Var& acc) {
                                   const int64_t offset = view_op.saved(o).offset;
                                   if (!acc.defined()) return embed(g, offset, in0(o).shape());
                                   return embed_accumulate(acc, g, offset);
                                 }});
}  // namespace

Var view(const Var& x, int64_t offset, const Shape& shape) {
  const int64_t n = shape.numel();
  if (offset < 0 || offset + n > x.numel()) {
    throw internal_error("view: elements [" + std::to_string(offset) + ", " + std::to_string(offset + n) +
                                ") out of range for a tensor of shape " + x.shape().str());
  }
  if (offset == 0 && n == x.numel()) return reshape(x, shape);
  Tensor v = Tensor::uninitialized(shape);
  if (n) std::memcpy(v.data(), x.value().data() + offset, static_cast<size_t>(n) * sizeof(real));
  return make_op(view_op, std::move(v), {x}, ViewSaved{offset});
}

Var embed(const Var& x, int64_t offset, const Shape& shape) {
  const int64_t n = x.numel();
  if (offset < 0 || offset + n > shape.numel()) {
    throw internal_error("embed: " + std::to_string(n) + " elements at offset " + std::to_string(offset) +
                                " do not fit in shape " + shape.str());
  }
  if (offset == 0 && n == shape.numel()) return reshape(x, shape);
  Tensor v(shape);
  if (n) std::memcpy(v.data() + offset, x.value().data(), static_cast<size_t>(n) * sizeof(real));
  return make_op(embed_op, std::move(v), {x}, EmbedSaved{offset, n});
}

Var embed_add(const Var& acc, const Var& x, int64_t offset) {
  const int64_t n = x.numel();
  if (offset < 0 || offset + n > acc.numel()) {
    throw internal_error("embed_add: " + std::to_string(n) + " elements at offset " + std::to_string(offset) +
                                " do not fit in shape " + acc.shape().str());
  }
  Tensor v = acc.value();
  const real* px = x.value().data();
  real* pv = v.data() + offset;
  for (int64_t i = 0; i < n; ++i) pv[i] += px[i];
  struct Saved {
    int64_t offset;
  };
  static constexpr Op<Saved> op({.name = "embed_add", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                                   if (gi.needed(0)) gi[0] = g;
                                   if (gi.needed(1)) gi[1] = view(g, op.saved(o).offset, o.node()->inputs[1].shape());
                                 }});
  return make_op(op, std::move(v), {acc, x}, Saved{offset});
}

Var slice_rows(const Var& x, int64_t begin, int64_t end) {
  if (x.rank() < 1 || begin < 0 || end < begin || end > x.shape()[0]) {
    throw internal_error("slice_rows: rows [" + std::to_string(begin) + ", " + std::to_string(end) +
                                ") out of range for shape " + x.shape().str());
  }
  std::vector<int64_t> d = x.shape().to_vector();
  const int64_t row = d[0] ? x.numel() / d[0] : 0;
  d[0] = end - begin;
  return view(x, begin * row, Shape(d));
}

Var concat(const std::vector<Var>& xs, int axis) {
  if (xs.empty()) throw internal_error("concat: no inputs");
  if (axis == 0) {
    std::vector<int64_t> d = xs[0].shape().to_vector();
    if (d.empty()) throw internal_error("concat: cannot concatenate scalars along axis 0");
    int64_t rows = 0;
    for (const auto& x : xs) {
      std::vector<int64_t> e = x.shape().to_vector();
      if (e.size() != d.size() || !std::equal(e.begin() + 1, e.end(), d.begin() + 1)) {
        throw internal_error("concat: shapes " + xs[0].shape().str() + " and " + x.shape().str() +
                                    " differ outside axis 0");
      }
      rows += e[0];
    }
    d[0] = rows;
    const Shape out_shape(d);
    Tensor v = Tensor::uninitialized(out_shape);
    int64_t off = 0;
    for (const auto& x : xs) {
      if (x.numel()) std::memcpy(v.data() + off, x.value().data(), static_cast<size_t>(x.numel()) * sizeof(real));
      off += x.numel();
    }
    static constexpr Op<> op({.name = "concat", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                                int64_t offset = 0;
                                const auto& ins = o.node()->inputs;
                                for (size_t i = 0; i < ins.size(); ++i) {
                                  if (gi.needed(i)) gi[i] = view(g, offset, ins[i].shape());
                                  offset += ins[i].numel();
                                }
                              }});
    return make_op(op, std::move(v), xs);
  }
  if (axis == 1 || axis == -1) {
    // 2-D along columns: concat of transposes, transposed back.
    std::vector<Var> ts;
    for (const auto& x : xs) {
      if (x.rank() != 2) throw internal_error("concat: axis 1 needs 2-D inputs, got " + x.shape().str());
      ts.push_back(transpose(x));
    }
    return transpose(concat(ts, 0));
  }
  throw internal_error("concat: axis " + std::to_string(axis) + " is not supported (use 0, or 1 for 2-D)");
}

namespace {
// gather and scatter_add keep their (shared, immutable) index list for the backward, each the other's.
struct IndexSaved {
  std::shared_ptr<const std::vector<int64_t>> idx;
};
constexpr Op<IndexSaved> gather_op({.name = "gather", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                                      gi[0] = scatter_add(g, gather_op.saved(o).idx, in0(o).shape());
                                    }});
constexpr Op<IndexSaved> scatter_add_op({.name = "scatter_add",
                                         .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                                           gi[0] = gather(g, scatter_add_op.saved(o).idx, in0(o).shape());
                                         }});
}  // namespace

const std::vector<int64_t>* gather_indices(const Node& n) {
  return n.op == &gather_op ? gather_op.saved(n).idx.get() : nullptr;
}

Var gather(const Var& x, std::shared_ptr<const std::vector<int64_t>> idx, const Shape& shape) {
  if (static_cast<int64_t>(idx->size()) != shape.numel()) {
    throw internal_error("gather: " + std::to_string(idx->size()) + " indices for output shape " +
                                shape.str());
  }
  Tensor v = Tensor::uninitialized(shape);
  const real* px = x.value().data();
  const int64_t n = x.numel();
  for (size_t i = 0; i < idx->size(); ++i) {
    const int64_t j = (*idx)[i];
    if (j < 0 || j >= n) {
      throw internal_error("gather: index " + std::to_string(j) + " out of range for shape " +
                                  x.shape().str());
    }
    v[static_cast<int64_t>(i)] = px[j];
  }
  return make_op(gather_op, std::move(v), {x}, IndexSaved{std::move(idx)});
}

Var scatter_add(const Var& x, std::shared_ptr<const std::vector<int64_t>> idx, const Shape& shape) {
  if (static_cast<int64_t>(idx->size()) != x.numel()) {
    throw internal_error("scatter_add: " + std::to_string(idx->size()) + " indices for input shape " +
                                x.shape().str());
  }
  Tensor v(shape);
  const real* px = x.value().data();
  const int64_t n = shape.numel();
  for (size_t i = 0; i < idx->size(); ++i) {
    const int64_t j = (*idx)[i];
    if (j < 0 || j >= n) {
      throw internal_error("scatter_add: index " + std::to_string(j) + " out of range for shape " +
                                  shape.str());
    }
    v[j] += px[i];
  }
  return make_op(scatter_add_op, std::move(v), {x}, IndexSaved{std::move(idx)});
}

Var transpose(const Var& x) {
  if (x.rank() != 2) throw internal_error("transpose: expects a 2-D tensor, got " + x.shape().str());
  const int64_t m = x.shape()[0], n = x.shape()[1];
  Tensor v = Tensor::uninitialized(Shape{n, m});
  transpose_into(x.value().data(), m, n, n, v.data());
  static constexpr Op<> op(
      {.name = "transpose", .backward = [](const Var&, const Var& g, InputGrads& gi) { gi[0] = transpose(g); }});
  return make_op(op, std::move(v), {x});
}

Var matmul(const Var& a, const Var& b, bool trans_a, bool trans_b) {
  // C = op(A)·op(B), G = ∂L/∂C.  ∂L/∂op(A) = G·op(B)ᵀ and ∂L/∂op(B) = op(A)ᵀ·G, so
  //   A: ta ? op(B)·Gᵀ : G·op(B)ᵀ          B: tb ? Gᵀ·op(A) : op(A)ᵀ·G
  // each again a single gemm with transpose flags.
  struct Saved {
    bool trans_a, trans_b;
  };
  static constexpr Op<Saved> op({.name = "matmul", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
                                   const bool ta = op.saved(o).trans_a, tb = op.saved(o).trans_b;
                                   const Var& A = o.node()->inputs[0];
                                   const Var& B = o.node()->inputs[1];
                                   if (gi.needed(0)) gi[0] = ta ? matmul(B, g, tb, true) : matmul(g, B, false, !tb);
                                   if (gi.needed(1)) gi[1] = tb ? matmul(g, A, true, ta) : matmul(A, g, !ta, false);
                                 }});
  return make_op(op, gemm(a.value(), b.value(), trans_a, trans_b), {a, b}, Saved{trans_a, trans_b});
}

}  // namespace bilevel::ad
