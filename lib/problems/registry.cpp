#include <sstream>

#include "problems/problem.hpp"
#include "problems/problems.hpp"

namespace bilevel {

const std::vector<ProblemInfo>& problem_registry() {
  static const std::vector<ProblemInfo> registry = {
      quadratic_problem_info(),
      ufo_counterexample_problem_info(),
      ufo_qcurve_problem_info(),
      sinusoid_problem_info(),
      hpo_l2_problem_info(),
      hyper_cleaning_problem_info(),
      gaussian_sgld_problem_info(),
      toy_multimin_problem_info(),
  };
  return registry;
}

const ProblemInfo& find_problem(const std::string& name) {
  for (const auto& p : problem_registry())
    if (p.name == name) return p;
  std::ostringstream s;
  s << "unknown problem '" << name << "'; valid problems: ";
  bool first = true;
  for (const auto& p : problem_registry()) {
    s << (first ? "" : ", ") << p.name;
    first = false;
  }
  throw option_error(s.str());
}

}  // namespace bilevel
