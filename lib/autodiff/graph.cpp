// Graph nodes, grad mode and the reverse sweep.
#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>

#include "base/errors.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/var.hpp"

namespace bilevel::ad {

namespace {
thread_local bool tl_grad_enabled = true;
thread_local int64_t tl_nodes_created = 0;

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

// A node is the unit of graph memory in unrolled loops (one per op per inner step): value, inputs, op and
// inline saved state fit in two cache lines, with nothing per backward call.
static_assert(sizeof(Node) <= 128, "Node grew: keep per-call state in GradTask and saved state small");

const Tensor& Var::value() const {
  if (!ptr_) throw std::logic_error("Var: use of an undefined variable");
  return ptr_->value;
}

bool Var::requires_grad() const { return ptr_ && ptr_->requires_grad; }

Node::~Node() {
  if (op->destroy_saved) op->destroy_saved(saved_state);
  for (auto& v : inputs) {
    if (v.defined() && v.ptr().use_count() == 1) {
      tl_graveyard.push_back(v.ptr());
      v = Var();
    }
  }
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

Tensor take_value(Var&& v) {
  Var own = std::move(v);
  if (own.ptr().use_count() == 1) return std::move(own.node()->value);
  return own.value();
}

Var detail::make_node(const OpDef& op, Tensor&& value, std::vector<Var>&& inputs) {
  auto n = std::make_shared<Node>();
  n->value = std::move(value);
  n->op = &op;
  ++tl_nodes_created;
  if (tl_grad_enabled) {
    for (const auto& v : inputs) {
      if (v.requires_grad()) {
        n->requires_grad = true;
        break;
      }
    }
  }
  if (n->requires_grad) n->inputs = std::move(inputs);
  return Var(std::move(n));
}

std::vector<Var> grad(const Var& y, const std::vector<Var>& xs, bool create_graph) {
  if (y.numel() != 1) {
    throw internal_error("grad: output must be a scalar, got shape " + y.shape().str() +
                                " (pass grad_outputs for a vector-Jacobian product)");
  }
  return grad(std::vector<Var>{y}, std::vector<Var>{constant(Tensor(y.shape(), real(1)))}, xs, create_graph);
}

namespace {

// The elements of acc after making it a private constant — zeros of `shape` if undefined, a copy if
// anyone else holds it or it is a graph node — so that the no-graph sweep may add into it in place.
real* private_accumulator(Var& acc, const Shape& shape) {
  if (!acc.defined()) {
    acc = constant(Tensor(shape));
  } else if (acc.ptr().use_count() > 1 || acc.requires_grad()) {
    acc = constant(acc.value());
  }
  return acc.node()->value.data();
}

// acc += g, the one place where gradients meet. Without a graph, a uniquely owned constant accumulator
// is updated in place (through the op's add_value when it has one: an embed adds only its slice);
// with a graph, the op's sum when it has one (an embed: one embed_add), else add.
void accumulate(Var& acc, Var g, bool create_graph) {
  if (!acc.defined()) {
    acc = std::move(g);
    return;
  }
  const Node* gn = g.node();
  if (!create_graph) {
    Node* an = acc.node();
    if (acc.ptr().use_count() == 1 && !an->requires_grad) {
      real* pa = an->value.data();
      if (gn->op->add_value) {
        gn->op->add_value(*gn, pa);
        return;
      }
      const real* pg = gn->value.data();
      for (int64_t k = 0, n = an->value.numel(); k < n; ++k) pa[k] += pg[k];
      return;
    }
    acc = add(acc, g);
    return;
  }
  acc = gn->op->sum ? gn->op->sum(acc, g) : add(acc, g);
}

}  // namespace

// One grad() call: the search of the graph below its outputs, one record per node it reaches (visited,
// needed, accumulated gradient) and the reverse sweep. Nothing of it is stored on the nodes, so a
// graph can be differentiated again and again, and a backward rule may itself call grad(): the inner
// call is another task. The vectors are reused by the thread's next call (see Lease), so a call
// allocates nothing once the thread has seen a graph of its size.
class GradTask {
 public:
  static constexpr uint32_t unneeded = InputGrads::unneeded;

  // Marks x as the call's next target (before any search).
  void add_target(const Var& x) {
    const uint32_t r = record_of(x);
    records_[r].target = true;
    targets_.push_back(r);
  }

  // Post-order depth-first search below y with an explicit stack (unrolled loops make deep graphs):
  // records every node that requires grad, links each to its inputs' records and marks it needed if it
  // leads to a target. Inputs are searched in order, as a recursive search would: the post-order fixes
  // the order in which gradients are summed. Vars referenced by records are owned by the roots, the
  // targets or their parents' input lists, which all outlive the call.
  void search(const Var& y) {
    const uint32_t root = record_of(y);
    if (records_[root].expanded) return;
    expand(root);
    while (!stack_.empty()) {
      Frame& f = stack_.back();
      const uint32_t* ins = input_records_.data() + f.first_input;
      if (f.next < f.size) {
        const uint32_t c = ins[f.next++];
        if (c != unneeded && !records_[c].expanded) expand(c);  // invalidates f and ins
        continue;
      }
      // Inputs done: the node is needed if one of them is; links to inputs that are not are cut, so
      // the sweep and the backward rules (InputGrads::needed) see only the inputs to differentiate.
      Record& rec = records_[f.record];
      uint32_t* links = input_records_.data() + f.first_input;
      for (uint32_t i = 0; i < f.size; ++i) {
        if (links[i] == unneeded) continue;
        if (records_[links[i]].needed) {
          rec.needed = true;
        } else {
          links[i] = unneeded;
        }
      }
      order_.push_back(f.record);
      stack_.pop_back();
    }
  }

  // Adds the cotangent u to output y's gradient (y was searched). u is the caller's: never changed.
  void seed(const Var& y, const Var& u) {
    if (!y.requires_grad()) return;
    Record& rec = records_[record_of(y)];
    if (!rec.needed) return;
    rec.grad = rec.grad.defined() ? add(rec.grad, u) : u;
  }

  // Backward rules in reverse topological order. Gradients of nodes that are not targets are freed as
  // soon as they have been propagated.
  void sweep() {
    for (size_t oi = order_.size(); oi-- > 0;) {
      Record& rec = records_[order_[oi]];
      if (!rec.needed || !rec.grad.defined()) continue;
      const Node* n = rec.var->node();
      const OpDef& op = *n->op;
      if (op.backward == nullptr) continue;  // a leaf
      const uint32_t* ins = input_records_.data() + rec.first_input;
      const size_t k = n->inputs.size();
      if (!create_graph_ && op.add_input_grad) {
        for (size_t i = 0; i < k; ++i) {
          if (ins[i] == unneeded) continue;
          op.add_input_grad(*rec.var, rec.grad, i, private_accumulator(records_[ins[i]].grad, n->inputs[i].shape()));
        }
      } else if (create_graph_ && op.sum_input_grad) {
        for (size_t i = 0; i < k; ++i) {
          if (ins[i] == unneeded) continue;
          Var& acc = records_[ins[i]].grad;
          acc = op.sum_input_grad(*rec.var, rec.grad, i, acc);
        }
      } else {
        if (grad_in_.size() < k) grad_in_.resize(k);  // entries are undefined between calls
        InputGrads gi(ins, grad_in_.data());
        op.backward(*rec.var, rec.grad, gi);
        for (size_t i = 0; i < k; ++i) {
          Var& gin = grad_in_[i];
          if (!gin.defined()) continue;
          if (ins[i] == unneeded) {
            gin = Var();
            continue;
          }
          const Shape& want = n->inputs[i].shape();
          if (gin.shape() != want) {
            throw std::logic_error(std::string("grad: backward of '") + op.name + "' returned shape " +
                                   gin.shape().str() + " for an input of shape " + want.str());
          }
          accumulate(records_[ins[i]].grad, std::move(gin), create_graph_);  // leaves gin undefined
        }
      }
      if (!rec.target) rec.grad = Var();
    }
  }

  // The gradient accumulated for target i, or zeros of its shape if none reached it.
  Var gradient(size_t i) const {
    const Record& rec = records_[targets_[i]];
    return rec.grad.defined() ? rec.grad : constant(Tensor(rec.var->shape()));
  }

  // The calling thread's spare tasks: a Lease takes one (or makes one) and gives it back cleared.
  class Lease {
   public:
    explicit Lease(bool create_graph) {
      if (spare_.empty()) {
        task_ = std::make_unique<GradTask>();
      } else {
        task_ = std::move(spare_.back());
        spare_.pop_back();
      }
      task_->begin(create_graph);
    }
    ~Lease() {
      task_->end();
      // A task that grew for a very large graph is dropped rather than kept for the thread's lifetime.
      if (task_->records_.capacity() <= max_kept_records && task_->slots_.size() <= 2 * max_kept_records) {
        spare_.push_back(std::move(task_));
      }
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    GradTask* operator->() const { return task_.get(); }

   private:
    static constexpr size_t max_kept_records = size_t(1) << 16;  // a few MB of vectors per thread at most
    static thread_local std::vector<std::unique_ptr<GradTask>> spare_;
    std::unique_ptr<GradTask> task_;
  };

 private:
  struct Record {
    explicit Record(const Var* v) : var(v) {}
    const Var* var;            // the node
    Var grad;                  // gradient accumulated so far
    uint32_t first_input = 0;  // input i's record is input_records_[first_input + i] (or unneeded)
    bool target = false;       // one of the call's xs
    bool expanded = false;     // inputs linked by the search
    bool needed = false;       // leads to a target
    bool in_table = false;     // found through slots_ (see new_record for those that are not)
  };
  struct Frame {
    uint32_t record;
    uint32_t first_input;  // as in its Record
    uint32_t size;         // number of inputs
    uint32_t next;         // next input to search below
  };
  // Open-addressing table node → record. A slot is in use by this call iff its stamp is the call's,
  // so starting a call clears the table without touching it.
  struct Slot {
    const Node* key = nullptr;
    uint32_t record = 0;
    uint32_t stamp = 0;
  };

  void begin(bool create_graph) {
    create_graph_ = create_graph;
    if (slots_.empty()) resize_table(64);
    if (++stamp_ == 0) {  // wrapped: old stamps would read as in use
      std::fill(slots_.begin(), slots_.end(), Slot{});
      stamp_ = 1;
    }
  }
  void end() {
    records_.clear();
    in_table_ = 0;
    targets_.clear();
    input_records_.clear();
    order_.clear();
    stack_.clear();
    grad_in_.clear();
  }

  size_t home_slot(const Node* key) const {  // Fibonacci hashing of the address
    return static_cast<size_t>((reinterpret_cast<uintptr_t>(key) * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  // The record of v's node, made (not yet expanded) if the node has none in this call. Inlined: it runs
  // once per edge of the graph, and the call itself cost a third of it.
  [[gnu::always_inline]] uint32_t record_of(const Var& v) {
    const Node* key = v.node();
    const size_t mask = slots_.size() - 1;
    size_t h = home_slot(key);
    for (; slots_[h].stamp == stamp_; h = (h + 1) & mask) {
      if (slots_[h].key == key) return slots_[h].record;
    }
    if (2 * (in_table_ + 1) > slots_.size()) [[unlikely]] {  // keep the load ≤ 1/2
      resize_table(2 * slots_.size());
      h = home_slot(key);
      while (slots_[h].stamp == stamp_) h = (h + 1) & (slots_.size() - 1);
    }
    const uint32_t r = new_record(v);
    slots_[h] = Slot{key, r, stamp_};
    records_[r].in_table = true;
    ++in_table_;
    return r;
  }

  // The record of an input that the edge being followed owns alone (use count 1): nothing else holds
  // the node — no other input list, no x, no y — so no other path of this call can reach it, and it
  // needs no table entry (most nodes of an unrolled loop are held only by the node that consumes them).
  uint32_t new_record(const Var& v) {
    records_.emplace_back(&v);
    return static_cast<uint32_t>(records_.size() - 1);
  }

  [[gnu::noinline]] void resize_table(size_t n) {  // n a power of two; re-inserts this call's entries
    slots_.assign(n, Slot{});
    shift_ = 64 - std::countr_zero(n);
    if (stamp_ == 0) return;
    for (uint32_t r = 0; r < records_.size(); ++r) {
      if (!records_[r].in_table) continue;
      const Node* key = records_[r].var->node();
      size_t h = home_slot(key);
      while (slots_[h].stamp == stamp_) h = (h + 1) & (n - 1);
      slots_[h] = Slot{key, r, stamp_};
    }
  }

  // Links each input of record r that requires grad to its record (made if new), and pushes the frame
  // that searches below those inputs.
  [[gnu::always_inline]] void expand(uint32_t r) {
    const auto first = static_cast<uint32_t>(input_records_.size());
    const std::vector<Var>& inputs = records_[r].var->node()->inputs;
    for (const Var& in : inputs) {
      input_records_.push_back(!in.requires_grad()            ? unneeded
                               : in.ptr().use_count() == 1 ? new_record(in)
                                                           : record_of(in));
    }
    Record& rec = records_[r];  // after record_of, which may move the records
    rec.expanded = true;
    rec.needed = rec.target;
    rec.first_input = first;
    stack_.push_back(Frame{r, first, static_cast<uint32_t>(inputs.size()), 0});
  }

  bool create_graph_ = false;
  std::vector<Record> records_;
  std::vector<uint32_t> targets_;  // record of each x, in the order of xs
  std::vector<uint32_t> input_records_;
  std::vector<uint32_t> order_;  // records in post-order (inputs before the nodes that use them)
  std::vector<Frame> stack_;
  std::vector<Var> grad_in_;  // the backward rule's output (InputGrads), undefined between rules
  std::vector<Slot> slots_;
  size_t in_table_ = 0;  // slots in use by this call
  int shift_ = 64;
  uint32_t stamp_ = 0;
};

thread_local std::vector<std::unique_ptr<GradTask>> GradTask::Lease::spare_;

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
  for (const auto& x : xs) {
    if (!x.defined()) throw internal_error("grad: undefined input variable");
  }
  GradTask::Lease task(create_graph);
  for (const auto& x : xs) task->add_target(x);
  for (const auto& y : ys) {
    if (y.requires_grad()) task->search(y);
  }
  {
    GradModeGuard mode(create_graph);
    for (size_t k = 0; k < ys.size(); ++k) task->seed(ys[k], grad_outputs[k]);
    task->sweep();
  }
  std::vector<Var> result(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) result[i] = task->gradient(i);
  return result;
}

}  // namespace bilevel::ad
