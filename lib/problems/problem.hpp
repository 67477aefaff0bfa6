#pragma once
// A bilevel problem: inner loss L_T(θ, λ) minimised by r steps of gradient descent from θ₀(λ, task),
// outer loss L_V(θ, λ) evaluated at the result. θ and λ are flat vectors (P,) and (H,).
//
// Contract for implementations:
//  - sample_task draws everything a task needs from `rng` only (so tasks are a pure function of the
//    stream), including a random inner initialisation when θ₀ does not depend on λ.
//  - inner_loss / outer_loss / theta0 build differentiable graphs in θ and λ with lib/autodiff ops and
//    are const and thread-safe (called concurrently for different tasks).
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/ops.hpp"
#include "base/options.hpp"
#include "tensor/rng.hpp"

namespace bilevel {

// Named scalar metrics in a fixed order (curve rows, result files).
using Metrics = std::vector<std::pair<std::string, double>>;

struct Task {
  std::vector<Tensor> x;                     // inputs, e.g. {support_x, query_x}
  std::vector<Tensor> y;                     // real targets, e.g. {support_y, query_y}
  std::vector<std::vector<int64_t>> labels;  // class labels where needed
  Tensor theta_init;                         // θ₀ when it does not depend on λ (else empty)
  int64_t id = 0;                            // discrete task index (toy problems)
};

struct InnerConfig {
  int64_t steps = 1;  // r
  real lr = real(0.1);  // α
};

class Problem {
 public:
  virtual ~Problem() = default;
  virtual std::string name() const = 0;
  virtual int64_t theta_dim() const = 0;
  virtual int64_t lambda_dim() const = 0;
  virtual InnerConfig inner() const = 0;

  virtual Tensor init_lambda(Rng& rng) const = 0;
  virtual Task sample_task(Rng& rng) const = 0;

  // θ₀(λ, task). Meta-initialization problems return λ itself; others a constant from the task.
  virtual ad::Var theta0(const ad::Var& lambda, const Task& task) const = 0;
  virtual ad::Var inner_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const = 0;
  virtual ad::Var outer_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const = 0;

  // Structure the estimators need to know.
  // θ₀(λ) = λ exactly (meta-initialization): reptile applies, and the estimators take λ itself for θ₀.
  virtual bool theta0_is_lambda() const { return false; }
  virtual bool lambda_in_inner_loss() const { return true; }   // implicit differentiation applies
  virtual bool lambda_in_outer_loss() const { return false; }  // a direct ∇_λ L_V term exists

  // Structure SGLD samplers (method `sgld`) can use; the defaults describe a problem with no data
  // scaling and no special structure.
  // Number of training examples n when L_T is a mean over them, L_T = (1/n) Σ_i ℓ_i(θ, λ) + R(θ, λ);
  // 0 when it is not (then there are no minibatches, and the Gibbs law's data scaling N defaults to 1).
  virtual int64_t inner_examples() const { return 0; }
  // L̂_T on the examples `batch` (indices in [0, inner_examples()), distinct): (1/|batch|) Σ_{i∈batch} ℓ_i + R,
  // an unbiased estimate of inner_loss. Only called when inner_examples() > 0.
  virtual ad::Var inner_loss_batch(const ad::Var& theta, const ad::Var& lambda, const Task& task,
                                   const std::vector<int64_t>& batch) const {
    (void)theta, (void)lambda, (void)task, (void)batch;
    throw internal_error(name() + ": inner_loss_batch is not implemented (inner_examples() is 0)");
  }
  // Outer minibatches, as the inner ones: the number of validation examples m when L_V is a sum or a mean over
  // them (plus terms without examples); 0 when it is not (then the outer loss is always taken whole).
  virtual int64_t outer_examples() const { return 0; }
  // L̂_V on the examples `batch` (indices in [0, outer_examples()), distinct): the outer loss with its per-example
  // sum or mean estimated from the batch, (m/|batch|) Σ_{k∈batch} ℓ_k for a sum, (1/|batch|) Σ ℓ_k for a mean, so
  // that it is an unbiased estimate of outer_loss under a uniform batch. Only called when outer_examples() > 0.
  virtual ad::Var outer_loss_batch(const ad::Var& theta, const ad::Var& lambda, const Task& task,
                                   const std::vector<int64_t>& batch) const {
    (void)theta, (void)lambda, (void)task, (void)batch;
    throw internal_error(name() + ": outer_loss_batch is not implemented (outer_examples() is 0)");
  }
  // True when the mixed partial ∇²_θλ L_T is diagonal (P = H): per-weight L2 (∂²/∂θ_i∂λ_j = δ_ij·r'(λ_i)θ_i),
  // or a scalar times the identity (iMAML's proximal term (γ/2)‖θ − λ‖² gives −γI). Lets first-order SGLD
  // variants keep dθ/dλ as a P-vector.
  virtual bool mixed_partial_diagonal() const { return false; }

  // Test metrics of λ (e.g. post-adaptation MSE on fixed evaluation tasks). Deterministic.
  virtual Metrics evaluate(const Tensor& lambda) const = 0;
  // Extra per-row diagnostics where a closed form exists (exact hypergradient norm, distance of θ to
  // the inner solution, |M'(θ)| …). Cheap enough to log every row.
  virtual Metrics diagnostics(const Tensor& lambda) const {
    (void)lambda;
    return {};
  }

  // Closed forms for tests and `check`, where they exist: the hypergradient of the r-step unrolled
  // objective for this task, and the implicit-function-theorem hypergradient at θ*(λ).
  virtual std::optional<Tensor> closed_form_unrolled(const Tensor& lambda, const Task& task) const {
    (void)lambda, (void)task;
    return std::nullopt;
  }
  virtual std::optional<Tensor> closed_form_ift(const Tensor& lambda, const Task& task) const {
    (void)lambda, (void)task;
    return std::nullopt;
  }

  // Everything needed to rebuild the instance elsewhere (model layout, fixed matrices, …).
  virtual nlohmann::json describe() const { return nlohmann::json::object(); }

  // λ's layout, for people and other frameworks loading lambda.npy: [{"name", "offset", "shape"}, …], blocks in
  // order covering λ. Default: one block "lambda" of shape (H,).
  virtual nlohmann::json lambda_layout() const {
    nlohmann::json block = {{"name", "lambda"}, {"offset", 0}, {"shape", nlohmann::json::array({lambda_dim()})}};
    return nlohmann::json::array({block});
  }
};

// One row of the --problem table. Each problem defines its row in its own file (lib/problems/<name>.cpp) and
// problems/registry.cpp lists the rows, one line each.
struct ProblemInfo {
  std::string name;
  std::string description;
  std::vector<OptionSpec> options = {};
  // Builds the problem from resolved options; `seed` fixes any random instance data (matrices,
  // evaluation tasks).
  std::unique_ptr<Problem> (*make)(const Options& opts, uint64_t seed);
  // Defaults of run-loop options that suit this problem (e.g. {"outer_lr", "10"}, {"schedule", "inv"});
  // the user's --set still wins.
  std::vector<std::pair<std::string, std::string>> run_defaults = {};
  // The metrics it logs: evaluate()'s names, then diagnostics()'s, in order (`list problems`; a test checks
  // them against a built instance).
  std::vector<std::string> metrics = {};
};

// All problems, in listing order (problems/registry.cpp).
const std::vector<ProblemInfo>& problem_registry();
// Throws option_error naming the unknown name, a likely intended one and the valid ones.
const ProblemInfo& find_problem(const std::string& name);

}  // namespace bilevel
