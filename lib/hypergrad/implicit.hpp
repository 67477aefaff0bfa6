#pragma once
// Implicit differentiation at θ_r ≈ θ*(λ), shared by the methods ift-cg and ift-neumann. With
// H = ∇²_θθ L_T(θ_r, λ) and B = ∂_λ∇_θL_T(θ_r, λ), the implicit function theorem gives dθ*/dλ = −H⁻¹B, so
//   hypergradient = ∇_λL_V − Bᵀx,   H x = ∇_θL_V,
// with x from a linear solver (optim/linear_solvers.hpp) that sees H only through Hessian-vector products.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hypergrad/estimator.hpp"
#include "optim/linear_solvers.hpp"

namespace bilevel {

// Solves H x = b given the product v ↦ H v; the solution's matvecs are counted as HVPs.
using LinearSolve = std::function<LinearSolution(const MatVec& hvp, const Tensor& b)>;

// The estimate: r inner steps, ∇L_V at θ_r, x by `solve`, then the mixed product Bᵀx. Costs r + 2 gradients
// and matvecs + 1 HVPs. `residual_key`, when not empty, logs the solver's residual under that name.
HypergradResult hypergrad_implicit(const Problem& p, const Tensor& lambda, const Task& task, const LinearSolve& solve,
                                   const std::string& residual_key);
// The correction Bᵀx at θ, with H x = rhs solved by `solve`; H and B of the inner loss on the examples `batch`
// (null: the full inner loss). Counts the linearization as a gradient, the solver's matvecs and the mixed product
// as HVPs (no cost: callers on minibatches weigh them). Sets *solution (x, matvecs, residual) when given.
Tensor implicit_correction(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task,
                           const Tensor& rhs, const LinearSolve& solve, const std::vector<int64_t>* batch,
                           HypergradResult& res, LinearSolution* solution = nullptr);

// The estimator that returns hypergrad_implicit with this solver.
std::unique_ptr<Estimator> make_implicit_estimator(LinearSolve solve, std::string residual_key);

// The refusal of methods whose correction is the mixed product Bᵀx (ift-cg, ift-neumann, t1t2): when λ enters
// only through θ₀, B = 0 and the implicit function theorem gives no gradient.
// Memory model of hypergrad_implicit (hypergrad/memory_model.hpp): θ_r and ∇L_V, the linearization at θ_r kept for
// every product (L+ at a product's peak) and the solver's vectors (CG keeps x, r, p and Ap; the Neumann series
// fewer): L+ + 7·P·s + 2·H·s.
MemoryModel implicit_memory(const MemorySizes& sizes);

std::string implicit_refusal(const Problem& p, const std::string& method);

}  // namespace bilevel
