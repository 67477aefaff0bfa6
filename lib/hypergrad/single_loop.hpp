#pragma once
// Mechanics shared by the stochastic bilevel solvers that keep running estimates across outer steps instead of
// re-solving the inner problem each step (methods stocbio, amigo, soba, saba, f2sa): minibatch oracles of the
// inner loss counted in sample-oracle units, and the warm state (θ, v, SAGA memories …) carried from one outer
// step to the next and saved in checkpoints.
//
// Notation: g = L_T (inner), f = L_V (outer), H = ∇²_θθ g, B = ∂_λ∇_θ g. The linear-system direction v
// approximates −H⁻¹∇_θ f, so the implicit hypergradient is ∇_λ f + Bᵀv.
//
// Oracle costs (HypergradResult::cost, full-batch units): a gradient or a second-order product of the inner loss
// on a minibatch of b of its n examples costs b/n, on the full inner loss 1; likewise an outer gradient on b' of
// the outer loss's m examples (option outer_batch_size, Problem::outer_loss_batch) costs b'/m, on the full outer
// loss 1. An HVP needs the gradient's graph at its point: when that gradient is not also used as an oracle value
// it is still counted as a gradient evaluation (the work was done).
#include <string>
#include <utility>
#include <vector>

#include "hypergrad/estimator.hpp"
#include "hypergrad/memory_model.hpp"
#include "hypergrad/unroll.hpp"

namespace bilevel {

// The options every single-loop solver takes: the minibatch size and the step size ρ of the inner iterates.
OptionSpec batch_size_option();
OptionSpec theta_lr_option();
// Resolved `batch_size`, checked against the problem: option_error when a minibatch is asked of a problem whose
// inner loss is not a mean over examples, or is larger than its n.
int64_t resolved_batch_size(const Options& o, const Problem& p, const std::string& method);
// Resolved `theta_lr`: the value, or the problem's α when it is 0.
double resolved_theta_lr(const Options& o, const Problem& p);
// The refusal of all single-loop solvers: they need λ in L_T (the mixed product B, or ∇_λ g for f2sa).
std::string single_loop_refusal(const Problem& p, const std::string& method);

// The option `outer_batch_size` (examples per outer minibatch oracle; 0: the full outer loss) and its resolved
// value, checked as batch_size is against the problem's outer_examples().
OptionSpec outer_batch_size_option();
int64_t resolved_outer_batch_size(const Options& o, const Problem& p, const std::string& method);

// A minibatch of the inner (or outer) loss: `size` distinct examples (empty = the full loss) and its cost weight
// b/n (b/m).
struct InnerBatch {
  std::vector<int64_t> idx;
  double weight = 1.0;
  const std::vector<int64_t>* ptr() const { return idx.empty() ? nullptr : &idx; }
};
// `size` = 0: the full inner loss (draws nothing). Else `size` distinct examples of the problem's n, from `rng`.
InnerBatch draw_inner_batch(const Problem& p, int64_t size, Rng& rng);
// The same for the outer loss: `size` distinct examples of the problem's m = outer_examples(), weight size/m.
InnerBatch draw_outer_batch(const Problem& p, int64_t size, Rng& rng);
// Block j of `size` consecutive examples of `count` (SABA's fixed blocks), weight |block|/count; `size` = 0: the
// full loss (j must be 0).
InnerBatch block_batch(int64_t count, int64_t size, int64_t j);

// The sample oracles. Each counts into `res` (grad_evals, hvps and cost; res.cost must start at 0).
// ∇_θ ĝ(θ, λ) on the batch. +1 grad_eval, cost += weight.
Tensor batch_inner_grad(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task,
                        const InnerBatch& batch, HypergradResult& res);
// ∇_θ ĝ and ∇_λ ĝ on the batch, from one backward. +1 grad_eval, cost += weight.
std::pair<Tensor, Tensor> batch_inner_grads(const Problem& p, const Tensor& theta, const Tensor& lambda,
                                            const Task& task, const InnerBatch& batch, HypergradResult& res);
// The second-order oracle at (θ, λ) on the batch: the gradient ∇_θ ĝ, and Ĥv, B̂ᵀv from one double backward.
// +1 grad_eval (the gradient's graph), +1 hvp, cost += 2·weight.
struct SecondOrder {
  Tensor grad;  // ∇_θ ĝ (P,)
  Tensor hv;    // Ĥ v (P,)
  Tensor bv;    // B̂ᵀ v (H,)
};
SecondOrder batch_second_order(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task,
                               const Tensor& v, const InnerBatch& batch, HypergradResult& res);
// ∇f at (θ, λ) on the outer batch (empty: the full outer loss). +1 grad_eval, cost += weight (1 when full).
OuterGrad counted_outer_grad(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task,
                             HypergradResult& res, const InnerBatch& batch = {});
// `steps` SGD steps θ ← θ − ρ∇_θ ĝ(θ, λ), a fresh batch each (batch t from rng.split(t)).
void inner_sgd(const Problem& p, Tensor& theta, const Tensor& lambda, const Task& task, int64_t steps, double lr,
               int64_t batch_size, const Rng& rng, HypergradResult& res);

// The joint step of SOBA and SABA from directions at (θ, v, λ): θ' = θ − ρ D_θ, v' = v − ρ_v (D_Hv + ∇_θ f), and
// the hypergradient D_λ = ∇_λ f + D_Bv (set in res.grad). Returns {θ', v'}.
std::vector<Tensor> joint_step(const Tensor& theta, const Tensor& v, const OuterGrad& og, const Tensor& d_theta,
                               const Tensor& d_hv, const Tensor& d_bv, double lr, double v_lr, HypergradResult& res);
// The option `v_lr` (step size on v; 0: the inner step size) and its resolved value.
OptionSpec v_lr_option();
double resolved_v_lr(const Options& o, double inner_lr);

// The memory model of a single-loop solver (MethodInfo::memory): its largest oracle's peak — L+ when it takes
// second-order products, else G, or the outer gradient's F if larger; probed on the method's minibatch sizes
// (check_method_memory) — plus the
// vectors it keeps, `p_vectors`·P·s + `h_vectors`·H·s (warm state, its carry, directions, the result), plus
// `extra_numbers`·s described by `extra_formula` (SABA's memories).
MemoryModel single_loop_memory(const MemorySizes& z, bool second_order, int p_vectors, int h_vectors,
                               double extra_numbers = 0, const std::string& extra_formula = "");

// The warm state of a single-loop solver: named tensors carried from one outer step to the next.
//
// estimate() is const and runs concurrently for the tasks of a meta-batch, so it reads the state and returns
// what it changed in HypergradResult::carry; end_step hands task 0's carry to absorb() (as persistent sgld
// chains do: with meta_batch > 1 every task starts from the same state and task 0's update is kept).
// Before the first step the state is empty and each solver starts from θ₀(λ, task), v = 0, zero memories.
// The memory it holds between steps counts in peak_bytes.
// save_state/load_state hand the tensors over by name, so `train --resume` continues bit for bit.
class SingleLoopEstimator : public Estimator {
 public:
  // `layout`: the state's tensors (name, shape) in carry order; the first `from_theta0` start at θ₀(λ, task),
  // the others at zeros.
  SingleLoopEstimator(std::string method, std::vector<std::pair<std::string, Shape>> layout, size_t from_theta0 = 1);

  HypergradResult estimate(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng) const final;
  void end_step(const std::vector<HypergradResult>& results) override;
  EstimatorState save_state() const final;
  void load_state(const EstimatorState& s) final;

 protected:
  // One outer step from `state` (the saved tensors, or the initial ones): sets res.grad and res.outer_loss,
  // counts its oracles into res and returns the carry that absorb() applies.
  virtual std::vector<Tensor> step(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng,
                                   const std::vector<Tensor>& state, HypergradResult& res) const = 0;
  // Applies a carry to the state (default: the carry is the new state). Before the first carry the state is
  // zeros of the layout's shapes (the tensors that started at θ₀ are replaced by the carry).
  virtual void absorb(std::vector<Tensor>& state, std::vector<Tensor>&& carry) const;
  const std::string& method() const { return method_; }

 private:
  std::string method_;
  std::vector<std::pair<std::string, Shape>> layout_;
  size_t from_theta0_;
  std::vector<Tensor> state_;  // empty before the first step
};

}  // namespace bilevel
