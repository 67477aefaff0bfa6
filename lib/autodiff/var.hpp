#pragma once
// Reverse-mode, define-by-run automatic differentiation with differentiable backward rules.
//
// A Var is a handle to a graph node: its value, the inputs it was computed from and the op's
// backward rule. Every backward rule is written with the same differentiable ops, so with
// create_graph=true the gradients returned by grad() are themselves graph nodes and can be
// differentiated again (Hessian-vector products, mixed partials, JVPs by double backward).
//
// Threads: there is no global tape. A graph belongs to the thread that builds it; a Var must not be
// used by two threads at once (give each task its own leaves: leaf(tensor) is cheap).
#include <cstdint>
#include <memory>
#include <vector>

#include "tensor/tensor.hpp"

namespace bilevel::ad {

struct Node;
class Var;

// Backward rule of an op: given the node's own output `out` and the gradient `g` flowing into it
// (same shape as out), write the gradient of each input into grad_in[i] (left empty for inputs that
// need none: check out.node()->input_needed(i)).
using BackwardFn = void (*)(const Var& out, const Var& g, Var* grad_in);

class Var {
 public:
  Var() = default;
  explicit Var(std::shared_ptr<Node> n) : ptr_(std::move(n)) {}

  const Tensor& value() const;
  const Shape& shape() const { return value().shape(); }
  int64_t numel() const { return value().numel(); }
  int rank() const { return value().rank(); }
  real item() const { return value().item(); }
  bool requires_grad() const;
  bool defined() const { return ptr_ != nullptr; }
  Node* node() const { return ptr_.get(); }
  const std::shared_ptr<Node>& ptr() const { return ptr_; }

 private:
  std::shared_ptr<Node> ptr_;
};

struct Node {
  Tensor value;
  std::vector<Var> inputs;
  BackwardFn backward = nullptr;
  const char* op = "leaf";
  bool requires_grad = false;
  // Op parameters that backward needs (ints, a real, shared index data); fields are per-op.
  int64_t iarg[6] = {0, 0, 0, 0, 0, 0};
  double darg = 0.0;
  Shape sarg;                                        // e.g. the input shape a reduction came from
  std::shared_ptr<const std::vector<int64_t>> idx;   // gather indices, labels, pooling argmax

  // Bookkeeping of one grad() call, valid only while visit_epoch equals that call's id.
  uint64_t visit_epoch = 0;   // expanded by the call's depth-first search
  uint64_t target_epoch = 0;  // one of the call's inputs xs
  bool needed = false;        // leads to some target
  Var grad;                   // accumulated gradient

  bool input_needed(size_t i) const;
  ~Node();
};

// A differentiable variable (leaf) and a constant.
Var leaf(Tensor value, bool requires_grad = true);
Var constant(Tensor value);
Var scalar_constant(real v);

// Build a node for an op. If grad mode is off or no input requires grad, returns a constant.
Var make_op(const char* op, Tensor value, std::vector<Var> inputs, BackwardFn backward);

// Gradients of scalar y with respect to each x (zeros where y does not depend on x). Nothing is
// accumulated anywhere. With create_graph the results are differentiable.
std::vector<Var> grad(const Var& y, const std::vector<Var>& xs, bool create_graph = false);
// Vector-Jacobian product: Σ_k ⟨grad_outputs[k], ∂ys[k]/∂x⟩ for each x.
std::vector<Var> grad(const std::vector<Var>& ys, const std::vector<Var>& grad_outputs, const std::vector<Var>& xs,
                      bool create_graph = false);

// Grad mode (thread-local). Inside a NoGradGuard ops record nothing.
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// Number of graph nodes created on this thread (cost accounting and tests).
int64_t nodes_created();

}  // namespace bilevel::ad
