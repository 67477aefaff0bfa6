#pragma once
// Closed forms of SGLD chains for problems that have them (gaussian-sgld), as the `sgld` estimator and the
// tests use them. The step convention and the sample schedule are in optim/sgld.hpp.
#include "optim/sgld.hpp"
#include "problems/problem.hpp"

namespace bilevel {

// What one sgld estimate does, as far as closed forms need to know.
struct SgldPlan {
  SgldVariant variant = SgldVariant::pathwise;
  double eta = 0.0;          // step η
  double temperature = 0.0;  // T = τ/N
  SgldSchedule schedule;
  bool exact_sampler = false;     // samples drawn i.i.d. from p(θ | λ) instead of by a chain
  bool stationary_start = false;  // the chain starts in its stationary law (a warm persistent chain),
                                  // else from θ₀(λ, task)
};

// A problem whose Gibbs law and SGLD chain moments are known in closed form (gaussian-sgld). The sgld
// estimator finds it with dynamic_cast: with it, `sampler=exact` becomes available and every estimate
// reports the closed forms beside itself.
class SgldClosedForm {
 public:
  virtual ~SgldClosedForm() = default;
  // One exact draw from p(θ | λ) at temperature T = τ/N. (P,).
  virtual Tensor sample_gibbs(const Tensor& lambda, const Task& task, double temperature, Rng& rng) const = 0;
  // Closed forms at λ for this plan, e.g. F, dF (F'(λ)), F_eta, dF_eta and `expected`, the expected value of
  // the plan's estimate. Scalar λ problems report scalars.
  virtual Metrics sgld_reference(const Tensor& lambda, const Task& task, const SgldPlan& plan) const = 0;
};

}  // namespace bilevel
