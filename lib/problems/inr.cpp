// `inr`: meta-learning the initialisation of an implicit neural representation (Tancik et al. 2021, "Learned
// initializations for optimizing coordinate-based neural representations": MAML over the weights of a coordinate
// network, a few plain gradient steps per image, PSNR after them). A task is one image; the network (nn::Siren:
// sine activations, coordinates (row, column) ∈ [−1, 1]² → intensity) fits it from all its pixels:
//
//   θ₀ = λ (the meta-learned initialisation, H = P)
//   L_T(θ) = L_V(θ) = mean over the image's pixels of (f_θ(coordinate) − intensity)²     (intensities in [0, 1])
//
// and θ_r after r = inner_steps steps of gradient descent is scored by L_V — as in the reference, the outer loss is the
// fitting error on the same image after the inner steps. Training images come from the dataset's training pool (any
// of them, drawn per task), evaluation images are the first eval_images of its test pool (held out).
//
// Evaluation: `psnr` = mean over the evaluation images of 10·log10(1/MSE) after eval_inner_steps steps from λ;
// `psnr_random_init` the same from the network's standard (Siren) initialisation drawn from the instance seed (the
// baseline); `psnr_preadapt` at λ itself, before any step.
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "nn/siren.hpp"
#include "optim/gradient_descent.hpp"
#include "problems/classification_detail.hpp"
#include "problems/image_detail.hpp"
#include "problems/meta_init.hpp"

namespace bilevel {

namespace {

constexpr uint64_t kInrInitStream = 0x696e7249ULL;  // the baseline's random initialisation, and λ's default

class InrProblem final : public MetaInitProblem {
 public:
  InrProblem(const Options& o, uint64_t seed)
      : steps_(o.get_int("inner_steps")),
        eval_steps_(o.get_int("eval_inner_steps") < 0 ? steps_ : o.get_int("eval_inner_steps")),
        lr_(static_cast<real>(o.get_real("inner_lr"))),
        model_(layer_sizes(o.get_int("hidden"), o.get_int("layers")), o.get_real("omega0")) {
    const std::string dataset = o.get_string("dataset");
    src_ = std::make_shared<images::Source>(images::load_source("inr", dataset, o.get_string("data_dir"),
                                                                o.get_bool("verify_checksums"), o.get_int("image_size")));
    const int64_t n_eval = o.get_int("eval_images");
    images::require_examples("inr", dataset, "test", src_->ds.test.n, n_eval, "eval_images");
    const int64_t s = src_->out_side;
    Tensor coords(Shape{s * s, 2});
    for (int64_t i = 0; i < s; ++i)
      for (int64_t j = 0; j < s; ++j) {
        coords[(i * s + j) * 2 + 0] = static_cast<real>(-1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(s - 1));
        coords[(i * s + j) * 2 + 1] = static_cast<real>(-1.0 + 2.0 * static_cast<double>(j) / static_cast<double>(s - 1));
      }
    coords_ = ad::constant(std::move(coords));
    std::vector<int64_t> eval_index(static_cast<size_t>(n_eval));
    for (int64_t i = 0; i < n_eval; ++i) eval_index[static_cast<size_t>(i)] = i;
    const images::Images ev = images::take(*src_, src_->ds.test, eval_index);
    for (int64_t i = 0; i < n_eval; ++i) eval_pixels_.push_back(pixels_of(ev.x, i));
    Rng init_rng(seed, {kInrInitStream});
    random_init_ = model_.init(init_rng);
  }

  std::string name() const override { return "inr"; }
  int64_t theta_dim() const override { return model_.num_params(); }
  int64_t lambda_dim() const override { return model_.num_params(); }
  InnerConfig inner() const override { return InnerConfig{steps_, lr_}; }
  // The Siren initialisation, drawn from `rng`.
  Tensor init_lambda(Rng& rng) const override { return model_.init(rng); }
  // One training-pool image, drawn uniformly: Task.y = {its (s², 1) intensities}.
  Task sample_task(Rng& rng) const override {
    const int64_t i = rng.randint(src_->ds.train.n);
    const images::Images im = images::take(*src_, src_->ds.train, {i});
    Task t;
    t.y.push_back(pixels_of(im.x, 0));
    t.id = i;
    return t;
  }


  Metrics evaluate(const Tensor& lambda) const override {
    if (lambda.numel() != model_.num_params()) {
      throw internal_error("inr: λ has " + std::to_string(lambda.numel()) + " elements, expected " +
                           std::to_string(model_.num_params()));
    }
    const auto [pre, post] = mean_psnr(lambda);
    std::call_once(baseline_once_, [&] { baseline_psnr_ = mean_psnr(random_init_).second; });
    return {{"psnr", post}, {"psnr_random_init", baseline_psnr_}, {"psnr_preadapt", pre}};
  }

  // λ is the network's initialisation: the model's parameter layout.
  nlohmann::json lambda_layout() const override { return model_.layout().to_json(); }

  nlohmann::json describe() const override {
    return {{"model", model_.describe()},
            {"layout", model_.layout().to_json()},
            {"dataset", src_->ds.name},
            {"source", src_->ds.source},
            {"image_size", src_->out_side},
            {"tasks", "one training-pool image per task, fitted from all its pixels"},
            {"eval_images", eval_pixels_.size()},
            {"eval_inner_steps", eval_steps_},
            {"inner_loss", "mean squared error over the image's pixels (intensities in [0, 1])"},
            {"outer_loss", "the same, after the inner steps"}};
  }

 private:
  static std::vector<int64_t> layer_sizes(int64_t hidden, int64_t layers) {
    std::vector<int64_t> sizes = {2};
    for (int64_t l = 0; l < layers; ++l) sizes.push_back(hidden);
    sizes.push_back(1);
    return sizes;
  }
  // Image i of a (n, s, s, 1) batch as (s², 1).
  Tensor pixels_of(const Tensor& x, int64_t i) const {
    const int64_t d = src_->out_side * src_->out_side;
    Tensor p(Shape{d, 1});
    std::copy(x.data() + i * d, x.data() + (i + 1) * d, p.data());
    return p;
  }
  // The fitting error on the task's image, for both parts: L_V scores the fit after the inner steps.
  ad::Var task_loss(const ad::Var& theta, const Task& task, TaskPart part) const override {
    (void)part;
    return fit_error(theta, task);
  }
  ad::Var fit_error(const ad::Var& theta, const Task& task) const {
    if (task.y.size() != 1 || task.y[0].numel() != coords_.shape()[0]) {
      throw internal_error("inr: a task needs y = {its (" + std::to_string(coords_.shape()[0]) + ", 1) pixels}");
    }
    return ad::mse(model_.forward(theta, coords_), ad::constant(task.y[0]));
  }
  // Mean PSNR over the evaluation images before and after eval_inner_steps steps from `init`.
  std::pair<double, double> mean_psnr(const Tensor& init) const {
    const auto psnr = [](double mse) { return 10.0 * std::log10(1.0 / mse); };
    double pre = 0, post = 0;
    for (const Tensor& pixels : eval_pixels_) {
      Task t;
      t.y.push_back(pixels);
      const auto loss = [&](const ad::Var& th) { return fit_error(th, t); };
      const Tensor theta = gradient_descent(loss, init, eval_steps_, lr_, /*stop_when_non_finite=*/true);
      ad::NoGradGuard no_grad;
      pre += psnr(static_cast<double>(loss(ad::constant(init)).item()));
      post += psnr(static_cast<double>(loss(ad::constant(theta)).item()));
    }
    const auto n = static_cast<double>(eval_pixels_.size());
    return {pre / n, post / n};
  }

  int64_t steps_, eval_steps_;
  real lr_;
  nn::Siren model_;
  std::shared_ptr<const images::Source> src_;
  ad::Var coords_;
  std::vector<Tensor> eval_pixels_;
  Tensor random_init_;
  mutable std::once_flag baseline_once_;
  mutable double baseline_psnr_ = 0;
};

std::unique_ptr<Problem> make_inr(const Options& o, uint64_t seed) { return std::make_unique<InrProblem>(o, seed); }

}  // namespace

ProblemInfo inr_problem_info() {
  ProblemInfo info;
  info.name = "inr";
  info.description =
      "meta-learned initialisation of a Siren (sine-activation coordinate MLP) that fits one MNIST/Fashion image per "
      "task in r GD steps; L_V = the image's pixel MSE after them; PSNR vs the random initialisation";
  info.options = {
      opt_choice("dataset", "mnist", {"mnist", "fashion"}, "dataset of square images (bilevel-opt datasets list)"),
      images::image_size_option(28),
      opt_int("hidden", 32, "width of each hidden sine layer", 1, 4096),
      opt_int("layers", 2, "hidden sine layers", 1, 16),
      opt_real("omega0", 30, "ω₀: the sine layers compute sin(ω₀·(hW + b))", 0, 1000, true),
      opt_int("inner_steps", 5, "inner GD steps r on the image's pixels", 1, 10000),
      opt_real("inner_lr", 0.01, "inner step size α", 0, 100, true),
      opt_int("eval_images", 50, "held-out test-pool images scored by evaluation", 1, 100000),
      opt_int("eval_inner_steps", -1, "GD steps per image at evaluation (-1 = inner_steps)", -1, 100000),
      classification::data_dir_option(),
      classification::verify_checksums_option(),
  };
  info.make = make_inr;
  info.metrics = {"psnr", "psnr_random_init", "psnr_preadapt"};
  info.run_defaults = {{"outer_opt", "adam"}, {"outer_lr", "0.0001"}, {"meta_batch", "4"}, {"eval_every", "10"}};
  return info;
}

}  // namespace bilevel
