// `invariance-learning`: learn how much to augment (Augerino: Benton et al. 2020, "Learning invariances in neural
// networks"), as a bilevel problem. The data are MNIST/Fashion-MNIST digits each rotated by its own random angle in
// [−R, R] (R = true_rotation; train, validation and test alike, drawn once from the instance seed). λ holds the
// half-widths of a distribution over affine transformations applied to the training images by reparameterised
// sampling: for each training image and each of K augmentation samples, u ~ U[−1, 1] per transformation, and
//
//   rotation φ = u_φ·λ_φ (radians),  translation (t_x, t_y) = (u_x, u_y)·λ_t (normalised units: 1 = half the image),
//   scale s = exp(u_s·λ_s);   a = (s cos φ, −s sin φ, t_x, s sin φ, s cos φ, t_y)
//
// applied with the bilinear affine warp (autodiff/warp.hpp), so L_T is differentiable in λ:
//
//   L_T(θ, λ) = (1/(nK)) Σᵢₖ CE(f_θ(warp(xᵢ, a(λ, uᵢₖ)) − μ), yᵢ) + (l2/2)‖θ‖²
//   L_V(θ)    = mean CE(f_θ(x − μ), y) over the (rotated, not augmented) validation subset
//
// (μ: the per-pixel mean of the rotated training subset). A task is one draw of the augmentation noise u, so the
// outer problem is stochastic in the way Augerino's objective is (fresh augmentations every step). transforms
// chooses which of λ_φ, λ_t, λ_s exist (H = 1, 2 or 3). The sign of a half-width does not matter; metrics report |λ|.
//
// Evaluation trains θ from θ₀ under λ with a fixed draw of the noise (the evaluation stream) for eval_inner_steps
// steps and reports validation loss and accuracy, test accuracy, the learned rotation range in degrees against the
// true one, and two baselines trained the same way: no augmentation (λ = 0) and a fixed hand-chosen rotation range
// (fixed_rotation degrees; the other transformations off).
#include <cmath>
#include <memory>
#include <mutex>
#include <numbers>
#include <string>
#include <vector>

#include "autodiff/warp.hpp"
#include "base/errors.hpp"
#include "optim/gradient_descent.hpp"
#include "problems/classification_detail.hpp"
#include "problems/image_detail.hpp"
#include "problems/problem.hpp"

namespace bilevel {

namespace {

constexpr uint64_t kInvSplitStream = 0x696e7673ULL;      // "invs": which examples form the subsets
constexpr uint64_t kInvRotateStream = 0x696e767352ULL;   // the data's true rotations
constexpr uint64_t kInvInitStream = 0x696e767349ULL;     // θ₀
constexpr uint64_t kInvEvalStream = 0x696e767345ULL;     // the evaluation's augmentation noise
constexpr double kDegree = std::numbers::pi / 180.0;

// (m, 6) rotation maps by the angles (radians), no grad.
Tensor rotation_maps(const std::vector<double>& angles) {
  Tensor a(Shape{static_cast<int64_t>(angles.size()), 6});
  for (size_t i = 0; i < angles.size(); ++i) {
    const double c = std::cos(angles[i]), s = std::sin(angles[i]);
    real* r = a.data() + i * 6;
    r[0] = static_cast<real>(c), r[1] = static_cast<real>(-s), r[2] = 0;
    r[3] = static_cast<real>(s), r[4] = static_cast<real>(c), r[5] = 0;
  }
  return a;
}

// The subset `index` of a pool as images, each rotated by an angle U[−R, R] drawn from `rng` in order.
images::Images rotated(const images::Source& src, const data::Examples& pool, const std::vector<int64_t>& index,
                       double max_angle, Rng& rng) {
  images::Images out = images::take(src, pool, index);
  std::vector<double> angles(index.size());
  for (auto& a : angles) a = rng.uniform(-max_angle, max_angle);
  ad::NoGradGuard no_grad;
  out.x = ad::affine_warp(ad::constant(out.x), ad::constant(rotation_maps(angles))).value();
  return out;
}

class InvarianceProblem final : public Problem {
 public:
  InvarianceProblem(const Options& o, uint64_t seed)
      : steps_(o.get_int("inner_steps")),
        eval_steps_(o.get_int("eval_inner_steps") < 0 ? steps_ : o.get_int("eval_inner_steps")),
        lr_(static_cast<real>(o.get_real("inner_lr"))),
        l2_(static_cast<real>(o.get_real("l2"))),
        k_(o.get_int("augment_samples")),
        true_rotation_(o.get_real("true_rotation") * kDegree),
        fixed_rotation_(o.get_real("fixed_rotation") * kDegree),
        transforms_(o.get_string("transforms")) {
    dims_ = transforms_ == "rotation" ? 1 : transforms_ == "rotation+translation" ? 2 : 3;
    init_ = {o.get_real("rotation_init") * kDegree, o.get_real("translation_init"), o.get_real("scale_init")};
    const std::string dataset = o.get_string("dataset");
    const images::Source src = images::load_source("invariance-learning", dataset, o.get_string("data_dir"),
                                                   o.get_bool("verify_checksums"), o.get_int("image_size"));
    const int64_t n_train = o.get_int("n_train"), n_val = o.get_int("n_val");
    const int64_t n_test = o.get_int("n_test") > 0 ? o.get_int("n_test") : src.ds.test.n;
    images::require_examples("invariance-learning", dataset, "training", src.ds.train.n, n_train + n_val, "n_train + n_val");
    images::require_examples("invariance-learning", dataset, "test", src.ds.test.n, n_test, "n_test");
    Rng split_rng(seed, {kInvSplitStream}), rot_rng(seed, {kInvRotateStream});
    const std::vector<int64_t> perm = split_rng.permutation(src.ds.train.n);
    const std::vector<int64_t> train_index(perm.begin(), perm.begin() + n_train);
    const std::vector<int64_t> val_index(perm.begin() + n_train, perm.begin() + n_train + n_val);
    std::vector<int64_t> test_index(static_cast<size_t>(n_test));
    for (int64_t i = 0; i < n_test; ++i) test_index[static_cast<size_t>(i)] = i;
    train_ = rotated(src, src.ds.train, train_index, o.get_bool("rotate_train") ? true_rotation_ : 0.0, rot_rng);
    const images::Images val = rotated(src, src.ds.train, val_index, true_rotation_, rot_rng);
    const images::Images test = rotated(src, src.ds.test, test_index, true_rotation_, rot_rng);
    side_ = src.out_side;
    classes_ = src.ds.classes;
    dataset_ = src.ds.name;
    const int64_t d = side_ * side_;
    // μ: per-pixel mean of the rotated training images.
    Tensor mean(Shape{d});
    for (int64_t i = 0; i < n_train; ++i)
      for (int64_t p = 0; p < d; ++p) mean[p] += train_.x[i * d + p] / static_cast<real>(n_train);
    mean_ = ad::constant(mean);
    val_ = flat_set(val);
    test_ = flat_set(test);
    // The training images repeated K times (augmentation sample k of image i is row k·n + i) and their labels.
    Tensor rep(Shape{k_ * n_train, side_, side_, 1});
    for (int64_t k = 0; k < k_; ++k) std::copy(train_.x.data(), train_.x.data() + n_train * d, rep.data() + k * n_train * d);
    train_rep_ = ad::constant(rep);
    for (int64_t k = 0; k < k_; ++k) rep_labels_.insert(rep_labels_.end(), train_.y.begin(), train_.y.end());
    plain_train_ = flat_set(train_);
    model_ = classification::make_model(o.get_string("model"), d, classes_, o.get_int("hidden"));
    Rng init_rng(seed, {kInvInitStream});
    theta0_ = o.get_string("theta0") == "random" ? model_->init(init_rng) : Tensor(Shape{model_->num_params()});
    Rng eval_rng(seed, {kInvEvalStream});
    eval_task_ = sample_task(eval_rng);
  }

  std::string name() const override { return "invariance-learning"; }
  int64_t theta_dim() const override { return model_->num_params(); }
  int64_t lambda_dim() const override { return dims_; }
  InnerConfig inner() const override { return InnerConfig{steps_, lr_}; }
  // (rotation_init, translation_init, scale_init)[:H]. Draws nothing.
  Tensor init_lambda(Rng& rng) const override {
    (void)rng;
    Tensor l(Shape{dims_});
    for (int64_t i = 0; i < dims_; ++i) l[i] = static_cast<real>(init_[static_cast<size_t>(i)]);
    return l;
  }
  // Task.x = the augmentation noise, one (K·n, 1) tensor of U[−1, 1] per noise coordinate: u_φ, then u_x, u_y
  // (translation), then u_s (scale), each drawn in full before the next. θ₀ in theta_init.
  Task sample_task(Rng& rng) const override {
    Task t;
    const int64_t m = k_ * train_.n();
    const int64_t coords = dims_ == 1 ? 1 : dims_ == 2 ? 3 : 4;
    for (int64_t c = 0; c < coords; ++c) t.x.push_back(rng.uniform_tensor(Shape{m, 1}, -1.0, 1.0));
    t.theta_init = theta0_;
    return t;
  }
  ad::Var theta0(const ad::Var& lambda, const Task& task) const override {
    (void)lambda;
    return ad::constant(task.theta_init.numel() == theta0_.numel() ? task.theta_init : theta0_);
  }

  // θ: (P,), λ: (H,) → (). Mean CE over the K augmented copies of the training images + (l2/2)‖θ‖².
  ad::Var inner_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    const ad::Var x = ad::affine_warp(train_rep_, maps(lambda, task));
    const ad::Var flat = ad::sub(ad::reshape(x, Shape{x.shape()[0], side_ * side_}), mean_);
    return with_l2(theta, ad::softmax_cross_entropy(model_->forward(theta, flat), rep_labels_));
  }
  // θ: (P,) → (). Mean CE on the rotated validation images.
  ad::Var outer_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)lambda, (void)task;
    return ad::softmax_cross_entropy(model_->forward(theta, val_.x), val_.y);
  }

  Metrics evaluate(const Tensor& lambda) const override {
    if (lambda.numel() != dims_) {
      throw internal_error("invariance-learning: λ has " + std::to_string(lambda.numel()) + " elements, expected " +
                           std::to_string(dims_));
    }
    const auto [val, test] = train_and_score(lambda);
    const Baselines& b = baselines();
    const double learned = std::abs(static_cast<double>(lambda[0]));
    return {{"val_loss", val.loss},
            {"val_acc", val.acc},
            {"test_acc", test.acc},
            {"rotation_deg", learned / kDegree},
            {"true_rotation_deg", true_rotation_ / kDegree},
            {"rotation_rel_error", true_rotation_ > 0 ? std::abs(learned - true_rotation_) / true_rotation_ : NAN},
            {"translation", dims_ >= 2 ? std::abs(static_cast<double>(lambda[1])) : 0.0},
            {"log_scale", dims_ >= 3 ? std::abs(static_cast<double>(lambda[2])) : 0.0},
            {"none_test_acc", b.none_test.acc},
            {"none_val_loss", b.none_val.loss},
            {"fixed_test_acc", b.fixed_test.acc},
            {"fixed_val_loss", b.fixed_val.loss}};
  }

  nlohmann::json lambda_layout() const override {
    static const char* names[] = {"rotation_half_width_rad", "translation_half_width", "log_scale_half_width"};
    nlohmann::json layout = nlohmann::json::array();
    for (int64_t i = 0; i < dims_; ++i) layout.push_back({{"name", names[i]}, {"offset", i}, {"shape", {1}}});
    return layout;
  }

  nlohmann::json describe() const override {
    return {{"model", model_->describe()},
            {"dataset", dataset_},
            {"image_size", side_},
            {"n_train", train_.n()},
            {"n_val", val_.n()},
            {"n_test", test_.n()},
            {"true_rotation_deg", true_rotation_ / kDegree},
            {"transforms", transforms_},
            {"augment_samples", k_},
            {"fixed_rotation_deg", fixed_rotation_ / kDegree},
            {"inner_loss", "mean CE over augment_samples warped copies of the training images + (l2/2) ||theta||^2"},
            {"outer_loss", "mean CE on the rotated validation images"},
            {"eval_inner_steps", eval_steps_}};
  }

 private:
  // Images (n, s, s, 1) → flattened, centred by μ, as a constant set.
  classification::LabelledSet flat_set(const images::Images& im) const {
    const int64_t d = side_ * side_;
    Tensor x = im.x.reshaped(Shape{im.n(), d});
    const Tensor& mu = mean_.value();
    for (int64_t i = 0; i < im.n(); ++i)
      for (int64_t p = 0; p < d; ++p) x[i * d + p] -= mu[p];
    return {ad::constant(std::move(x)), im.y};
  }

  // (K·n, 6) maps a(λ, u) for the task's noise.
  ad::Var maps(const ad::Var& lambda, const Task& task) const {
    const int64_t m = k_ * train_.n();
    const int64_t coords = dims_ == 1 ? 1 : dims_ == 2 ? 3 : 4;
    if (lambda.numel() != dims_ || static_cast<int64_t>(task.x.size()) != coords || task.x[0].numel() != m) {
      throw internal_error("invariance-learning: λ of shape " + lambda.shape().str() + " or a task without its " +
                           std::to_string(coords) + " noise tensors of " + std::to_string(m) + " rows");
    }
    const auto noise_times = [&](size_t c, int64_t l) { return ad::mul(ad::constant(task.x[c]), ad::view(lambda, l, Shape{1})); };
    const ad::Var phi = noise_times(0, 0);  // (m, 1)
    ad::Var cosine = ad::cos(phi), sine = ad::sin(phi);
    if (dims_ >= 3) {
      const ad::Var s = ad::exp(noise_times(3, 2));
      cosine = ad::mul(s, cosine);
      sine = ad::mul(s, sine);
    }
    const ad::Var zero = ad::constant(Tensor(Shape{m, 1}));
    const ad::Var tx = dims_ >= 2 ? noise_times(1, 1) : zero, ty = dims_ >= 2 ? noise_times(2, 1) : zero;
    return ad::concat({cosine, ad::neg(sine), tx, sine, cosine, ty}, 1);
  }

  ad::Var with_l2(const ad::Var& theta, ad::Var loss) const {
    if (l2_ > 0) loss = ad::add(loss, ad::scale(ad::sum(ad::square(theta)), l2_ / 2));
    return loss;
  }

  // θ trained from θ₀ for eval_inner_steps under λ with the evaluation noise; its validation and test scores.
  std::pair<classification::Score, classification::Score> train_and_score(const Tensor& lambda) const {
    const ad::Var la = ad::constant(lambda);
    ad::Var augmented;  // the warped, flattened training images: constant under a fixed λ
    {
      ad::NoGradGuard no_grad;
      const ad::Var x = ad::affine_warp(train_rep_, maps(la, eval_task_));
      augmented = ad::constant(ad::sub(ad::reshape(x, Shape{x.shape()[0], side_ * side_}), mean_).value());
    }
    const Tensor theta = gradient_descent(
        [&](const ad::Var& th) { return with_l2(th, ad::softmax_cross_entropy(model_->forward(th, augmented), rep_labels_)); },
        theta0_, eval_steps_, lr_, /*stop_when_non_finite=*/true);
    return {classification::score(*model_, theta, val_), classification::score(*model_, theta, test_)};
  }

  struct Baselines {
    classification::Score none_val, none_test, fixed_val, fixed_test;
  };
  const Baselines& baselines() const {
    std::call_once(baselines_once_, [&] {
      const Tensor none = gradient_descent(
          [&](const ad::Var& th) { return with_l2(th, ad::softmax_cross_entropy(model_->forward(th, plain_train_.x), plain_train_.y)); },
          theta0_, eval_steps_, lr_, /*stop_when_non_finite=*/true);
      baselines_.none_val = classification::score(*model_, none, val_);
      baselines_.none_test = classification::score(*model_, none, test_);
      Tensor fixed(Shape{dims_});
      fixed[0] = static_cast<real>(fixed_rotation_);
      std::tie(baselines_.fixed_val, baselines_.fixed_test) = train_and_score(fixed);
    });
    return baselines_;
  }

  int64_t steps_, eval_steps_;
  real lr_, l2_;
  int64_t k_;
  double true_rotation_, fixed_rotation_;
  std::string transforms_;
  int64_t dims_ = 1;
  std::vector<double> init_;
  images::Images train_;
  classification::LabelledSet val_, test_, plain_train_;
  ad::Var mean_, train_rep_;
  std::vector<int64_t> rep_labels_;
  int64_t side_ = 0, classes_ = 0;
  std::string dataset_;
  std::unique_ptr<nn::Model> model_;
  Tensor theta0_;
  Task eval_task_;
  mutable std::once_flag baselines_once_;
  mutable Baselines baselines_;
};

std::unique_ptr<Problem> make_invariance(const Options& o, uint64_t seed) {
  return std::make_unique<InvarianceProblem>(o, seed);
}

}  // namespace

ProblemInfo invariance_learning_problem_info() {
  ProblemInfo info;
  info.name = "invariance-learning";
  info.description =
      "Augerino-style learned augmentation: λ = half-widths of random rotations (translations, scalings) applied to "
      "the training digits by a differentiable warp; data rotated by U[−R, R]; L_V = validation cross-entropy";
  info.options = {
      opt_choice("dataset", "mnist", {"mnist", "fashion"}, "dataset of square images (bilevel-opt datasets list)"),
      images::image_size_option(14),
      opt_choice("model", "logreg", {"logreg", "mlp"}, "classifier: multinomial logistic regression, or a 1-hidden-layer ReLU MLP"),
      opt_int("hidden", 64, "hidden units of the MLP (model=mlp)", 1, 100000),
      opt_int("n_train", 500, "training images (each augmented augment_samples times)", 1, 100000),
      opt_int("n_val", 1000, "validation images (rotated like the rest, not augmented)", 1, 1000000),
      opt_int("n_test", 2000, "test images (0 = the whole test pool)", 0, 1000000),
      opt_real("true_rotation", 60, "R: every image is rotated by an angle drawn from U[−R, R] degrees", 0, 180),
      opt_bool("rotate_train", true,
               "rotate the training images too (false: only validation and test are rotated, so the augmentation must "
               "supply the rotations)"),
      opt_choice("transforms", "rotation", {"rotation", "rotation+translation", "rotation+translation+scale"},
                 "which half-widths λ holds (H = 1, 2, 3)"),
      opt_int("augment_samples", 2, "K: augmented copies of each training image per task", 1, 64),
      opt_real("rotation_init", 10, "initial rotation half-width λ_φ in degrees", 0, 180),
      opt_real("translation_init", 0.05, "initial translation half-width λ_t (1 = half the image)", 0, 1),
      opt_real("scale_init", 0.05, "initial log-scale half-width λ_s", 0, 1),
      opt_real("fixed_rotation", 30, "the hand-chosen baseline's rotation half-width in degrees", 0, 180),
      opt_int("inner_steps", 50, "inner full-batch GD steps r", 1, 1000000),
      opt_real("inner_lr", 1.0, "inner step size α", 0, 100, true),
      opt_real("l2", 1e-3, "L2 coefficient of the inner loss, (l2/2)‖θ‖²", 0, 1e6),
      opt_choice("theta0", "random", {"random", "zeros"}, "inner initial point: the model's init from the instance seed, or zeros"),
      opt_int("eval_inner_steps", -1, "inner steps when evaluating λ and the baselines (-1 = inner_steps)", -1, 10000000),
      classification::data_dir_option(),
      classification::verify_checksums_option(),
  };
  info.make = make_invariance;
  info.metrics = {"val_loss",         "val_acc",      "test_acc",      "rotation_deg",   "true_rotation_deg",
                  "rotation_rel_error", "translation", "log_scale",     "none_test_acc",  "none_val_loss",
                  "fixed_test_acc",   "fixed_val_loss"};
  info.run_defaults = {{"outer_opt", "adam"}, {"outer_lr", "0.05"}, {"eval_every", "10"}};
  return info;
}

}  // namespace bilevel
