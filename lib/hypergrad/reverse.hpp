#pragma once
// Reverse mode through the inner loop, shared by the methods fo, exact, tbptt, t1t2 and ufo: they are one
// algorithm that differentiates the last k of the r inner steps exactly and treats the earlier ones
// first-order (second derivatives dropped). k = 0 is FOM (FO-BLO, FOMAML), k = 1 the T1–T2 look-ahead,
// k = r the exact hypergradient of the r-step objective. Notation as in hypergrad/unroll.hpp.
#include <memory>

#include "hypergrad/estimator.hpp"

namespace bilevel {

// What the forward pass of hypergrad_reverse keeps for its adjoint pass. All three give the same bits.
enum class Trajectory {
  graphs,     // each step's gradient graph: no recomputation; memory ∝ the step's activations × k
  states,     // θ_j only: each adjoint step re-runs step j's forward and backward; memory ∝ P × k
  recompute,  // nothing: θ_j rebuilt from θ₀ for each adjoint step (O(1) memory, O(r²) gradients)
};

// The hypergradient with the last k (0 ≤ k ≤ r) steps differentiated; the trajectory kept as `store` says.
// Sets *outer_loss to L_V(θ_r), and *fo_grad (when given) to the k = 0 estimate of the same forward pass.
// clip > 0: after each adjoint step every element of α·v is clipped to [−clip, clip] (the UFOM code's
// clip_grads; the starting v = ∇_θL_V is not clipped), so the result is exact only where nothing was clipped.
Tensor hypergrad_reverse(const Problem& p, const Tensor& lambda, const Task& task, int64_t k, Trajectory store,
                         HypergradResult& cost, double* outer_loss, Tensor* fo_grad = nullptr, real clip = 0);

// The estimator that returns hypergrad_reverse with truncation k (k < 0: all r steps).
std::unique_ptr<Estimator> make_reverse_estimator(int64_t k, Trajectory store, real clip = 0);

// Memory model of hypergrad_reverse with truncation k (k < 0: all r steps; hypergrad/memory_model.hpp): the
// unroll's O(P + H) plus, for k > 0, the kept trajectory (k·L graphs or k·P·s states, nothing when recomputing)
// and one product's peak L+; k = 0 holds one gradient's G instead.
MemoryModel reverse_memory(int64_t k, Trajectory store, const MemorySizes& sizes);

// The options `recompute` and `store` of the methods that keep a trajectory, and the Trajectory they select.
OptionSpec recompute_option(const std::string& help);
OptionSpec store_option();
Trajectory trajectory_option(const Options& o);
// The option `clip` (0 = off) of the methods with an exact backward pass.
OptionSpec clip_option();

}  // namespace bilevel
