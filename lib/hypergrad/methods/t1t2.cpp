// Method `t1t2`: the one-step look-ahead (T1–T2), the reverse algorithm (hypergrad/reverse.hpp) through the
// last inner step only. Its only second-order term is B_{r−1}ᵀv, so it needs λ inside L_T.
#include "hypergrad/implicit.hpp"
#include "hypergrad/reverse.hpp"

namespace bilevel {

MethodInfo t1t2_method_info() {
  return {.name = "t1t2",
          .description = "one-step look-ahead (T1–T2): differentiate through the last inner step only",
          .refusal = [](const Problem& p) { return implicit_refusal(p, "t1t2"); },
          .make = [](const Options&, const Problem&) { return make_reverse_estimator(1, Trajectory::graphs); },
          .memory = [](const Options&, const MemorySizes& z) { return reverse_memory(1, Trajectory::graphs, z); }};
}

}  // namespace bilevel
