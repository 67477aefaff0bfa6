#pragma once
// `bilevel-opt check`: every requested estimator on one seeded problem instance, against the exact
// hypergradient (and closed forms where the problem has them). The JSON it writes holds the instance
// (λ, θ₀, the task's data, inner lr and steps, the model layout) so anyone can rebuild it elsewhere.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bilevel {

struct CheckParams {
  std::string problem;
  std::vector<std::string> methods;  // empty: every method that applies
  std::vector<std::string> sets;     // key=value (problem and method options)
  int64_t samples = 100;
  uint64_t seed = 0;
  std::string out_file;
};

nlohmann::json run_check(const CheckParams& params);

}  // namespace bilevel
