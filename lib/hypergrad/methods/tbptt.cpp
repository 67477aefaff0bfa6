// Method `tbptt`: the reverse algorithm (hypergrad/reverse.hpp) through the last k inner steps, the earlier
// ones first-order (k = 0 is fo, k = r is exact).
#include <algorithm>

#include "hypergrad/reverse.hpp"

namespace bilevel {

MethodInfo tbptt_method_info() {
  return {.name = "tbptt",
          .description = "truncated reverse mode: the last k steps exactly, earlier steps first-order",
          .options = {opt_int("k", 5, "number of inner steps to differentiate through", 0),
                      recompute_option("rebuild each θ_j from θ₀ instead of storing it"), store_option()},
          .make = [](const Options& o, const Problem& p) {
            const int64_t k = o.get_int("k");
            if (k > p.inner().steps) {
              throw option_error("option 'k': truncation " + std::to_string(k) + " exceeds inner_steps = " +
                                 std::to_string(p.inner().steps) + " (use k ≤ inner_steps; k = inner_steps is exact)");
            }
            return make_reverse_estimator(k, trajectory_option(o));
          },
          .memory = [](const Options& o, const MemorySizes& z) {
            return reverse_memory(std::min(o.get_int("k"), z.r), trajectory_option(o), z);
          }};
}

}  // namespace bilevel
