#pragma once
// Shared by the classification HPO problems (hpo-l2, hyper-cleaning): dataset splits held as constant
// graph leaves, models, scores, and the fixed-task base class. Internal to lib/problems. (Their inner loop is
// optim/gradient_descent.hpp; evaluations stop it once θ is not finite, so a diverged θ scores NaN, logged
// as null.)
//
// Data: load_dataset (lib/data) gives a training pool and a test pool. A seeded permutation of the training
// pool (the instance seed, so the subsets stay fixed across --seed) gives disjoint training and validation
// subsets; the test set is the test pool (its first n_test examples when n_test > 0). Features: divided by
// the manifest's `scale` and centred by the training pool's per-feature mean (images: pixels/255 − mean
// pixel), or standardised per feature when scale = 0 (the small tables). Centring keeps full-batch GD on a
// linear model well conditioned: the largest Hessian eigenvalue of the mean cross-entropy on raw [0, 1]
// MNIST pixels is about ½·‖mean image‖² ≈ 25 (step sizes ≲ 0.08), after centring about 2.5.
//
// Thread safety: the split tensors are wrapped once in constant Vars. Constants are never visited or
// written by grad(), so graphs built concurrently on several threads may share them.
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "autodiff/functional.hpp"
#include "autodiff/ops.hpp"
#include "data/data_dir.hpp"
#include "data/datasets.hpp"
#include "nn/model.hpp"
#include "problems/problem.hpp"
#include "base/options.hpp"
#include "tensor/rng.hpp"

namespace bilevel::classification {

struct LabelledSet {
  ad::Var x;                // constant (n, d)
  std::vector<int64_t> y;   // n labels
  int64_t n() const { return static_cast<int64_t>(y.size()); }
};

struct Splits {
  LabelledSet train, val, test;
  int64_t features = 0, classes = 0;
  std::string dataset, source;
  std::vector<int64_t> train_index, val_index;  // positions in the dataset's training pool
};

// Option specs both problems share.
inline OptionSpec data_dir_option() {
  return opt_string("data_dir", "",
                    "data directory (empty: $BILEVEL_DATA, else ./data); `make data` fetches and verifies it");
}
inline OptionSpec verify_checksums_option() {
  return opt_bool("verify_checksums", true,
                  "check every data file's sha256 against the manifest when loading (about 0.3 s for MNIST)");
}

// Rows `index` of the pool as a preprocessed (k, d) tensor.
inline Tensor gather_rows(const data::Examples& pool, const std::vector<int64_t>& index, const std::vector<double>& mean,
                          const std::vector<double>& inv_scale) {
  const int64_t k = static_cast<int64_t>(index.size()), d = pool.d;
  Tensor x(Shape{k, d});
  for (int64_t r = 0; r < k; ++r) {
    const float* src = pool.x.data() + index[static_cast<size_t>(r)] * d;
    real* dst = x.data() + r * d;
    for (int64_t c = 0; c < d; ++c)
      dst[c] = static_cast<real>((static_cast<double>(src[c]) - mean[static_cast<size_t>(c)]) *
                                 inv_scale[static_cast<size_t>(c)]);
  }
  return x;
}

inline LabelledSet make_set(const data::Examples& pool, const std::vector<int64_t>& index,
                            const std::vector<double>& mean, const std::vector<double>& inv_scale) {
  LabelledSet s;
  s.x = ad::constant(gather_rows(pool, index, mean, inv_scale));
  s.y.reserve(index.size());
  for (int64_t i : index) s.y.push_back(pool.y[static_cast<size_t>(i)]);
  return s;
}

// Loads the dataset and draws the subsets with `rng`. Throws option_error when the pool is too small for
// n_train + n_val (or n_test), naming the sizes; data_error (from lib/data) when files are missing or bad.
inline Splits make_splits(const std::string& problem, const std::string& dataset, const std::string& data_dir_option,
                          bool verify, int64_t n_train, int64_t n_val, int64_t n_test, Rng& rng) {
  const std::string dir = data::resolve_data_dir(data_dir_option);
  const data::Dataset ds = data::load_dataset(dataset, dir, verify);
  if (n_train + n_val > ds.train.n) {
    throw option_error(problem + ": dataset " + dataset + " has " + std::to_string(ds.train.n) +
                       " examples in its training pool, fewer than n_train + n_val = " + std::to_string(n_train) +
                       " + " + std::to_string(n_val) + " (lower n_train or n_val)");
  }
  if (n_test > ds.test.n) {
    throw option_error(problem + ": dataset " + dataset + " has " + std::to_string(ds.test.n) +
                       " test examples, fewer than n_test = " + std::to_string(n_test) + " (0 = all)");
  }
  const int64_t d = ds.features;
  std::vector<double> mean(static_cast<size_t>(d), 0.0), inv_scale(static_cast<size_t>(d), 1.0);
  for (int64_t r = 0; r < ds.train.n; ++r)
    for (int64_t c = 0; c < d; ++c) mean[static_cast<size_t>(c)] += ds.train.x[static_cast<size_t>(r * d + c)];
  for (auto& m : mean) m /= static_cast<double>(ds.train.n);
  if (ds.scale > 0) {
    for (auto& s : inv_scale) s = 1.0 / ds.scale;
  } else {
    std::vector<double> var(static_cast<size_t>(d), 0.0);
    for (int64_t r = 0; r < ds.train.n; ++r)
      for (int64_t c = 0; c < d; ++c) {
        const double v = ds.train.x[static_cast<size_t>(r * d + c)] - mean[static_cast<size_t>(c)];
        var[static_cast<size_t>(c)] += v * v;
      }
    for (int64_t c = 0; c < d; ++c) {
      const double sd = std::sqrt(var[static_cast<size_t>(c)] / static_cast<double>(ds.train.n));
      inv_scale[static_cast<size_t>(c)] = sd > 0 ? 1.0 / sd : 1.0;
    }
  }
  Splits s;
  s.features = d;
  s.classes = ds.classes;
  s.dataset = ds.name;
  s.source = ds.source;
  const std::vector<int64_t> perm = rng.permutation(ds.train.n);
  s.train_index.assign(perm.begin(), perm.begin() + n_train);
  s.val_index.assign(perm.begin() + n_train, perm.begin() + n_train + n_val);
  std::vector<int64_t> test_index(static_cast<size_t>(n_test > 0 ? n_test : ds.test.n));
  for (size_t i = 0; i < test_index.size(); ++i) test_index[i] = static_cast<int64_t>(i);
  s.train = make_set(ds.train, s.train_index, mean, inv_scale);
  s.val = make_set(ds.train, s.val_index, mean, inv_scale);
  s.test = make_set(ds.test, test_index, mean, inv_scale);
  return s;
}

// Rows `batch` (positions in `set`) of a set as a new constant, and their labels.
inline LabelledSet subset(const LabelledSet& set, const std::vector<int64_t>& batch) {
  const Tensor& x = set.x.value();
  const int64_t d = x.dim(1);
  Tensor bx(Shape{static_cast<int64_t>(batch.size()), d});
  LabelledSet out;
  for (size_t r = 0; r < batch.size(); ++r) {
    const int64_t i = batch[r];
    if (i < 0 || i >= set.n()) {
      throw internal_error("minibatch index " + std::to_string(i) + " outside [0, " + std::to_string(set.n()) + ")");
    }
    std::copy(x.data() + i * d, x.data() + (i + 1) * d, bx.data() + static_cast<int64_t>(r) * d);
    out.y.push_back(set.y[static_cast<size_t>(i)]);
  }
  out.x = ad::constant(std::move(bx));
  return out;
}

// Symmetric label noise: exactly round(rate·n) examples of `set`, chosen by a permutation drawn from `rng`,
// get a label drawn uniformly from the other classes (in permutation order). Returns which were changed.
inline std::vector<bool> corrupt_labels(LabelledSet& set, double rate, int64_t classes, Rng& rng) {
  const int64_t n = set.n();
  const std::vector<int64_t> perm = rng.permutation(n);
  const auto n_bad = static_cast<int64_t>(std::llround(rate * static_cast<double>(n)));
  std::vector<bool> corrupted(static_cast<size_t>(n), false);
  for (int64_t k = 0; k < n_bad; ++k) {
    const auto i = static_cast<size_t>(perm[static_cast<size_t>(k)]);
    corrupted[i] = true;
    const int64_t shift = 1 + rng.randint(classes - 1);
    set.y[i] = (set.y[i] + shift) % classes;
  }
  return corrupted;
}

// "logreg": multinomial logistic regression (nn::Linear d → classes); "mlp": d-hidden-classes, ReLU.
inline std::unique_ptr<nn::Model> make_model(const std::string& kind, int64_t features, int64_t classes, int64_t hidden) {
  if (kind == "logreg") return std::make_unique<nn::Linear>(features, classes);
  if (kind == "mlp") return std::make_unique<nn::Mlp>(std::vector<int64_t>{features, hidden, classes}, nn::Activation::relu);
  throw option_error("option 'model': '" + kind + "' is not one of: logreg, mlp");
}

// Cross-entropy of the model's logits on (x, y): the mean, or (1/n) Σ wᵢ CEᵢ with per-example `weights` (n,). For a
// linear model (θ = [W; b], nn::Linear's layout) the fused ad::linear_cross_entropy: its gradient comes with the
// loss from one pass over x, and each Hessian-vector product takes one more (unfused: two each); other models go
// through forward and softmax_cross_entropy. Both compute the same function.
inline ad::Var data_loss(const nn::Model& model, const ad::Var& theta, const ad::Var& x, const std::vector<int64_t>& y,
                         const ad::Var& weights = ad::Var()) {
  if (const auto* linear = dynamic_cast<const nn::Linear*>(&model)) {
    if (theta.rank() != 1 || theta.numel() != model.num_params() || x.rank() != 2 || x.shape()[1] != linear->in_features()) {
      throw internal_error("data_loss: θ of shape " + theta.shape().str() + " and data of shape " + x.shape().str() +
                           " for " + model.describe());
    }
    return ad::linear_cross_entropy(x, theta, y, weights);
  }
  return ad::softmax_cross_entropy(model.forward(theta, x), y, weights);
}
inline ad::Var data_loss(const nn::Model& model, const ad::Var& theta, const LabelledSet& set,
                         const ad::Var& weights = ad::Var()) {
  return data_loss(model, theta, set.x, set.y, weights);
}

struct Score {
  double loss = 0, acc = 0;
};
// Mean cross-entropy and accuracy of θ on a set (no graph).
inline Score score(const nn::Model& model, const Tensor& theta, const LabelledSet& set) {
  ad::NoGradGuard no_grad;
  const ad::Var logits = model.forward(ad::constant(theta), set.x);
  Score s;
  s.loss = static_cast<double>(ad::softmax_cross_entropy(logits, set.y).item());
  const Tensor& z = logits.value();
  const int64_t c = z.dim(1);
  int64_t right = 0;
  for (int64_t i = 0; i < set.n(); ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j)
      if (z[i * c + j] > z[i * c + best]) best = j;
    right += best == set.y[static_cast<size_t>(i)];
  }
  s.acc = static_cast<double>(right) / static_cast<double>(std::max<int64_t>(1, set.n()));
  return s;
}

// Base of the classification HPO problems: one fixed task (the data subsets live in the problem), full-batch
// GD inner loop of `inner_steps` steps at `inner_lr`, a constant initial λ, and θ₀ either the model's seeded
// init or zeros (option theta0). The derived class loads its data and builds its model, then calls set_theta0.
class FixedTaskProblem : public Problem {
 public:
  explicit FixedTaskProblem(const Options& o)
      : steps_(o.get_int("inner_steps")),
        eval_steps_(o.get_int("eval_inner_steps") < 0 ? o.get_int("inner_steps") : o.get_int("eval_inner_steps")),
        lr_(static_cast<real>(o.get_real("inner_lr"))),
        lambda_init_(o.has("lambda_init") ? o.get_real("lambda_init") : 0.0) {}  // a problem may fix λ₀ itself

  int64_t theta_dim() const override { return theta0_.numel(); }
  InnerConfig inner() const override { return InnerConfig{steps_, lr_}; }
  // λ = lambda_init everywhere (draws nothing).
  Tensor init_lambda(Rng& rng) const override {
    (void)rng;
    return Tensor(Shape{lambda_dim()}, static_cast<real>(lambda_init_));
  }
  // The one fixed task; θ₀ travels in theta_init. Draws nothing.
  Task sample_task(Rng& rng) const override {
    (void)rng;
    Task t;
    t.theta_init = theta0_;
    return t;
  }
  ad::Var theta0(const ad::Var& lambda, const Task& task) const override {
    (void)lambda;
    return ad::constant(task.theta_init.numel() == theta0_.numel() ? task.theta_init : theta0_);
  }

 protected:
  // θ₀: the model's init from (seed, stream) when theta0=random, else zeros.
  void set_theta0(const Options& o, const nn::Model& model, uint64_t seed, uint64_t stream) {
    if (o.get_string("theta0") == "random") {
      Rng init_rng(seed, {stream});
      theta0_ = model.init(init_rng);
    } else {
      theta0_ = Tensor(Shape{model.num_params()});
    }
  }

  int64_t steps_, eval_steps_;
  real lr_;
  double lambda_init_;
  Tensor theta0_;
};

}  // namespace bilevel::classification
