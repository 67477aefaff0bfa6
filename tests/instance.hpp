#pragma once
// One seeded problem instance for the estimator tests: resolved problem options, λ from init_lambda and one
// sampled task, each from its own stream of `seed`.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>

#include "problems/problem.hpp"
#include "base/options.hpp"

namespace bilevel::testing {

using Sets = std::map<std::string, std::string>;

struct Instance {
  std::unique_ptr<Problem> problem;
  Tensor lambda;
  Task task;
  Options popts;
};

// `sets` are problem options; every one must be known to the problem.
inline Instance make_instance(const std::string& name, Sets sets = {}, uint64_t seed = 7) {
  const ProblemInfo& info = find_problem(name);
  Instance in;
  in.popts = Options::resolve(name, info.options, sets);
  REQUIRE(sets.empty());
  in.problem = info.make(in.popts, 0);
  Rng r0(seed, {1});
  in.lambda = in.problem->init_lambda(r0);
  Rng r1(seed, {2});
  in.task = in.problem->sample_task(r1);
  return in;
}

}  // namespace bilevel::testing
