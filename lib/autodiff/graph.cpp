// Graph nodes, grad mode and the reverse sweep.
#include <atomic>
#include <stdexcept>
#include <string>

#include "base/errors.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/var.hpp"

namespace bilevel::ad {

namespace {
thread_local bool tl_grad_enabled = true;
thread_local int64_t tl_nodes_created = 0;
std::atomic<uint64_t> g_epoch{1};

// Deep graphs (unrolled loops) would overflow the stack if nodes released their inputs
// recursively; instead a dying node hands inputs it owns alone to a per-thread list that the
// outermost destructor drains iteratively.
thread_local std::vector<std::shared_ptr<Node>> tl_graveyard;
thread_local bool tl_draining = false;
struct GradModeGuard {
  explicit GradModeGuard(bool enabled) : prev(tl_grad_enabled) { tl_grad_enabled = enabled; }
  ~GradModeGuard() { tl_grad_enabled = prev; }
  bool prev;
};
}  // namespace

const Tensor& Var::value() const {
  if (!ptr_) throw std::logic_error("Var: use of an undefined variable");
  return ptr_->value;
}

bool Var::requires_grad() const { return ptr_ && ptr_->requires_grad; }

bool Node::input_needed(size_t i) const {
  const Node* n = inputs[i].node();
  return n && n->requires_grad && n->needed && n->visit_epoch == visit_epoch;
}

Node::~Node() {
  auto bury = [](Var& v) {
    if (v.defined() && v.ptr().use_count() == 1) {
      tl_graveyard.push_back(v.ptr());
      v = Var();
    }
  };
  for (auto& v : inputs) bury(v);
  bury(grad);
  if (tl_draining) return;
  tl_draining = true;
  while (!tl_graveyard.empty()) {
    std::shared_ptr<Node> p = std::move(tl_graveyard.back());
    tl_graveyard.pop_back();
    p.reset();  // may push more nodes; they are drained by this loop
  }
  tl_draining = false;
}

bool grad_enabled() { return tl_grad_enabled; }
NoGradGuard::NoGradGuard() : prev_(tl_grad_enabled) { tl_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { tl_grad_enabled = prev_; }
int64_t nodes_created() { return tl_nodes_created; }

Var leaf(Tensor value, bool requires_grad) {
  auto n = std::make_shared<Node>();
  n->value = std::move(value);
  n->requires_grad = requires_grad;
  ++tl_nodes_created;
  return Var(std::move(n));
}

Var constant(Tensor value) { return leaf(std::move(value), false); }
Var scalar_constant(real v) { return constant(Tensor::scalar(v)); }

Var make_op(const char* op, Tensor value, std::vector<Var> inputs, BackwardFn backward) {
  auto n = std::make_shared<Node>();
  n->value = std::move(value);
  n->op = op;
  ++tl_nodes_created;
  if (tl_grad_enabled) {
    for (const auto& v : inputs) {
      if (v.requires_grad()) {
        n->requires_grad = true;
        break;
      }
    }
  }
  if (n->requires_grad) {
    n->inputs = std::move(inputs);
    n->backward = backward;
  }
  return Var(std::move(n));
}

std::vector<Var> grad(const Var& y, const std::vector<Var>& xs, bool create_graph) {
  if (y.numel() != 1) {
    throw internal_error("grad: output must be a scalar, got shape " + y.shape().str() +
                                " (pass grad_outputs for a vector-Jacobian product)");
  }
  return grad(std::vector<Var>{y}, std::vector<Var>{constant(Tensor(y.shape(), real(1)))}, xs, create_graph);
}

// acc += g, the one place where gradients meet. Two shortcuts keep flat parameter vectors cheap: a
// uniquely owned accumulator is updated in place when no graph is recorded, and an embed (the gradient of a
// view) is added as its slice only — fused into embed_add when the graph is recorded.
// acc[offset : offset + g.numel()] += g without recording: the no-graph backward of a view.
static void accumulate_slice(Var& acc, const Var& g, int64_t offset, const Shape& shape) {
  if (!acc.defined()) {
    acc = constant(Tensor(shape));
  } else if (acc.ptr().use_count() > 1 || acc.requires_grad()) {
    acc = constant(acc.value());  // shared: accumulate into a private copy
  }
  real* pa = acc.node()->value.data() + offset;
  const real* pg = g.value().data();
  for (int64_t k = 0, n = g.numel(); k < n; ++k) pa[k] += pg[k];
}

static void accumulate(Var& acc, Var g, bool create_graph) {
  if (!acc.defined()) {
    acc = std::move(g);
    return;
  }
  Node* gn = g.node();
  const bool is_embed = gn->op == embed_op_name;
  if (!create_graph) {
    Node* an = acc.node();
    if (acc.ptr().use_count() == 1 && !an->requires_grad) {
      real* pa = an->value.data();
      const real* pg = gn->value.data();
      int64_t begin = 0, end = an->value.numel();
      if (is_embed) begin = gn->iarg[0], end = gn->iarg[0] + gn->iarg[1];
      for (int64_t k = begin; k < end; ++k) pa[k] += pg[k];
      return;
    }
    acc = add(acc, g);
    return;
  }
  if (is_embed && !gn->inputs.empty()) {
    acc = embed_add(acc, gn->inputs[0], gn->iarg[0]);
    return;
  }
  acc = add(acc, g);
}

std::vector<Var> grad(const std::vector<Var>& ys, const std::vector<Var>& grad_outputs, const std::vector<Var>& xs,
                      bool create_graph) {
  if (ys.size() != grad_outputs.size()) {
    throw internal_error("grad: " + std::to_string(ys.size()) + " outputs but " +
                                std::to_string(grad_outputs.size()) + " grad_outputs");
  }
  for (size_t k = 0; k < ys.size(); ++k) {
    if (!ys[k].defined() || !grad_outputs[k].defined()) throw internal_error("grad: undefined output");
    if (ys[k].shape() != grad_outputs[k].shape()) {
      throw internal_error("grad: grad_output of shape " + grad_outputs[k].shape().str() +
                                  " for an output of shape " + ys[k].shape().str());
    }
  }
  const uint64_t epoch = g_epoch.fetch_add(1, std::memory_order_relaxed);
  for (const auto& x : xs) {
    if (!x.defined()) throw internal_error("grad: undefined input variable");
    x.node()->target_epoch = epoch;
  }

  // Post-order depth-first search with an explicit stack (unrolled loops make deep graphs).
  // Frames point at Vars owned by the roots or by their parents' input lists, which outlive the search.
  std::vector<const Var*> order;
  struct Frame {
    const Var* v;
    size_t next;
  };
  std::vector<Frame> stack;
  auto enter = [&](const Var* v) {
    Node* n = v->node();
    n->visit_epoch = epoch;
    n->needed = n->target_epoch == epoch;
    n->grad = Var();
    stack.push_back({v, 0});
  };
  for (const auto& y : ys) {
    if (!y.requires_grad() || y.node()->visit_epoch == epoch) continue;
    enter(&y);
    while (!stack.empty()) {
      Frame& f = stack.back();
      Node* n = f.v->node();
      if (f.next < n->inputs.size()) {
        const Var* c = &n->inputs[f.next++];
        if (c->requires_grad() && c->node()->visit_epoch != epoch) enter(c);
        continue;
      }
      for (const auto& in : n->inputs)
        if (in.requires_grad() && in.node()->needed) n->needed = true;
      order.push_back(f.v);
      stack.pop_back();
    }
  }

  // Seed and sweep in reverse topological order.
  std::vector<Var> result(xs.size());
  {
    GradModeGuard mode(create_graph);
    for (size_t k = 0; k < ys.size(); ++k) {
      Node* n = ys[k].node();
      if (!ys[k].requires_grad() || !n->needed) continue;
      n->grad = n->grad.defined() ? add(n->grad, grad_outputs[k]) : grad_outputs[k];  // never in place: caller's Var
    }
    std::vector<Var> grad_in;
    for (size_t oi = order.size(); oi-- > 0;) {
      const Var& out = *order[oi];
      Node* n = out.node();
      if (!n->needed || !n->grad.defined() || n->backward == nullptr) continue;
      if (!create_graph && n->op == view_op_name) {
        if (n->input_needed(0)) {
          Node* c = n->inputs[0].node();
          accumulate_slice(c->grad, n->grad, n->iarg[0], c->value.shape());
        }
        if (n->target_epoch != epoch) n->grad = Var();
        continue;
      }
      grad_in.assign(n->inputs.size(), Var());
      n->backward(out, n->grad, grad_in.data());
      for (size_t i = 0; i < n->inputs.size(); ++i) {
        if (!grad_in[i].defined() || !n->input_needed(i)) continue;
        Node* c = n->inputs[i].node();
        if (grad_in[i].shape() != c->value.shape()) {
          throw std::logic_error(std::string("grad: backward of '") + n->op + "' returned shape " +
                                 grad_in[i].shape().str() + " for an input of shape " + c->value.shape().str());
        }
        accumulate(c->grad, std::move(grad_in[i]), create_graph);
      }
      if (n->target_epoch != epoch) n->grad = Var();  // free intermediate gradients early
    }
  }
  for (size_t i = 0; i < xs.size(); ++i) {
    Node* n = xs[i].node();
    if (n->visit_epoch == epoch && n->grad.defined()) {
      result[i] = n->grad;
    } else {
      result[i] = constant(Tensor(xs[i].shape()));
    }
  }
  for (const auto& x : xs) x.node()->grad = Var();
  return result;
}

}  // namespace bilevel::ad
