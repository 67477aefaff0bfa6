#pragma once
// Reverse-mode, define-by-run automatic differentiation with differentiable backward rules.
//
// A Var is a handle to a graph node: its value, the inputs it was computed from, the op that made it
// (name and backward rule) and the state that op saved for its backward. Every backward rule is
// written with the same differentiable ops, so with create_graph=true the gradients returned by grad()
// are themselves graph nodes and can be differentiated again (Hessian-vector products, mixed
// partials, JVPs by double backward).
//
// Nodes hold nothing about any backward call: the visit marks and gradients of one grad() call live
// in that call (graph.cpp), so a graph can be differentiated any number of times, and a backward rule
// may itself call grad().
//
// Threads: there is no global tape. A graph belongs to the thread that builds it; a Var must not be
// used by two threads at once (give each task its own leaves: leaf(tensor) is cheap).
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "tensor/tensor.hpp"

namespace bilevel::ad {

struct Node;
class Var;
class InputGrads;

// Backward rule of an op: given the node's own output `out` and the gradient `g` flowing into it
// (same shape as out), write the gradient of each input i into grad_in[i] where grad_in.needed(i).
using BackwardFn = void (*)(const Var& out, const Var& g, InputGrads& grad_in);

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

// The input gradients one backward call is asked for. Only the grad() sweep makes one.
class InputGrads {
 public:
  // Whether input i needs a gradient (it requires grad and leads to a target of this grad() call).
  bool needed(size_t i) const { return input_records_[i] != unneeded; }
  // Where the gradient of input i goes; leave it undefined where !needed(i).
  Var& operator[](size_t i) { return grads_[i]; }

 private:
  friend class GradTask;
  static constexpr uint32_t unneeded = UINT32_MAX;
  InputGrads(const uint32_t* input_records, Var* grads) : input_records_(input_records), grads_(grads) {}
  const uint32_t* input_records_;  // the sweep's record of each input, `unneeded` where none is wanted
  Var* grads_;
};

// The definition of an op: one static instance per op, next to the op's function (ops_*.cpp); every
// node points at the definition of the op that made it. Leaves point at leaf_op.
//
// The three optional hooks are fast paths of the reverse sweep for ops that move one contiguous
// block of a flat vector (view, embed): models read their parameters as many views of one flat
// vector, and the generic rules would allocate, zero and add a full-size gradient for every view.
// Each must produce exactly the sums the generic rule would.
//   add_input_grad: the backward when no graph is recorded, adding ∂/∂input i straight into `acc`, the
//     elements of a private accumulator of input i's shape.
//   add_value: adds the node's value (a gradient being summed, no graph recorded) into `acc`, the
//     elements of a private accumulator of its shape, touching only the elements that can be non-zero.
//   sum: acc + out (a gradient being summed with the graph recorded) as one op cheaper than add.
//   sum_input_grad: the backward with the graph recorded, returning acc + ∂/∂input i as one op (acc, the
//     gradient input i has so far, may be undefined): a view's gradient joins the accumulator of the
//     flat vector without first being made a zero-padded full-size embed.
struct OpDef {
  const char* name = "leaf";
  BackwardFn backward = nullptr;  // nullptr only for leaves
  void (*add_input_grad)(const Var& out, const Var& g, size_t input, real* acc) = nullptr;
  void (*add_value)(const Node& out, real* acc) = nullptr;
  Var (*sum)(const Var& acc, const Var& out) = nullptr;
  Var (*sum_input_grad)(const Var& out, const Var& g, size_t input, const Var& acc) = nullptr;
  // Destroys the saved state of a node; set by Op<State> when State has a destructor.
  void (*destroy_saved)(void* state) = nullptr;
};

inline constexpr OpDef leaf_op{};

// The op saves no state.
struct NoState {};

// Bytes of saved state a node holds inline (the largest State of any op: im2col's four sizes).
inline constexpr size_t max_saved_bytes = 32;

// An op whose nodes carry a State, a small named struct of what its backward needs (an offset, a
// scale, shared indices): make_op stores it in the node, and `saved` reads it back typed.
template <class State = NoState>
class Op : public OpDef {
 public:
  static_assert(sizeof(State) <= max_saved_bytes && alignof(State) <= alignof(int64_t),
                "saved state too large for a node: keep it small or hold it by shared_ptr");
  static_assert(std::is_nothrow_move_constructible_v<State>);

  constexpr explicit Op(OpDef def) : OpDef(def) {
    if constexpr (!std::is_trivially_destructible_v<State>) {
      destroy_saved = [](void* s) { static_cast<State*>(s)->~State(); };
    }
  }
  // The State make_op saved on `out`, which this op made.
  const State& saved(const Node& out) const;
  const State& saved(const Var& out) const { return saved(*out.node()); }
};

struct Node {
  Tensor value;
  std::vector<Var> inputs;       // recorded only when requires_grad
  const OpDef* op = &leaf_op;    // never null
  bool requires_grad = false;
  // The op's saved state: an Op<State>'s State, written by make_op, read by Op<State>::saved.
  alignas(int64_t) unsigned char saved_state[max_saved_bytes];

  Node() {}  // user-provided, so that make_shared does not zero saved_state first
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();
};

template <class State>
const State& Op<State>::saved(const Node& out) const {
  assert(out.op == this && "saved state read through the wrong op");
  return *std::launder(reinterpret_cast<const State*>(out.saved_state));
}

// A differentiable variable (leaf) and a constant.
Var leaf(Tensor value, bool requires_grad = true);
Var constant(Tensor value);

// Build a node for an op. If grad mode is off or no input requires grad, the node is a constant:
// its inputs are not recorded (its op and saved state are).
namespace detail {
Var make_node(const OpDef& op, Tensor&& value, std::vector<Var>&& inputs);  // make_op without the state
}  // namespace detail
inline Var make_op(const Op<>& op, Tensor value, std::vector<Var> inputs) {
  return detail::make_node(op, std::move(value), std::move(inputs));
}
template <class State>
Var make_op(const Op<State>& op, Tensor value, std::vector<Var> inputs, State saved) {
  Var out = detail::make_node(op, std::move(value), std::move(inputs));
  ::new (static_cast<void*>(out.node()->saved_state)) State(std::move(saved));
  return out;
}

// v's value, moved out of its node when nothing else holds the node (a gradient grad() returned, a leaf whose
// graph is gone), else copied. v is left empty.
Tensor take_value(Var&& v);

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
