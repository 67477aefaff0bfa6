// `hyper-cleaning`: data hyper-cleaning (Franceschi et al. 2017) — learn one weight per training example so
// that a classifier trained on partly mislabelled data does well on a small clean validation set.
//
// Instance (instance seed): n_train training and n_val validation examples drawn without overlap from the
// dataset's training pool; a fraction `corruption` of the training examples (exactly round(corruption·n),
// chosen at random) get a label drawn uniformly from the other classes; the validation set stays clean; the
// test set is the test pool. λᵢ is the logit of example i's weight wᵢ = σ(λᵢ), H = n_train.
//
//   L_T(θ, λ) = (1/n) Σᵢ σ(λᵢ) CE(xᵢ·W + b, ỹᵢ) + (l2/2)‖θ‖²      (θ = (W, b) of a linear classifier)
//   L_V(θ)    = mean CE over the clean validation set
//
// The inner loop is r = inner_steps steps of full-batch gradient descent from θ₀ = 0 (or a seeded init),
// on one fixed task (the whole subsets). Each step costs two GEMMs of (n × d) by (d × classes); the defaults
// r = 50, α = 1 train the uniform baseline to about 83% test accuracy on MNIST at 50% corruption (longer
// training fits more of the noise: r = 100 gives 81%), the clean-only oracle to about 89%.
//
// Evaluation trains θ under λ with the same inner loop (eval_inner_steps steps, default r) and reports the
// test accuracy and loss, the validation loss, and how well the weights flag the corrupted examples
// (flagged: wᵢ < 0.5, i.e. λᵢ < 0): precision, recall and F1. Two baselines are reported beside them on
// every evaluation row, trained with the same r, α, l2 and θ₀: `uniform` (plain mean cross-entropy over all
// n corrupted-data examples) and `oracle` (mean cross-entropy over the clean examples only).
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "problems/classification_detail.hpp"
#include "optim/gradient_descent.hpp"
#include "problems/problem.hpp"

namespace bilevel {

namespace {

constexpr uint64_t kCleaningSplitStream = 0x636c65616eULL;     // "clean": subsets of the training pool
constexpr uint64_t kCleaningNoiseStream = 0x636c65616e4eULL;   // which examples are corrupted, and how
constexpr uint64_t kCleaningInitStream = 0x636c65616e49ULL;    // θ₀ (theta0=random)

class HyperCleaningProblem final : public classification::FixedTaskProblem {
 public:
  HyperCleaningProblem(const Options& o, uint64_t seed)
      : FixedTaskProblem(o), l2_(static_cast<real>(o.get_real("l2"))), corruption_(o.get_real("corruption")) {
    Rng split_rng(seed, {kCleaningSplitStream});
    data_ = classification::make_splits("hyper-cleaning", o.get_string("dataset"), o.get_string("data_dir"), o.get_bool("verify_checksums"),
                                        o.get_int("n_train"), o.get_int("n_val"), o.get_int("n_test"), split_rng);
    model_ = std::make_unique<nn::Linear>(data_.features, data_.classes);
    P_ = model_->num_params();
    n_ = data_.train.n();
    // Corrupt exactly round(corruption·n) examples: a uniformly random wrong label each.
    Rng noise_rng(seed, {kCleaningNoiseStream});
    corrupted_ = classification::corrupt_labels(data_.train, corruption_, data_.classes, noise_rng);
    n_corrupted_ = std::count(corrupted_.begin(), corrupted_.end(), true);
    std::vector<int64_t> clean;
    for (int64_t i = 0; i < n_; ++i)
      if (!corrupted_[static_cast<size_t>(i)]) clean.push_back(i);
    clean_train_ = classification::subset(data_.train, clean);
    set_theta0(o, *model_, seed, kCleaningInitStream);
  }

  std::string name() const override { return "hyper-cleaning"; }
  int64_t lambda_dim() const override { return n_; }

  // θ: (P,), λ: (n,) → (). (1/n) Σ σ(λᵢ) CEᵢ + (l2/2)‖θ‖².
  ad::Var inner_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)task;
    check_lambda(lambda);
    return ad::add(classification::data_loss(*model_, theta, data_.train, ad::sigmoid(lambda)), penalty(theta));
  }
  ad::Var outer_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)lambda, (void)task;
    return classification::data_loss(*model_, theta, data_.val);
  }

  // SGLD structure: L_T is a mean over the n examples plus the L2 term.
  int64_t inner_examples() const override { return n_; }
  ad::Var inner_loss_batch(const ad::Var& theta, const ad::Var& lambda, const Task& task,
                           const std::vector<int64_t>& batch) const override {
    (void)task;
    check_lambda(lambda);
    const classification::LabelledSet b = classification::subset(data_.train, batch);
    const ad::Var w = ad::sigmoid(ad::gather(lambda, std::make_shared<const std::vector<int64_t>>(batch),
                                             Shape{static_cast<int64_t>(batch.size())}));
    return ad::add(classification::data_loss(*model_, theta, b, w), penalty(theta));
  }

  // Outer minibatches (the stochastic solvers' outer_batch_size): L_V is the mean CE over the clean validation set.
  int64_t outer_examples() const override { return data_.val.n(); }
  ad::Var outer_loss_batch(const ad::Var& theta, const ad::Var& lambda, const Task& task,
                           const std::vector<int64_t>& batch) const override {
    (void)lambda, (void)task;
    return classification::data_loss(*model_, theta, classification::subset(data_.val, batch));
  }

  Metrics evaluate(const Tensor& lambda) const override {
    if (lambda.numel() != n_) {
      throw internal_error("hyper-cleaning: λ has " + std::to_string(lambda.numel()) + " elements, expected " +
                                  std::to_string(n_));
    }
    const ad::Var la = ad::constant(lambda);
    const Tensor theta = gradient_descent(
        [&](const ad::Var& th) { return inner_loss(th, la, Task{}); }, theta0_, eval_steps_, lr_,
        /*stop_when_non_finite=*/true);
    const auto test = classification::score(*model_, theta, data_.test);
    const auto val = classification::score(*model_, theta, data_.val);
    int64_t flagged = 0, hit = 0;
    double w_clean = 0, w_bad = 0;
    for (int64_t i = 0; i < n_; ++i) {
      const bool bad = corrupted_[static_cast<size_t>(i)];
      const bool flag = lambda[i] < 0;  // σ(λᵢ) < 0.5
      flagged += flag;
      hit += flag && bad;
      const double w = 1.0 / (1.0 + std::exp(-static_cast<double>(lambda[i])));
      (bad ? w_bad : w_clean) += w;
    }
    const double precision = flagged > 0 ? static_cast<double>(hit) / static_cast<double>(flagged) : 0.0;
    const double recall = n_corrupted_ > 0 ? static_cast<double>(hit) / static_cast<double>(n_corrupted_) : 0.0;
    const double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
    const Baselines& base = baselines();
    const double n_clean = static_cast<double>(n_ - n_corrupted_);
    return {{"test_acc", test.acc},
            {"test_loss", test.loss},
            {"val_loss", val.loss},
            {"val_acc", val.acc},
            {"precision", precision},
            {"recall", recall},
            {"f1", f1},
            {"flagged_frac", static_cast<double>(flagged) / static_cast<double>(n_)},
            {"weight_clean", n_clean > 0 ? w_clean / n_clean : 0.0},
            {"weight_corrupted", n_corrupted_ > 0 ? w_bad / static_cast<double>(n_corrupted_) : 0.0},
            {"uniform_test_acc", base.uniform_test.acc},
            {"uniform_val_loss", base.uniform_val.loss},
            {"oracle_test_acc", base.oracle_test.acc},
            {"oracle_val_loss", base.oracle_val.loss}};
  }

  nlohmann::json describe() const override {
    return {{"model", model_->describe()},
            {"layout", model_->layout().to_json()},
            {"dataset", data_.dataset},
            {"source", data_.source},
            {"n_train", n_},
            {"n_val", data_.val.n()},
            {"n_test", data_.test.n()},
            {"corrupted", n_corrupted_},
            {"corrupted_examples", corrupted_indices()},
            {"inner_loss", "(1/n) sum sigmoid(lambda_i) CE_i + (l2/2) ||theta||^2 on the corrupted training subset"},
            {"outer_loss", "mean CE on the clean validation subset"},
            {"eval_inner_steps", eval_steps_}};
  }

 private:
  std::vector<int64_t> corrupted_indices() const {
    std::vector<int64_t> out;
    for (int64_t i = 0; i < n_; ++i)
      if (corrupted_[static_cast<size_t>(i)]) out.push_back(i);
    return out;
  }

  struct Baselines {
    classification::Score uniform_test, uniform_val, oracle_test, oracle_val;
  };

  void check_lambda(const ad::Var& lambda) const {
    if (lambda.numel() != n_) {
      throw internal_error("hyper-cleaning: λ of shape " + lambda.shape().str() + ", expected (" +
                                  std::to_string(n_) + ",) (one logit per training example)");
    }
  }
  ad::Var penalty(const ad::Var& theta) const { return ad::scale(ad::sum(ad::square(theta)), real(0.5) * l2_); }

  // Trained once, on first use (evaluate runs on one thread, but call_once keeps it safe regardless).
  const Baselines& baselines() const {
    std::call_once(baselines_once_, [this] {
      auto train_on = [this](const classification::LabelledSet& set) {
        return gradient_descent(
            [&](const ad::Var& th) {
              return ad::add(classification::data_loss(*model_, th, set), penalty(th));
            },
            theta0_, eval_steps_, lr_, /*stop_when_non_finite=*/true);
      };
      const Tensor uniform = train_on(data_.train), oracle = train_on(clean_train_);
      baselines_.uniform_test = classification::score(*model_, uniform, data_.test);
      baselines_.uniform_val = classification::score(*model_, uniform, data_.val);
      baselines_.oracle_test = classification::score(*model_, oracle, data_.test);
      baselines_.oracle_val = classification::score(*model_, oracle, data_.val);
    });
    return baselines_;
  }

  real l2_;
  double corruption_;
  classification::Splits data_;
  std::unique_ptr<nn::Linear> model_;
  int64_t P_ = 0, n_ = 0, n_corrupted_ = 0;
  std::vector<bool> corrupted_;
  classification::LabelledSet clean_train_;
  mutable std::once_flag baselines_once_;
  mutable Baselines baselines_;
};

std::unique_ptr<Problem> make_hyper_cleaning(const Options& o, uint64_t seed) {
  return std::make_unique<HyperCleaningProblem>(o, seed);
}

}  // namespace

ProblemInfo hyper_cleaning_problem_info() {
  ProblemInfo info;
  info.name = "hyper-cleaning";
  info.description =
      "data hyper-cleaning: one weight σ(λᵢ) per training example (H = n_train) of a linear classifier on partly "
      "mislabelled MNIST/Fashion; L_V = clean validation cross-entropy; reports F1 of flagging the corrupted";
  info.options = {
      opt_choice("dataset", "mnist", {"mnist", "fashion", "digits", "iris", "breast_cancer", "wine"},
                 "dataset (bilevel-opt datasets list)"),
      opt_int("n_train", 5000, "training examples (H = n_train hyperparameters)", 1, 1000000),
      opt_int("n_val", 5000, "clean validation examples", 1, 1000000),
      opt_int("n_test", 0, "test examples (0 = the whole test pool)", 0, 1000000),
      opt_real("corruption", 0.5, "fraction of training examples given a uniformly random wrong label", 0, 1),
      opt_int("inner_steps", 50, "inner full-batch GD steps r", 1, 1000000),
      opt_real("inner_lr", 1.0, "inner step size α (the mean cross-entropy's curvature on centred MNIST is about 0.5)", 0,
               100, true),
      opt_real("l2", 1e-3, "L2 coefficient of the inner loss, (l2/2)‖θ‖²", 0, 1e6),
      opt_real("lambda_init", 0.0, "initial logit of every example weight (0: weights ½, nothing flagged)", -50, 50),
      opt_choice("theta0", "zeros", {"zeros", "random"}, "inner initial point: zeros, or a Glorot init from the instance seed"),
      opt_int("eval_inner_steps", -1, "inner steps when evaluating λ and the baselines (-1 = inner_steps)", -1, 10000000),
      classification::data_dir_option(),
      classification::verify_checksums_option(),
  };
  info.make = make_hyper_cleaning;
  info.metrics = {"test_acc",  "test_loss",        "val_loss",         "val_acc",         "precision",
                  "recall",    "f1",               "flagged_frac",     "weight_clean",    "weight_corrupted",
                  "uniform_test_acc", "uniform_val_loss", "oracle_test_acc", "oracle_val_loss"};
  info.run_defaults = {{"outer_opt", "adam"}, {"outer_lr", "0.1"}, {"eval_every", "10"}};
  return info;
}

}  // namespace bilevel
