// `fewshot`: N-way K-shot image classification with a Conv4 backbone, meta-learning its initialization
// (MAML; Finn et al. 2017 §5.2, and the UFOM paper's Omniglot protocol).
//
// Data: a character dataset (data/fewshot.hpp): Omniglot folders on disk, or the `hanzi` stroke-drawn stand-in
// that `make data` fetches. Meta-training tasks draw their classes from the split's training side (with 90°
// rotations as new classes by default); evaluation uses a fixed set of held-out tasks drawn from the instance seed.
//
// λ is the meta-initialization of Conv4 (θ₀ = λ). The inner loop is r steps of plain SGD (lr α) on the support
// cross-entropy (mean over the N·K support images, or summed as in the UFOM code), optionally plus iMAML's
// proximal term (γ/2)‖θ − λ‖², which puts λ into the inner loss and so lets implicit differentiation (ift-cg,
// ift-neumann) apply. The outer loss is the query cross-entropy at θ_r. Batch norm uses the statistics of the
// batch it is given (transductive, as in MAML and UFOM): the support set in the inner loop, the query set in the
// outer loss, and likewise at evaluation.
#include <oneapi/tbb/parallel_for.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "data/fewshot.hpp"
#include "nn/model.hpp"
#include "optim/gradient_descent.hpp"
#include "problems/problem.hpp"

namespace bilevel {

namespace {

constexpr uint64_t kFewshotEvalStream = 0x66736576616cULL;  // "fseval": the held-out evaluation tasks

struct FewshotConfig {
  data::GlyphOptions glyphs;
  data::SplitOptions split;
  data::TaskShape shape;
  int64_t filters = 64, steps = 5, eval_steps = 5, eval_tasks = 600;
  real lr = real(0.1), proximal = 0;
  bool sum_loss = false;
  nn::Downsample downsample = nn::Downsample::stride;
};

class FewshotProblem final : public Problem {
 public:
  FewshotProblem(FewshotConfig cfg, uint64_t seed)
      : cfg_(std::move(cfg)), set_(data::load_glyphs(cfg_.glyphs)),
        model_(set_.side, set_.side, 1, cfg_.filters, cfg_.shape.ways, cfg_.downsample) {
    cfg_.split.seed = seed;
    split_ = data::split_glyphs(set_, cfg_.split);
    data::check_task_shape(set_, split_.train, cfg_.shape, "meta-training");
    data::check_task_shape(set_, split_.test, cfg_.shape, "held-out");
    eval_plans_ = data::evaluation_plans(set_, split_.test, cfg_.shape, cfg_.eval_tasks, seed ^ kFewshotEvalStream);
  }

  std::string name() const override { return "fewshot"; }
  int64_t theta_dim() const override { return model_.num_params(); }
  int64_t lambda_dim() const override { return model_.num_params(); }
  InnerConfig inner() const override { return InnerConfig{cfg_.steps, cfg_.lr}; }

  Tensor init_lambda(Rng& rng) const override { return model_.init(rng); }

  // Task.x = {support_x, query_x} (NHWC), Task.labels = {support_y, query_y}.
  Task sample_task(Rng& rng) const override {
    return to_task(data::build_task(set_, data::plan_task(set_, split_.train, cfg_.shape, rng)));
  }

  ad::Var theta0(const ad::Var& lambda, const Task& task) const override {
    (void)task;
    return lambda;
  }
  ad::Var inner_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    ad::Var loss = split_loss(theta, task, 0);
    if (cfg_.proximal > 0) {
      loss = ad::add(loss, ad::scale(ad::sum(ad::square(ad::sub(theta, lambda))), cfg_.proximal / 2));
    }
    return loss;
  }
  ad::Var outer_loss(const ad::Var& theta, const ad::Var& lambda, const Task& task) const override {
    (void)lambda;
    return split_loss(theta, task, 1);
  }

  bool theta0_is_lambda() const override { return true; }
  bool lambda_in_inner_loss() const override { return cfg_.proximal > 0; }
  // ∂²/∂θ∂λ of (γ/2)‖θ − λ‖² is −γI.
  bool mixed_partial_diagonal() const override { return cfg_.proximal > 0; }

  // On the fixed held-out tasks: adapt λ with eval_inner_steps steps of the inner loop (proximal term included),
  // then score the query set. test_acc is the mean query accuracy, test_acc_ci95 the half-width of its 95%
  // confidence interval over the tasks, test_loss the mean query cross-entropy (per image, whatever `loss` is).
  // Tasks are adapted in parallel and reduced in task order: the same bits for any thread count.
  Metrics evaluate(const Tensor& lambda) const override {
    if (lambda.numel() != model_.num_params()) {
      throw internal_error("fewshot: λ has " + std::to_string(lambda.numel()) + " elements, expected " +
                           std::to_string(model_.num_params()));
    }
    const size_t n = eval_plans_.size();
    std::vector<double> acc(n), loss(n);
    oneapi::tbb::parallel_for(size_t{0}, n, [&](size_t i) {
      const Task task = to_task(data::build_task(set_, eval_plans_[i]));
      const ad::Var lam = ad::constant(lambda);
      const Tensor theta = gradient_descent([&](const ad::Var& th) { return inner_loss(th, lam, task); }, lambda,
                                            cfg_.eval_steps, cfg_.lr, /*stop_when_non_finite=*/true);
      ad::NoGradGuard no_grad;
      const ad::Var logits = model_.forward(ad::constant(theta), ad::constant(task.x[1]));
      const std::vector<int64_t>& y = task.labels[1];
      loss[i] = static_cast<double>(ad::softmax_cross_entropy(logits, y).item());
      const Tensor& z = logits.value();
      const int64_t c = z.shape()[1];
      int64_t right = 0;
      for (size_t r = 0; r < y.size(); ++r) {
        const real* row = z.data() + static_cast<int64_t>(r) * c;
        int64_t best = 0;
        for (int64_t j = 1; j < c; ++j)
          if (row[j] > row[best]) best = j;
        right += best == y[r] ? 1 : 0;
      }
      // A diverged θ scores NaN rather than a lucky argmax over NaN logits.
      acc[i] = theta.all_finite() ? static_cast<double>(right) / static_cast<double>(y.size()) : std::nan("");
    });
    const data::MeanCI ci = data::mean_ci95(acc);
    double total = 0;
    for (double l : loss) total += l;
    return {{"test_acc", ci.mean}, {"test_acc_ci95", ci.half_width}, {"test_loss", total / static_cast<double>(n)}};
  }

  nlohmann::json lambda_layout() const override { return model_.layout().to_json(); }

  nlohmann::json describe() const override {
    return {{"model", model_.describe()},
            {"layout", model_.layout().to_json()},
            {"dataset", set_.name},
            {"source", set_.description},
            {"split", split_.describe()},
            {"tasks",
             {{"ways", cfg_.shape.ways},
              {"shots", cfg_.shape.shots},
              {"query", cfg_.shape.queries},
              {"support", "ways*shots images (inner loss)"},
              {"query_set", "ways*query images (outer loss)"}}},
            {"inner_loss", std::string(cfg_.sum_loss ? "summed" : "mean") + " support cross-entropy" +
                               (cfg_.proximal > 0 ? " + proximal/2 * |theta - lambda|^2" : "")},
            {"outer_loss", std::string(cfg_.sum_loss ? "summed" : "mean") + " query cross-entropy"},
            {"batch_norm", "batch statistics of the batch evaluated (transductive)"},
            {"eval_tasks", eval_plans_.size()},
            {"eval_inner_steps", cfg_.eval_steps}};
  }

 private:
  static Task to_task(data::FewShotTask t) {
    Task task;
    task.x = {std::move(t.support_x), std::move(t.query_x)};
    task.labels = {std::move(t.support_y), std::move(t.query_y)};
    return task;
  }
  ad::Var split_loss(const ad::Var& theta, const Task& task, size_t part) const {
    if (task.x.size() != 2 || task.labels.size() != 2) {
      throw internal_error("fewshot: a task needs x = {support_x, query_x} and labels = {support_y, query_y}");
    }
    const ad::Var logits = model_.forward(theta, ad::constant(task.x[part]));
    return ad::softmax_cross_entropy(logits, task.labels[part], ad::Var(), cfg_.sum_loss);
  }

  FewshotConfig cfg_;
  data::GlyphSet set_;
  data::GlyphSplit split_;
  nn::Conv4 model_;
  std::vector<data::TaskPlan> eval_plans_;
};

std::unique_ptr<Problem> make_fewshot(const Options& o, uint64_t seed) {
  FewshotConfig c;
  c.glyphs.dataset = o.get_string("dataset");
  c.glyphs.data_dir = o.get_string("data_dir");
  c.glyphs.verify_checksums = o.get_bool("verify_checksums");
  c.glyphs.side = o.get_int("side");
  c.split.kind = o.is_word("split", "reptile") ? data::SplitOptions::Kind::reptile : data::SplitOptions::Kind::background;
  c.split.reptile_train = o.get_int("reptile_train");
  c.split.rotate_train = o.get_bool("rotations");
  c.shape = {o.get_int("ways"), o.get_int("shots"), o.get_int("query")};
  c.filters = o.get_int("filters");
  c.downsample = nn::downsample_from_name(o.get_string("downsample"));
  c.steps = o.get_int("inner_steps");
  c.eval_steps = o.get_int("eval_inner_steps") < 0 ? c.steps : o.get_int("eval_inner_steps");
  c.lr = static_cast<real>(o.get_real("inner_lr"));
  c.sum_loss = o.is_word("loss", "sum");
  c.proximal = static_cast<real>(o.get_real("proximal"));
  c.eval_tasks = o.get_int("eval_tasks");
  if (c.downsample == nn::Downsample::maxpool && c.glyphs.side < 16) {
    throw option_error("fewshot: downsample=maxpool halves the image four times and needs side ≥ 16 (got " +
                       std::to_string(c.glyphs.side) + "); use downsample=stride or a larger side");
  }
  return std::make_unique<FewshotProblem>(std::move(c), seed);
}

}  // namespace

ProblemInfo fewshot_problem_info() {
  ProblemInfo info;
  info.name = "fewshot";
  info.description =
      "N-way K-shot character classification (Omniglot folders or the hanzi stand-in), Conv4 meta-initialization; "
      "optional iMAML proximal term";
  info.options = {
      opt_choice("dataset", "auto", {"auto", "hanzi", "omniglot"},
                 "character data: Omniglot folders (images_background/…) or the hanzi stand-in; auto = omniglot when "
                 "data_dir holds images_background"),
      opt_string("data_dir", "", "data directory (empty: $BILEVEL_DATA, else ./data); `make data` fetches hanzi"),
      opt_bool("verify_checksums", true, "hanzi: check medians.jsonl's sha256 against the manifest when loading"),
      opt_int("side", 28, "images are resized or drawn to side × side", 8, 512),
      opt_choice("split", "background", {"background", "reptile"},
                 "meta-training vs held-out characters: the dataset's own (Omniglot images_background/evaluation, "
                 "hanzi stroke counts) or Reptile's seeded shuffle (reptile_train characters for training)"),
      opt_int("reptile_train", 1200, "split=reptile: characters for meta-training", 1, 1000000),
      opt_bool("rotations", true, "meta-training classes include each character turned by 90°, 180°, 270°"),
      opt_int("ways", 5, "classes per task (N)", 2, 1000),
      opt_int("shots", 1, "support images per class (K)", 1, 1000),
      opt_int("query", 1, "query images per class (UFOM's protocol: 1)", 1, 1000),
      opt_int("filters", 64, "convolution filters per block", 1, 1024),
      opt_choice("downsample", "stride", {"stride", "maxpool"},
                 "stride: 3×3 conv with stride 2 (UFOM's Omniglot Conv4); maxpool: stride 1 then 2×2 max-pool (MAML)"),
      opt_int("inner_steps", 5, "inner SGD steps r on the support set", 1, 10000),
      opt_real("inner_lr", 0.1,
               "inner step size α (mean loss; MAML used 0.4 for one step, 0.1 for five; UFOM 0.005 on its summed loss)",
               0, 100, true),
      opt_choice("loss", "mean", {"mean", "sum"},
                 "cross-entropy over a batch: mean, or summed as in the UFOM code (scales the gradients by the batch)"),
      opt_real("proximal", 0.0,
               "iMAML's γ: adds (γ/2)‖θ − λ‖² to the inner loss, so ift-cg and ift-neumann apply (0 = off)", 0, 1e6),
      opt_int("eval_tasks", 600, "fixed held-out evaluation tasks (drawn from the instance seed)", 1, 1000000),
      opt_int("eval_inner_steps", -1, "adaptation steps at evaluation (-1 = inner_steps)", -1, 100000),
  };
  info.make = make_fewshot;
  info.metrics = {"test_acc", "test_acc_ci95", "test_loss"};
  info.run_defaults = {{"outer_opt", "adam"}, {"outer_lr", "0.001"}, {"meta_batch", "5"}, {"eval_every", "100"}};
  return info;
}

}  // namespace bilevel
