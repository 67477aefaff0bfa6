// Method `fo`: FOM / FO-BLO / FOMAML, the reverse algorithm (hypergrad/reverse.hpp) with k = 0: ∇L_V at θ_r
// pulled back through θ₀ only, the inner loop's second derivatives dropped. O(1) memory.
#include "hypergrad/reverse.hpp"

namespace bilevel {

MethodInfo fo_method_info() {
  return {.name = "fo",
          .description = "FOM / FO-BLO / FOMAML: ∇L_V at θ_r with second derivatives dropped (O(1) memory)",
          .make = [](const Options&, const Problem&) { return make_reverse_estimator(0, Trajectory::graphs); },
          .memory = [](const Options&, const MemorySizes& z) { return reverse_memory(0, Trajectory::graphs, z); }};
}

}  // namespace bilevel
