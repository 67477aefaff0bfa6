#pragma once
// Factories of the built-in estimators (registered by name in hypergrad/registry.cpp).
#include <memory>

#include "hypergrad/estimator.hpp"
#include "hypergrad/unroll.hpp"

namespace bilevel {

// How a reverse-mode estimator keeps its trajectory, from its `recompute` and `store` options.
Trajectory trajectory_option(const Options& o);
std::unique_ptr<Estimator> make_reverse_estimator(int64_t k, Trajectory store);  // k < 0: all r steps
std::unique_ptr<Estimator> make_reptile_estimator();
std::unique_ptr<Estimator> make_ufo_estimator(const Options& o, const Problem& p);
std::unique_ptr<Estimator> make_fmd_estimator(const Problem& p, int64_t max_entries);
enum class IftSolver { cg, neumann };
std::unique_ptr<Estimator> make_ift_estimator(IftSolver solver, int64_t iters, double tol, double alpha);

}  // namespace bilevel
