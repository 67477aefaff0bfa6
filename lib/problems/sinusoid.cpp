// `sinusoid`: MAML's few-shot sinusoid regression (Finn et al. 2017, §5.1).
//
// A task is y = amp·sin(x − phase), amp ~ U[0.1, 5], phase ~ U[0, π], with K support and K query
// points x ~ U[−5, 5]. The model is an MLP 1-h-h-1 with ReLU (nn::Mlp); λ is its meta-initialization
// (θ₀ = λ), the inner loop r steps of SGD (lr α) on the support MSE, the outer loss the query MSE at θ_r.
// Evaluation adapts λ with the same inner loop on a fixed, seeded set of tasks (drawn from the
// instance seed, so every λ is scored on the same tasks) and reports the mean query MSE.
#include <cmath>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "nn/init.hpp"
#include "nn/model.hpp"
#include "optim/gradient_descent.hpp"
#include "problems/meta_init.hpp"

namespace bilevel {

namespace {

constexpr uint64_t kSinusoidEvalStream = 0x73696e6576616cULL;  // "sineval": the evaluation tasks' stream
constexpr double kAmpMin = 0.1, kAmpMax = 5.0;
constexpr double kPhaseMin = 0.0, kPhaseMax = std::numbers::pi;
constexpr double kXMin = -5.0, kXMax = 5.0;

// Draws, in order: amplitude, phase, K support x, K query x. Task.x = {support_x, query_x} (K, 1),
// Task.y = {support_y, query_y} (K, 1).
Task sample_sinusoid_task(Rng& rng, int64_t k) {
  const double amp = rng.uniform(kAmpMin, kAmpMax);
  const double phase = rng.uniform(kPhaseMin, kPhaseMax);
  Task t;
  for (int part = 0; part < 2; ++part) {
    Tensor x(Shape{k, 1}), y(Shape{k, 1});
    for (int64_t i = 0; i < k; ++i) {
      const double xi = rng.uniform(kXMin, kXMax);
      x[i] = static_cast<real>(xi);
      y[i] = static_cast<real>(amp * std::sin(xi - phase));
    }
    t.x.push_back(std::move(x));
    t.y.push_back(std::move(y));
  }
  return t;
}

class SinusoidProblem final : public MetaInitProblem {
 public:
  SinusoidProblem(int64_t k_shot, int64_t hidden, int64_t steps, double lr, int64_t eval_tasks,
                  int64_t eval_steps, uint64_t seed)
      : k_(k_shot), steps_(steps), lr_(static_cast<real>(lr)), eval_steps_(eval_steps),
        model_(std::vector<int64_t>{1, hidden, hidden, 1}, nn::Activation::relu) {
    const Rng base(seed, {kSinusoidEvalStream});
    eval_tasks_.reserve(static_cast<size_t>(eval_tasks));
    for (int64_t t = 0; t < eval_tasks; ++t) {
      Rng r = base.split(static_cast<uint64_t>(t));
      eval_tasks_.push_back(sample_sinusoid_task(r, k_));
    }
  }

  std::string name() const override { return "sinusoid"; }
  int64_t theta_dim() const override { return model_.num_params(); }
  int64_t lambda_dim() const override { return model_.num_params(); }
  InnerConfig inner() const override { return InnerConfig{steps_, lr_}; }

  // MAML's reference implementations use the framework-default linear init, U(±1/√fan_in) for weights
  // and biases alike. He-uniform (√6 larger per layer) makes the 1-40-40-1 net's output and curvature so
  // large on x ∈ [−5, 5] that the inner step α = 0.01 diverges at initialization.
  Tensor init_lambda(Rng& rng) const override {
    Tensor theta(Shape{model_.num_params()});
    const auto& sizes = model_.sizes();
    for (size_t l = 0; l + 1 < sizes.size(); ++l) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(sizes[l]));
      nn::init_uniform(theta, model_.layout().find("layer" + std::to_string(l) + ".weight"), bound, rng);
      nn::init_uniform(theta, model_.layout().find("layer" + std::to_string(l) + ".bias"), bound, rng);
    }
    return theta;
  }
  Task sample_task(Rng& rng) const override { return sample_sinusoid_task(rng, k_); }


  // test_mse: query MSE after eval_inner_steps plain SGD steps on the support set, from θ₀ = λ;
  // test_mse_preadapt: query MSE at λ itself. Both averaged over the fixed evaluation tasks.
  Metrics evaluate(const Tensor& lambda) const override {
    if (lambda.numel() != model_.num_params()) {
      throw internal_error("sinusoid: λ has " + std::to_string(lambda.numel()) + " elements, expected " +
                                  std::to_string(model_.num_params()));
    }
    double pre = 0, post = 0;
    for (const Task& task : eval_tasks_) {
      Tensor theta = lambda.reshaped(Shape{model_.num_params()});
      pre += query_mse_value(theta, task);
      theta = gradient_descent([&](const ad::Var& th) { return split_mse(th, task, 0); }, std::move(theta),
                               eval_steps_, lr_);
      post += query_mse_value(theta, task);
    }
    const double n = static_cast<double>(eval_tasks_.size());
    return {{"test_mse", post / n}, {"test_mse_preadapt", pre / n}};
  }

  // λ is the meta-initialisation θ₀: the model's parameter layout.
  nlohmann::json lambda_layout() const override { return model_.layout().to_json(); }

  nlohmann::json describe() const override {
    return {{"model", model_.describe()},
            {"layout", model_.layout().to_json()},
            {"tasks",
             {{"function", "y = amplitude * sin(x - phase)"},
              {"amplitude", {kAmpMin, kAmpMax}},
              {"phase", {kPhaseMin, kPhaseMax}},
              {"x", {kXMin, kXMax}},
              {"k_shot", k_},
              {"support", "k_shot points (inner loss: MSE)"},
              {"query", "k_shot points (outer loss: MSE)"}}},
            {"eval_tasks", eval_tasks_.size()},
            {"eval_inner_steps", eval_steps_}};
  }

 private:
  // Support MSE (inner) or query MSE (outer), each the mean over the K points.
  ad::Var task_loss(const ad::Var& theta, const Task& task, TaskPart part) const override {
    return split_mse(theta, task, part == TaskPart::inner ? 0 : 1);
  }
  ad::Var split_mse(const ad::Var& theta, const Task& task, size_t part) const {
    if (task.x.size() != 2 || task.y.size() != 2) {
      throw internal_error("sinusoid: a task needs x = {support_x, query_x} and y = {support_y, query_y}");
    }
    const ad::Var pred = model_.forward(theta, ad::constant(task.x[part]));
    return ad::mse(pred, ad::constant(task.y[part]));
  }
  double query_mse_value(const Tensor& theta, const Task& task) const {
    ad::NoGradGuard no_grad;
    return static_cast<double>(split_mse(ad::constant(theta), task, 1).item());
  }

  int64_t k_, steps_;
  real lr_;
  int64_t eval_steps_;
  nn::Mlp model_;
  std::vector<Task> eval_tasks_;
};

std::unique_ptr<Problem> make_sinusoid(const Options& o, uint64_t seed) {
  const int64_t steps = o.get_int("inner_steps");
  const int64_t eval_steps = o.get_int("eval_inner_steps") < 0 ? steps : o.get_int("eval_inner_steps");
  return std::make_unique<SinusoidProblem>(o.get_int("k_shot"), o.get_int("hidden"), steps, o.get_real("inner_lr"), o.get_int("eval_tasks"),
                                           eval_steps, seed);
}

}  // namespace

ProblemInfo sinusoid_problem_info() {
  ProblemInfo info;
  info.name = "sinusoid";
  info.description = "MAML few-shot sinusoid regression: MLP 1-h-h-1 ReLU meta-initialization, MSE, K-shot tasks";
  info.options = {
      opt_int("k_shot", 10, "support points and query points per task (K each)", 1, 10000),
      opt_int("hidden", 40, "width of each of the two hidden layers", 1, 4096),
      opt_int("inner_steps", 5, "inner SGD steps r on the support set", 1, 10000),
      opt_real("inner_lr", 0.01, "inner step size α", 0, 10, true),
      opt_int("eval_tasks", 100, "fixed evaluation tasks (drawn from the instance seed)", 1, 1000000),
      opt_int("eval_inner_steps", -1, "adaptation steps at evaluation (-1 = inner_steps)", -1, 100000),
  };
  info.make = make_sinusoid;
  info.metrics = {"test_mse", "test_mse_preadapt"};
  info.run_defaults = {{"outer_opt", "adam"}, {"outer_lr", "0.001"}, {"meta_batch", "25"}};
  return info;
}

}  // namespace bilevel
