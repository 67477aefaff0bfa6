// The --problem table. Each problem's row (name, description, options, factory, run defaults) is defined in its
// own file, lib/problems/<name>.cpp, as `ProblemInfo <name>_problem_info()`; this list declares and orders them.
// Adding a problem = its file + one X(...) line here.
#include "base/names.hpp"
#include "problems/problem.hpp"

// X(name) declares `ProblemInfo name_problem_info()` and puts its row in the table; listing order = `list` order.
#define BILEVEL_PROBLEMS(X) \
  X(quadratic)              \
  X(ufo_counterexample)     \
  X(ufo_qcurve)             \
  X(sinusoid)               \
  X(hpo_l2)                 \
  X(hyper_cleaning)         \
  X(gaussian_sgld)          \
  X(toy_multimin)           \
  X(fewshot)                \
  X(loss_learning)          \
  X(invariance_learning)    \
  X(inr)                    \
  /* end of the list: a new problem is one more X(name) line above */

namespace bilevel {

#define BILEVEL_DECLARE_PROBLEM(name) ProblemInfo name##_problem_info();
BILEVEL_PROBLEMS(BILEVEL_DECLARE_PROBLEM)
#undef BILEVEL_DECLARE_PROBLEM

const std::vector<ProblemInfo>& problem_registry() {
#define BILEVEL_PROBLEM_ROW(name) name##_problem_info(),
  static const std::vector<ProblemInfo> registry = {BILEVEL_PROBLEMS(BILEVEL_PROBLEM_ROW)};
#undef BILEVEL_PROBLEM_ROW
  return registry;
}

const ProblemInfo& find_problem(const std::string& name) { return find_by_name(problem_registry(), name, "problem"); }

}  // namespace bilevel
