// `hpo-l2`: per-parameter weight decay — one hyperparameter per weight (H = P) — for a classifier trained
// by full-batch gradient descent on a small training subset, tuned on a validation subset. The scaled-down
// form of "millions of hyperparameters": λᵢ = log of the weight decay of θᵢ.
//
//   L_T(θ, λ) = (1/n) Σᵢ CE(f_θ(xᵢ), yᵢ) + ½ Σⱼ exp(λⱼ) θⱼ²     (training subset, n = n_train)
//   L_V(θ)    = mean CE(f_θ(x), y) over the validation subset
//
// With decay=scalar, λ is one number (H = 1) and the penalty ½ exp(λ) ‖θ‖²: the single weight decay a grid
// search would tune (experiments/hpo compares the two at equal compute).
//
// The inner loop is r = inner_steps steps of θ ← θ − α∇_θL_T from a fixed θ₀ (Glorot/He init drawn from the
// instance seed, or zeros), on one fixed task: the whole training and validation subsets. Gradient descent is
// stable while α·(λmax(∇²CE) + max exp(λ)) < 2. With centred features λmax(∇²CE) is about 0.5 for logreg on
// MNIST (at θ = 0 it is λmax(Cov x)/classes ≈ 5.1/10), hence the default α = 2 with r = 100 — the same
// trajectory length as α = 1, r = 200 at half the cost. With these defaults (n_train = 1000) a scalar weight
// decay has an interior optimum near exp(λ) ≈ 2.5e-3: regularisation matters, though mildly.
//
// Evaluation trains θ under λ with the same inner loop (eval_inner_steps steps, default r, from the same θ₀)
// and reports the validation loss (the outer objective), validation, test and training accuracy and loss.
#include <memory>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "problems/classification_detail.hpp"
#include "optim/gradient_descent.hpp"
#include "problems/problem.hpp"

namespace bilevel {

namespace {

constexpr uint64_t kHpoL2SplitStream = 0x68706f6c32ULL;  // "hpol2": subsets of the training pool
constexpr uint64_t kHpoL2InitStream = 0x68706f6c3249ULL; // θ₀

class HpoL2Problem final : public classification::FixedTaskProblem {
 public:
  HpoL2Problem(const Options& o, uint64_t seed)
      : FixedTaskProblem(o),
        scalar_(o.get_string("decay") == "scalar"),
        model_kind_(o.get_string("model")) {
    Rng split_rng(seed, {kHpoL2SplitStream});
    data_ = classification::make_splits("hpo-l2", o.get_string("dataset"), o.get_string("data_dir"), o.get_bool("verify_checksums"),
                                        o.get_int("n_train"), o.get_int("n_val"), o.get_int("n_test"), split_rng);
    model_ = classification::make_model(model_kind_, data_.features, data_.classes, o.get_int("hidden"));
    P_ = model_->num_params();
    set_theta0(o, *model_, seed, kHpoL2InitStream);
  }

  std::string name() const override { return "hpo-l2"; }
  int64_t lambda_dim() const override { return scalar_ ? 1 : P_; }

  // θ: (P,), λ: (H,) → (). Mean training cross-entropy + ½ Σ exp(λ) θ².
  ad::Var inner_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)task;
    return ad::add(data_loss(theta, data_.train), penalty(theta, lambda));
  }
  // θ: (P,) → (). Mean validation cross-entropy.
  ad::Var outer_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)lambda, (void)task;
    return data_loss(theta, data_.val);
  }

  // SGLD structure: L_T is a mean over the n_train examples plus the penalty; ∂²L_T/∂θⱼ∂λₖ =
  // δⱼₖ exp(λⱼ) θⱼ is diagonal for per-weight decay.
  int64_t inner_examples() const override { return data_.train.n(); }
  ad::Var inner_loss_batch(const ad::Var& theta, const ad::Var& lambda, const Task& task,
                           const std::vector<int64_t>& batch) const override {
    (void)task;
    return ad::add(data_loss(theta, classification::subset(data_.train, batch)), penalty(theta, lambda));
  }
  bool mixed_partial_diagonal() const override { return !scalar_; }
  // Outer minibatches (the stochastic solvers' outer_batch_size): L_V is the mean over the n_val examples.
  int64_t outer_examples() const override { return data_.val.n(); }
  ad::Var outer_loss_batch(const ad::Var& theta, const ad::Var& lambda, const Task& task,
                           const std::vector<int64_t>& batch) const override {
    (void)lambda, (void)task;
    return data_loss(theta, classification::subset(data_.val, batch));
  }

  Metrics evaluate(const Tensor& lambda) const override {
    if (lambda.numel() != lambda_dim()) {
      throw internal_error("hpo-l2: λ has " + std::to_string(lambda.numel()) + " elements, expected " +
                                  std::to_string(lambda_dim()));
    }
    const Tensor theta = train_under(lambda);
    const auto val = classification::score(*model_, theta, data_.val);
    const auto test = classification::score(*model_, theta, data_.test);
    const auto train = classification::score(*model_, theta, data_.train);
    double mean_decay = 0;
    for (int64_t i = 0; i < lambda.numel(); ++i) mean_decay += std::exp(static_cast<double>(lambda[i]));
    mean_decay /= static_cast<double>(lambda.numel());
    return {{"val_loss", val.loss},   {"val_acc", val.acc},     {"test_loss", test.loss},
            {"test_acc", test.acc},   {"train_loss", train.loss}, {"train_acc", train.acc},
            {"mean_decay", mean_decay}};
  }

  // Per-weight: one log weight decay per model parameter, in the model's layout; scalar: one number.
  nlohmann::json lambda_layout() const override {
    if (scalar_) return nlohmann::json::array({{{"name", "log_weight_decay"}, {"offset", 0}, {"shape", {1}}}});
    nlohmann::json layout = model_->layout().to_json();
    for (auto& block : layout) block["name"] = "log_decay." + block["name"].get<std::string>();
    return layout;
  }

  nlohmann::json describe() const override {
    return {{"model", model_->describe()},
            {"layout", model_->layout().to_json()},
            {"dataset", data_.dataset},
            {"source", data_.source},
            {"n_train", data_.train.n()},
            {"n_val", data_.val.n()},
            {"n_test", data_.test.n()},
            {"decay", scalar_ ? "scalar" : "per-weight"},
            {"inner_loss", "mean CE on the training subset + 0.5 * sum(exp(lambda) * theta^2)"},
            {"outer_loss", "mean CE on the validation subset"},
            {"eval_inner_steps", eval_steps_}};
  }

 private:
  ad::Var data_loss(const ad::Var& theta, const classification::LabelledSet& set) const {
    return classification::data_loss(*model_, theta, set);
  }
  // ½ Σⱼ exp(λⱼ) θⱼ² (λ of shape (P,) or (1,), broadcast).
  ad::Var penalty(const ad::Var& theta, const ad::Var& lambda) const {
    if (lambda.numel() != lambda_dim() || theta.numel() != P_) {
      throw internal_error("hpo-l2: θ of shape " + theta.shape().str() + " and λ of shape " +
                                  lambda.shape().str() + ", expected (" + std::to_string(P_) + ",) and (" +
                                  std::to_string(lambda_dim()) + ",)");
    }
    // Per weight: the fused op (one pass for the value, the gradient and each H·v; the same function).
    if (!scalar_) return ad::exp_weighted_square_sum(theta, lambda);
    return ad::scale(ad::sum(ad::mul(ad::exp(lambda), ad::square(theta))), real(0.5));
  }
  Tensor train_under(const Tensor& lambda) const {
    const ad::Var la = ad::constant(lambda);
    return gradient_descent(
        [&](const ad::Var& th) { return ad::add(data_loss(th, data_.train), penalty(th, la)); }, theta0_,
        eval_steps_, lr_, /*stop_when_non_finite=*/true);
  }

  bool scalar_;
  std::string model_kind_;
  classification::Splits data_;
  std::unique_ptr<nn::Model> model_;
  int64_t P_ = 0;
};

std::unique_ptr<Problem> make_hpo_l2(const Options& o, uint64_t seed) { return std::make_unique<HpoL2Problem>(o, seed); }

}  // namespace

ProblemInfo hpo_l2_problem_info() {
  ProblemInfo info;
  info.name = "hpo-l2";
  info.description =
      "per-weight L2 (λᵢ = log weight decay of θᵢ, H = P) for logreg or an MLP trained by full-batch GD on a small "
      "MNIST/Fashion/digits subset; L_V = validation cross-entropy";
  info.options = {
      opt_choice("dataset", "mnist", {"mnist", "fashion", "digits", "iris", "breast_cancer", "wine"},
                 "dataset (bilevel-opt datasets list)"),
      opt_choice("model", "logreg", {"logreg", "mlp"}, "classifier: multinomial logistic regression, or a 1-hidden-layer ReLU MLP"),
      opt_int("hidden", 64, "hidden units of the MLP (model=mlp)", 1, 100000),
      opt_int("n_train", 1000, "training subset size (small, so that regularisation matters)", 1, 1000000),
      opt_int("n_val", 1000, "validation subset size (disjoint from the training subset)", 1, 1000000),
      opt_int("n_test", 0, "test examples (0 = the whole test pool)", 0, 1000000),
      opt_int("inner_steps", 100, "inner full-batch GD steps r", 1, 1000000),
      opt_real("inner_lr", 2.0,
               "inner step size α; GD is stable while α·(λmax(∇²CE) + max exp(λ)) < 2, and λmax(∇²CE) ≈ 0.5 on centred "
               "MNIST (logreg and the MLP both train stably at 2)",
               0, 100, true),
      opt_real("lambda_init", -4.6, "initial λ = log weight decay, in every coordinate (−4.6 ≈ log 0.01)", -50, 10),
      opt_choice("decay", "per-weight", {"per-weight", "scalar"},
                 "per-weight: one λ per parameter (H = P); scalar: one λ for all (H = 1)"),
      opt_choice("theta0", "random", {"random", "zeros"},
                 "inner initial point: the model's init drawn from the instance seed, or zeros"),
      opt_int("eval_inner_steps", -1, "inner steps when evaluating λ (-1 = inner_steps)", -1, 10000000),
      classification::data_dir_option(),
      classification::verify_checksums_option(),
  };
  info.make = make_hpo_l2;
  info.metrics = {"val_loss", "val_acc", "test_loss", "test_acc", "train_loss", "train_acc", "mean_decay"};
  info.run_defaults = {{"outer_opt", "adam"}, {"outer_lr", "0.05"}, {"eval_every", "10"}};
  return info;
}

}  // namespace bilevel
