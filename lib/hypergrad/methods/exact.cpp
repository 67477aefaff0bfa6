// Method `exact`: the reverse algorithm (hypergrad/reverse.hpp) through all r inner steps, the exact
// hypergradient of the r-step objective; the trajectory stored (graphs or states) or recomputed.
#include "hypergrad/reverse.hpp"

namespace bilevel {

MethodInfo exact_method_info() {
  return {.name = "exact",
          .description = "reverse mode through the r inner steps (stored trajectory, or recompute=true for O(1) "
                         "memory, O(r²) time)",
          .options = {recompute_option("rebuild each θ_j from θ₀ instead of storing the trajectory"), store_option(),
                      clip_option()},
          .make = [](const Options& o, const Problem&) {
            return make_reverse_estimator(-1, trajectory_option(o), static_cast<real>(o.get_real("clip")));
          },
          .memory = [](const Options& o, const MemorySizes& z) { return reverse_memory(-1, trajectory_option(o), z); }};
}

}  // namespace bilevel
