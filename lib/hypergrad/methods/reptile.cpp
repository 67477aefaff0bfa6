// Method `reptile`: Reptile's direction λ − θ_r for meta-initialization problems (θ₀ = λ).
#include <algorithm>

#include "hypergrad/unroll.hpp"

namespace bilevel {

namespace {

class ReptileEstimator final : public Estimator {
 public:
  HypergradResult estimate(const Problem& p, const Tensor& lambda, const Task& task, Rng&) const override {
    // Reptile's direction λ − θ_r, divided by α·r so that it is the mean inner gradient along the
    // trajectory: the same outer learning rate then means the same step scale as the other estimators.
    HypergradResult res;
    PeakMeter meter;
    const InnerConfig in = p.inner();
    Tensor theta_r = unroll(p, lambda, task, in.steps, res);
    {
      ad::NoGradGuard no_grad;
      res.outer_loss = p.outer_loss(ad::constant(theta_r), ad::constant(lambda), task).item();
    }
    res.grad = scaled(sub(lambda, theta_r.reshaped(lambda.shape())),
                      real(1) / (in.lr * static_cast<real>(std::max<int64_t>(1, in.steps))));
    res.peak_bytes = meter.peak();
    return res;
  }
};

std::string reptile_refusal(const Problem& p) {
  if (p.theta0_is_lambda()) return "";
  return "method 'reptile' applies only to meta-initialization problems (θ₀ = λ); problem '" + p.name() +
         "' tunes λ inside the inner loss: use exact, tbptt, ift-cg or ufo";
}

}  // namespace

MethodInfo reptile_method_info() {
  return {.name = "reptile",
          .description = "Reptile: (λ − θ_r)/(α r), meta-initialization problems only",
          .refusal = reptile_refusal,
          .make = [](const Options&, const Problem&) -> std::unique_ptr<Estimator> {
            return std::make_unique<ReptileEstimator>();
          },
          .memory = [](const Options&, const MemorySizes& z) -> MemoryModel {
            return {unroll_base_bytes(z) + static_cast<double>(z.grad_bytes), "G + 3·P·s + 2·H·s", ""};
          }};
}

}  // namespace bilevel
