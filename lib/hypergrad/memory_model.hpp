#pragma once
// Memory models of the estimators: how many bytes one estimate holds at its peak, as a formula in the sizes
// of the problem, so that a run whose estimator cannot fit is refused before it starts (instead of swapping
// or being killed by the kernel half-way), and so that measured peaks can be read against what was expected.
//
// Sizes (MemorySizes), with s = sizeof(real):
//   P, H   dimensions of θ and λ;   r  inner steps;   C  SGLD chains;   T  estimates or chains run at once
//   G      peak bytes of one first-order gradient of L_T (its graph and activations while it runs)
//   n, m   the inner and outer examples (Problem::inner_examples, outer_examples; 0 when not sums): SABA's
//          SAGA memories grow with them
//   F      peak bytes of one outer gradient (∇L_V, on an outer minibatch when the method takes them)
//   L      bytes a linearization keeps alive (the gradient of L_T with create_graph: what a stored
//          trajectory holds per step), and L+ its peak while one second-order product is taken on it
// G, L and L+ are measured once per problem by probe_memory_sizes (one gradient and one linearization with
// one product at θ₀, λ₀), so a model covers every problem and model size without per-problem formulas.
// What each estimator keeps, and so how it grows:
//   fo, ufo/exact/tbptt with recompute, t1t2, ift-*, sgld first-order variants   O(P + H) (+ one graph)
//   exact/tbptt/ufo storing graphs or states                                   O(k·L) or O(k·P)
//   fmd, sgld variant=pathwise                                                   O(P·H): a dense Jacobian
// Each method's row (MethodInfo::memory) gives its formula; methods without one are not checked.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "base/options.hpp"
#include "problems/problem.hpp"

namespace bilevel {

struct MethodInfo;

struct MemorySizes {
  int64_t P = 0, H = 0, r = 0;
  int64_t n = 0, m = 0;              // inner and outer examples
  bool lambda_in_outer = false;      // λ in L_V: SABA's outer memories then hold ∇_λf too
  int64_t real_bytes = static_cast<int64_t>(sizeof(real));
  int64_t grad_bytes = 0;      // G
  int64_t outer_grad_bytes = 0;  // F
  int64_t lin_bytes = 0;       // L
  int64_t lin_peak_bytes = 0;  // L+
  int64_t threads = 1;         // threads of the run: chains of one estimate run this many at once
  int64_t tasks = 1;           // estimates at once: min(meta_batch, threads)
};

// A predicted peak and how it was computed.
struct MemoryModel {
  double bytes = 0;     // predicted peak bytes of one estimate
  std::string formula;  // the formula in the sizes' letters, e.g. "r·L + L+ + 4·P·s"
  std::string advice;   // what would need less memory (another option or method), for the refusal
};

// Measures G, and with second_order L and L+ (else left 0), for `problem`: one gradient, one linearization and one
// Hessian-vector product at θ₀ of a task drawn from a fixed probe stream, so the run's own random streams are
// untouched; threads and tasks are copied (tasks = min(meta_batch, threads)). batch > 0 (≤ n): the gradient and
// the linearization are those of the minibatch loss on the first `batch` examples, what a minibatch oracle of
// the stochastic solvers holds (their option batch_size; check_method_memory passes it).
// outer_batch > 0 (≤ m): F on the outer minibatch of the first `outer_batch` examples, else on the full L_V.
MemorySizes probe_memory_sizes(const Problem& problem, int64_t threads, int64_t meta_batch, bool second_order = true,
                               int64_t batch = 0, int64_t outer_batch = 0);

// The whole model of a run with `method`: its row's per-estimate model times the estimates that run at once,
// plus the run loop's 4·H·s (λ, Adam's two moments, the meta-batch mean). An empty formula: the method has no
// model (MethodInfo::memory is null).
MemoryModel method_memory(const MethodInfo& method, const Options& opts, const MemorySizes& sizes);

// The part every unrolling estimator shares: the unroll's θ, the next θ and a gradient (3·P·s), the outer
// gradient's λ-part and the result (2·H·s). Returned as bytes; its formula text is "3·P·s + 2·H·s".
double unroll_base_bytes(const MemorySizes& z);

// The refusal of a run that needs `needed_bytes` (the model, plus what the process already holds when the limit
// counts it) above `limit_bytes`: one line naming the method, the model's formula with its sizes, the limit and
// its source (`limit_source`, e.g. "max_memory = 2 GiB") and the model's advice. "" when it fits or when the
// model is empty.
std::string memory_refusal(const std::string& method, const MemoryModel& model, const MemorySizes& sizes,
                           double needed_bytes, double limit_bytes, const std::string& limit_source);

// The check `train` makes before a run starts: probes the sizes (L and L+ only when the model depends on them,
// so that the probe does not hold more than the run would), evaluates the method's model and throws
// option_error (exit 2, nothing written) with memory_refusal's message when it does not fit. limit_gib < 0:
// the limit is the available memory (MemAvailable), compared with the model alone; limit_gib > 0: a limit on
// the whole process, compared with the model plus what the process holds now (data, problem); 0: no check
// (nothing probed). Returns what result.json records under "memory_model" (null when nothing was checked): the
// model's bytes and formula, the sizes, and the limit (bytes, or "available").
nlohmann::json check_method_memory(const MethodInfo& method, const Options& method_opts, const Problem& problem,
                                   int64_t threads, int64_t meta_batch, double limit_gib);

// Bytes as text: "512 B", "3.2 MiB", "1.50 GiB".
std::string bytes_text(double bytes);

}  // namespace bilevel
