#pragma once
// Method `sgld` (hypergrad/methods/sgld.cpp; one chain in hypergrad/sgld_chain.cpp): hypergradients of the
// stochastic bilevel objective of HPO-SGLD (Kim & Hospedales, AAAI 2025; reference/hpo-sgld.md):
//
//   F(λ) = E_{p(θ|λ)}[L_V(θ, λ)],    p(θ | λ) ∝ exp(−N·L_T(θ, λ)/τ),
//
// estimated from C SGLD chains (optim/sgld.hpp has the step convention and the sample schedule). Every
// variant returns the mean over the kept samples θ_k of ∇_λL_V(θ_k) + (its approximation of J_kᵀv_k),
// J_k = dθ_k/dλ, v_k = ∇_θL_V(θ_k); `cov` has its own form. With M_j = ∇²_θλ L̂_T(θ_j) and
// H_j = ∇²_θθ L̂_T(θ_j) on the step's minibatch, and k the steps since the last reset of J:
//
//   pathwise      J_{j+1} = (I − ηH_j)J_j − ηM_j exactly (dense P×H J, H HVPs per step). Its long-run
//                 mean is dF_η/dλ, the derivative of the fixed-η chain's objective, not F'(λ).
//   cov           ∇F = E[∇_λL_V] − (N/τ)·Cov(L_V, ∇_λL_T), pooled over all samples with running sums
//                 (no second derivatives). Exact for p(θ|λ) itself, so F'(λ) on exact samples.
//   drop-hessian  (A) J_k ≈ J_0 − η Σ_{j<k} M_j, accumulated in a P-vector: needs a diagonal M (P = H)
//                 or H = 1.
//   one-step      (B) J_k ≈ J_0 − η M_{k−1}: one mixed product per sample, at the previous state.
//   two-pass      (C) the drop-hessian sum for any M in O(P + H): Σ_k J_kᵀv_k = J_0ᵀW − η Σ_j M_jᵀ w_j
//                 with w_j the sum of v_k over the samples after step j in its window, by running each
//                 window twice with the same random streams (W from the first run, w_j = W − prefix).
//   frozen        (D) J_k ≈ J_0 − ηk M_k: one mixed product per sample, at the current state.
//
// J_0 = dθ₀/dλ for a chain that starts from θ₀(λ, task) (first window only), and 0 for a warm persistent
// chain and after every reset.
//
// Randomness: chain c of an estimate draws from rng.split(c), where rng is the task stream (seed,
// outer step, task): noise from split(0) of that, the minibatch of step t from split(1).split(t), the
// over-dispersed start from split(3), exact Gibbs draws from split(2) (SgldChainStream). So every chain is a
// pure function of (seed, outer step, task, chain), chains run in parallel (oneTBB) and reduce in chain
// order, and results do not depend on the number of threads.
#include <vector>

#include "hypergrad/estimator.hpp"
#include "optim/sgld.hpp"
#include "problems/sgld_closed_form.hpp"

namespace bilevel {

// Resolved settings of one sgld estimator.
struct SgldConfig {
  SgldVariant variant = SgldVariant::pathwise;
  double tau = 1.0;     // temperature τ ≥ 0
  double data_n = 1.0;  // data scaling N > 0
  double eta = 0.1;     // step η > 0
  SgldSchedule schedule;
  int64_t chains = 4;          // C
  bool persistent = false;     // warm-start each chain from its state at the end of the previous outer step
  int64_t minibatch = 0;       // examples per step (0: the full inner loss)
  bool exact_sampler = false;  // i.i.d. draws from p(θ|λ) (problems with SgldClosedForm; cov only)
  double init_spread = 0.0;    // chains start at θ₀ + init_spread·ξ_c (over-dispersed starts)
};

// Child streams of one chain's Rng.
enum SgldChainStream : uint64_t { stream_noise = 0, stream_batch = 1, stream_exact = 2, stream_spread = 3 };

// What one chain hands back: sums over its kept samples, its last state and its costs.
struct SgldChainOut {
  std::vector<double> g;    // Σ_k per-sample hypergradient (H); cov: Σ_k ∇_λL_V
  std::vector<double> gt;   // cov: Σ_k ∇_λL_T
  std::vector<double> lgt;  // cov: Σ_k L_V·∇_λL_T
  double loss = 0.0;        // Σ_k L_V
  int64_t count = 0;
  Tensor theta_end;
  int64_t grad_evals = 0, hvps = 0, peak_bytes = 0;
};

// One chain of the estimate from `start` (P,), with the streams of `chain_rng`. j0_active: the chain starts
// from θ₀(λ, task) and θ₀ depends on λ, so samples in its first window carry J_0 = dθ₀/dλ.
SgldChainOut sgld_chain_run(const SgldConfig& cfg, const Problem& p, const Tensor& lambda, const Task& task,
                            const Rng& chain_rng, bool j0_active, Tensor start);
// variant=cov on `samples` exact Gibbs draws from the closed form instead of a chain.
SgldChainOut sgld_chain_exact(const SgldConfig& cfg, const Problem& p, const Tensor& lambda, const Task& task,
                              const Rng& chain_rng, const SgldClosedForm& closed_form);

}  // namespace bilevel
