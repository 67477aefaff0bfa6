#pragma once
// The shape shared by the meta-initialization problems whose λ is θ₀ itself and whose inner and outer losses are
// one loss of θ on the task, on its inner (support) or outer (query) part, with λ in neither (sinusoid, inr,
// ufo-toy): θ₀ = λ, L_T(θ) = task_loss(θ, task, inner), L_V(θ) = task_loss(θ, task, outer). Reptile applies;
// implicit differentiation does not (λ is not in L_T).
#include "problems/problem.hpp"

namespace bilevel {

class MetaInitProblem : public Problem {
 public:
  ad::Var theta0(const ad::Var& lambda, const Task& task) const final {
    (void)task;
    return lambda;
  }
  ad::Var inner_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const final {
    (void)lambda;
    return task_loss(theta, task, TaskPart::inner);
  }
  ad::Var outer_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const final {
    (void)lambda;
    return task_loss(theta, task, TaskPart::outer);
  }
  bool theta0_is_lambda() const final { return true; }
  bool lambda_in_inner_loss() const final { return false; }

 protected:
  enum class TaskPart { inner, outer };
  // The loss of θ on the task's inner or outer part.
  virtual ad::Var task_loss(const ad::Var& theta, const Task& task, TaskPart part) const = 0;
};

}  // namespace bilevel
