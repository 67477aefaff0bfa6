// `loss-learning`: learn the training loss. A classifier is trained by full-batch gradient descent on a training
// subset whose labels carry symmetric noise (a fraction `noise_rate` of the examples, exactly round(rate·n), get a
// uniformly random other class); λ parameterises the loss used for that training, and the outer loss is plain
// cross-entropy on a clean validation subset. A loss that resists the noise (bounded, smoothed, tempered) should
// train a model that does better on clean data than cross-entropy does.
//
// The loss family (H = 3 + poly_terms; λ's layout names the blocks). With z the logits of an example with label y,
// T = exp(λ_T) a temperature, p = softmax(z/T), CE = −log p_y, U = −(1/C) Σ_c log p_c (cross-entropy against the
// uniform label), ε = σ(λ_ε) a label-smoothing weight, w = exp(λ_w) and c_j free coefficients:
//
//   ℓ_λ(z, y) = w · [(1 − ε)·CE + ε·U] + Σ_{j=1..J} c_j (1 − p_y)^j
//
//   L_T(θ, λ) = (1/n) Σᵢ ℓ_λ(f_θ(xᵢ), ỹᵢ) + (l2/2)‖θ‖²      (noisy training subset)
//   L_V(θ)    = mean CE(f_θ(x), y) over the clean validation subset
//
// It contains cross-entropy (λ_w = λ_T = 0, ε → 0, c = 0; the initial λ has ε = σ(smoothing_init) ≈ 3e-4), label
// smoothing, temperature scaling and the polynomial expansion of PolyLoss (Leng et al. 2022, whose c_1 term is the
// noise-robust MAE loss 1 − p_y of Ghosh et al. 2017). Every term is bounded below (CE, U ≥ 0; |(1 − p)^j| ≤ 1), so
// L_T is bounded below for every λ.
//
// Evaluation: `val_loss`/`val_acc` score θ trained under λ exactly as in L_T (the outer objective, from the same
// θ₀); `test_acc`/`test_loss` score a fresh model — a new initialisation drawn from a separate stream — trained
// from scratch with the learned loss for eval_inner_steps steps on the same noisy subset, on the clean test set;
// `ce_test_acc`/`ce_test_loss` the same fresh model trained the same way with plain cross-entropy (the baseline,
// λ-independent); `ce_early_stop_test_acc` that baseline stopped at the step of lowest clean validation loss (the
// fair competitor of a loss that may just train less). `ce_weight`, `temperature`, `smoothing` and `poly_c01`,
// `poly_c02`, … read w, T, ε and the c_j off λ.
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "optim/gradient_descent.hpp"
#include "problems/classification_detail.hpp"
#include "problems/problem.hpp"

namespace bilevel {

namespace {

constexpr uint64_t kLossSplitStream = 0x6c6f7373ULL;        // "loss": subsets of the training pool
constexpr uint64_t kLossNoiseStream = 0x6c6f73734eULL;      // which labels are flipped, and to what
constexpr uint64_t kLossInitStream = 0x6c6f737349ULL;       // θ₀ of the inner problem
constexpr uint64_t kLossFreshStream = 0x6c6f737346ULL;      // the fresh model of the evaluation
constexpr int64_t kFixedParams = 3;                         // λ_w, λ_T, λ_ε before the c_j

class LossLearningProblem final : public classification::FixedTaskProblem {
 public:
  LossLearningProblem(const Options& o, uint64_t seed)
      : FixedTaskProblem(o),
        l2_(static_cast<real>(o.get_real("l2"))),
        noise_rate_(o.get_real("noise_rate")),
        poly_terms_(o.get_int("poly_terms")),
        smoothing_init_(o.get_real("smoothing_init")) {
    Rng split_rng(seed, {kLossSplitStream});
    data_ = classification::make_splits("loss-learning", o.get_string("dataset"), o.get_string("data_dir"),
                                        o.get_bool("verify_checksums"), o.get_int("n_train"), o.get_int("n_val"),
                                        o.get_int("n_test"), split_rng);
    const double max_rate = static_cast<double>(data_.classes - 1) / static_cast<double>(data_.classes);
    if (noise_rate_ >= max_rate) {
      throw option_error("loss-learning: option 'noise_rate' = " + std::to_string(noise_rate_) + " leaves no signal in " +
                         std::to_string(data_.classes) + "-class labels (symmetric noise must stay below " +
                         std::to_string(max_rate) + ")");
    }
    Rng noise_rng(seed, {kLossNoiseStream});
    const std::vector<bool> flipped = classification::corrupt_labels(data_.train, noise_rate_, data_.classes, noise_rng);
    n_flipped_ = std::count(flipped.begin(), flipped.end(), true);
    model_ = classification::make_model(o.get_string("model"), data_.features, data_.classes, o.get_int("hidden"));
    set_theta0(o, *model_, seed, kLossInitStream);
    Rng fresh_rng(seed, {kLossFreshStream});
    fresh_theta0_ = model_->init(fresh_rng);
  }

  std::string name() const override { return "loss-learning"; }
  int64_t lambda_dim() const override { return kFixedParams + poly_terms_; }
  // λ = (0, 0, smoothing_init, 0, …): cross-entropy up to ε = σ(smoothing_init). Draws nothing.
  Tensor init_lambda(Rng& rng) const override {
    (void)rng;
    Tensor lambda(Shape{lambda_dim()});
    lambda[2] = static_cast<real>(smoothing_init_);
    return lambda;
  }

  // θ: (P,), λ: (H,) → (). Mean learned loss over the noisy training subset + (l2/2)‖θ‖².
  ad::Var inner_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)task;
    return train_loss(theta, lambda, data_.train);
  }
  // θ: (P,) → (). Mean cross-entropy on the clean validation subset.
  ad::Var outer_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)lambda, (void)task;
    return ad::softmax_cross_entropy(model_->forward(theta, data_.val.x), data_.val.y);
  }

  int64_t inner_examples() const override { return data_.train.n(); }
  ad::Var inner_loss_batch(const ad::Var& theta, const ad::Var& lambda, const Task& task,
                           const std::vector<int64_t>& batch) const override {
    (void)task;
    return train_loss(theta, lambda, classification::subset(data_.train, batch));
  }

  Metrics evaluate(const Tensor& lambda) const override {
    if (lambda.numel() != lambda_dim()) {
      throw internal_error("loss-learning: λ has " + std::to_string(lambda.numel()) + " elements, expected " +
                           std::to_string(lambda_dim()));
    }
    const ad::Var la = ad::constant(lambda);
    const auto learned = [&](const ad::Var& th) { return train_loss(th, la, data_.train); };
    const auto val = classification::score(*model_, train(learned, theta0_), data_.val);
    const auto test = classification::score(*model_, train(learned, fresh_theta0_), data_.test);
    const Baseline& ce = baseline();
    const double smoothing = 1.0 / (1.0 + std::exp(-static_cast<double>(lambda[2])));
    Metrics m = {{"val_loss", val.loss},
            {"val_acc", val.acc},
            {"test_acc", test.acc},
            {"test_loss", test.loss},
            {"ce_test_acc", ce.test.acc},
            {"ce_test_loss", ce.test.loss},
            {"ce_early_stop_test_acc", ce.early_stopped_test_acc},
            {"ce_weight", std::exp(static_cast<double>(lambda[0]))},
            {"temperature", std::exp(static_cast<double>(lambda[1]))},
            {"smoothing", smoothing}};
    for (int64_t j = 0; j < poly_terms_; ++j) {
      std::string key = j + 1 < 10 ? "poly_c0" : "poly_c";  // two digits: keys sort in order
      key += std::to_string(j + 1);
      m.emplace_back(key, static_cast<double>(lambda[kFixedParams + j]));
    }
    return m;
  }

  nlohmann::json lambda_layout() const override {
    nlohmann::json layout = nlohmann::json::array();
    layout.push_back({{"name", "log_ce_weight"}, {"offset", 0}, {"shape", {1}}});
    layout.push_back({{"name", "log_temperature"}, {"offset", 1}, {"shape", {1}}});
    layout.push_back({{"name", "smoothing_logit"}, {"offset", 2}, {"shape", {1}}});
    if (poly_terms_ > 0) layout.push_back({{"name", "poly_coefficients"}, {"offset", kFixedParams}, {"shape", {poly_terms_}}});
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
            {"noise_rate", noise_rate_},
            {"flipped_labels", n_flipped_},
            {"loss_family",
             "exp(l_w) * ((1 - s) * CE + s * U) + sum_j c_j (1 - p_y)^j with p = softmax(z / exp(l_T)), s = sigmoid(l_s), "
             "U = -mean_c log p_c"},
            {"inner_loss", "mean learned loss on the noisy training subset + (l2/2) ||theta||^2"},
            {"outer_loss", "mean CE on the clean validation subset"},
            {"eval_inner_steps", eval_steps_}};
  }

 private:
  // ℓ_λ averaged over `set`, plus the L2 term. λ: (H,).
  ad::Var train_loss(const ad::Var& theta, const ad::Var& lambda, const classification::LabelledSet& set) const {
    if (lambda.numel() != lambda_dim()) {
      throw internal_error("loss-learning: λ of shape " + lambda.shape().str() + ", expected (" +
                           std::to_string(lambda_dim()) + ",)");
    }
    const ad::Var z = ad::mul(model_->forward(theta, set.x), ad::exp(ad::neg(ad::view(lambda, 1, Shape{1}))));
    const ad::Var ce = ad::per_example_cross_entropy(z, set.y);             // (B,)
    const ad::Var uniform = ad::neg(ad::mean(ad::log_softmax(z), 1));       // (B,)
    const ad::Var eps = ad::sigmoid(ad::view(lambda, 2, Shape{1}));
    const ad::Var smoothed = ad::add(ce, ad::mul(eps, ad::sub(uniform, ce)));  // (1 − ε)CE + εU
    ad::Var per_example = ad::mul(ad::exp(ad::view(lambda, 0, Shape{1})), smoothed);
    if (poly_terms_ > 0) {
      const ad::Var q = ad::add_scalar(ad::neg(ad::exp(ad::neg(ce))), real(1));  // 1 − p_y
      ad::Var power = q;
      for (int64_t j = 0; j < poly_terms_; ++j) {
        if (j > 0) power = ad::mul(power, q);
        per_example = ad::add(per_example, ad::mul(ad::view(lambda, kFixedParams + j, Shape{1}), power));
      }
    }
    ad::Var loss = ad::mean(per_example);
    if (l2_ > 0) loss = ad::add(loss, ad::scale(ad::sum(ad::square(theta)), l2_ / 2));
    return loss;
  }

  template <class LossFn>
  Tensor train(const LossFn& loss, const Tensor& from) const {
    return gradient_descent(loss, from, eval_steps_, lr_, /*stop_when_non_finite=*/true);
  }

  struct Baseline {
    classification::Score test;
    double early_stopped_test_acc = 0;  // at the step of lowest clean validation loss
  };
  // The fresh model trained with plain cross-entropy (+ the same L2), computed once.
  const Baseline& baseline() const {
    std::call_once(baseline_once_, [&] {
      const auto ce = [&](const ad::Var& th) {
        ad::Var loss = ad::softmax_cross_entropy(model_->forward(th, data_.train.x), data_.train.y);
        if (l2_ > 0) loss = ad::add(loss, ad::scale(ad::sum(ad::square(th)), l2_ / 2));
        return loss;
      };
      baseline_.test = classification::score(*model_, train(ce, fresh_theta0_), data_.test);
      // Cross-entropy with early stopping on the clean validation set: the same steps, scored after each.
      Tensor theta = fresh_theta0_;
      double best_val = classification::score(*model_, theta, data_.val).loss;
      baseline_.early_stopped_test_acc = classification::score(*model_, theta, data_.test).acc;
      for (int64_t step = 0; step < eval_steps_ && theta.all_finite(); ++step) {
        gradient_step(theta, loss_gradient(ce, theta), lr_);
        const double val = classification::score(*model_, theta, data_.val).loss;
        if (val < best_val) {
          best_val = val;
          baseline_.early_stopped_test_acc = classification::score(*model_, theta, data_.test).acc;
        }
      }
    });
    return baseline_;
  }

  real l2_;
  double noise_rate_;
  int64_t poly_terms_;
  double smoothing_init_;
  classification::Splits data_;
  std::unique_ptr<nn::Model> model_;
  int64_t n_flipped_ = 0;
  Tensor fresh_theta0_;
  mutable std::once_flag baseline_once_;
  mutable Baseline baseline_;
};

std::unique_ptr<Problem> make_loss_learning(const Options& o, uint64_t seed) {
  return std::make_unique<LossLearningProblem>(o, seed);
}

}  // namespace

ProblemInfo loss_learning_problem_info() {
  ProblemInfo info;
  info.name = "loss-learning";
  info.description =
      "learn the training loss (temperature, label smoothing, CE weight, PolyLoss coefficients) of a classifier "
      "trained on MNIST/Fashion with symmetric label noise; L_V = clean validation cross-entropy";
  info.options = {
      opt_choice("dataset", "mnist", {"mnist", "fashion", "digits"}, "dataset (bilevel-opt datasets list)"),
      opt_choice("model", "logreg", {"logreg", "mlp"}, "classifier: multinomial logistic regression, or a 1-hidden-layer ReLU MLP"),
      opt_int("hidden", 64, "hidden units of the MLP (model=mlp)", 1, 100000),
      opt_int("n_train", 1000, "training subset size (its labels get the noise)", 1, 1000000),
      opt_int("n_val", 1000, "clean validation subset size (disjoint from the training subset)", 1, 1000000),
      opt_int("n_test", 0, "test examples (0 = the whole test pool)", 0, 1000000),
      opt_real("noise_rate", 0.4,
               "fraction of training labels replaced by a uniformly random other class (below (C−1)/C)", 0, 1),
      opt_int("poly_terms", 2, "PolyLoss coefficients c_1..c_J in the loss family (H = 3 + J)", 0, 16),
      opt_real("smoothing_init", -8.0, "initial label-smoothing logit λ_ε (ε = σ(λ_ε); −8 ≈ 3e-4, i.e. plain CE)", -30, 30),
      opt_int("inner_steps", 100, "inner full-batch GD steps r", 1, 1000000),
      opt_real("inner_lr", 1.0, "inner step size α (the mean CE's curvature on centred MNIST is about 0.5)", 0, 100, true),
      opt_real("l2", 0.0, "L2 coefficient of the inner loss, (l2/2)‖θ‖²", 0, 1e6),
      opt_choice("theta0", "random", {"random", "zeros"},
                 "inner initial point: the model's init drawn from the instance seed, or zeros"),
      opt_int("eval_inner_steps", -1, "inner steps of the evaluation's fresh models (-1 = inner_steps)", -1, 10000000),
      classification::data_dir_option(),
      classification::verify_checksums_option(),
  };
  info.make = make_loss_learning;
  info.metrics = {"val_loss", "val_acc", "test_acc", "test_loss", "ce_test_acc", "ce_test_loss", "ce_early_stop_test_acc",
                  "ce_weight", "temperature", "smoothing", "poly_cNN"};
  info.run_defaults = {{"outer_opt", "adam"}, {"outer_lr", "0.05"}, {"eval_every", "10"}};
  return info;
}

}  // namespace bilevel
