#pragma once
// Few-shot classification tasks over a character dataset: the data side of a meta-learning problem.
//
// How a problem uses it (all of it const and thread-safe after loading):
//
//   GlyphSet set = load_glyphs(options);                  // once: Omniglot folders or the hanzi stand-in
//   GlyphSplit split = split_glyphs(set, split_options);   // once: meta-training vs held-out classes
//   TaskShape shape{ways, shots, queries};
//   check_task_shape(set, split.train, shape, "meta-training");  // once: option_error if a task cannot be drawn
//   check_task_shape(set, split.test, shape, "held-out");
//   std::vector<TaskPlan> eval = evaluation_plans(set, split.test, shape, 600, instance_seed);   // once
//
//   // per task (sample_task(rng) of the Problem interface; rng derived from (seed, step, task)):
//   FewShotTask t = build_task(set, plan_task(set, split.train, shape, rng));
//   // t.support_x (ways·shots, side, side, 1), t.support_y; t.query_x (ways·queries, side, side, 1), t.query_y
//
//   // evaluation: build_task(set, eval[i]) for each i (a pure function of i: parallelise freely), adapt,
//   // score; then mean_ci95(accuracies) → "acc ± half-width" over the tasks.
//
// A task is a pure function of the Rng stream it is given: the same stream gives the same classes, instances
// and pixels on any thread. Meta-training tasks draw only from split.train and evaluation tasks only from
// split.test, and the split's two sides share no character, so held-out characters never reach training.
//
// Tensors: NHWC, values in [0, 1] (ink / 255: strokes ≈ 1, background 0), `real` precision. Examples are in
// class-major order: support rows l·shots … l·shots + shots − 1 are label l, likewise for queries; labels are
// 0 … ways − 1 in the order the classes were drawn (random), so label l carries no information about the class.
#include <cstdint>
#include <string>
#include <vector>

#include "data/glyphs.hpp"
#include "data/hanzi.hpp"
#include "data/omniglot.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

namespace bilevel::data {

// ---- loading --------------------------------------------------------------------------------------------------

struct GlyphOptions {
  // "hanzi" (the stand-in from `make data`), "omniglot" (a folder in Omniglot's layout) or "auto": omniglot when
  // data_dir holds images_background (directly or in omniglot/), else hanzi. So a user with Omniglot on disk
  // sets only data_dir.
  std::string dataset = "auto";
  std::string data_dir;        // resolve_data_dir semantics: empty → $BILEVEL_DATA, else ./data
  int64_t side = 28;           // images are side × side
  bool verify_checksums = true;    // hanzi: check the sha256 of medians.jsonl (~0.1 s)
  HanziOptions hanzi;          // hanzi only (its `side` is overridden by `side` above)
  OmniglotOptions omniglot;    // omniglot only (likewise)
};

// Which dataset `options` selects ("hanzi" or "omniglot"); throws option_error for an unknown name.
std::string resolve_glyph_dataset(const GlyphOptions& options);
GlyphSet load_glyphs(const GlyphOptions& options);

// ---- tasks ----------------------------------------------------------------------------------------------------

struct TaskShape {
  int64_t ways = 5;     // N classes per task
  int64_t shots = 1;    // K support examples per class
  int64_t queries = 1;  // Q query examples per class (UFOM's protocol: 1)
};

// Which images make a task: class l (label l) is classes[l]; its support instances are
// instances[l·(shots+queries) … +shots−1] and its query instances the next `queries`. All distinct per class.
struct TaskPlan {
  int64_t shots = 0, queries = 0;
  std::vector<GlyphClass> classes;
  std::vector<int32_t> instances;
};

struct FewShotTask {
  Tensor support_x;                 // (ways·shots, side, side, 1)
  std::vector<int64_t> support_y;   // ways·shots labels in [0, ways), class-major
  Tensor query_x;                   // (ways·queries, side, side, 1)
  std::vector<int64_t> query_y;     // ways·queries labels in [0, ways), class-major
  std::vector<GlyphClass> classes;  // label l is classes[l] (for logs and tests)
};

// Throws option_error naming `what` ("meta-training", "held-out") when `pool` has fewer than `ways` classes or
// a class's character has fewer than shots + queries instances, or when ways < 2, shots < 1 or queries < 1.
void check_task_shape(const GlyphSet& set, const std::vector<GlyphClass>& pool, const TaskShape& shape,
                      const std::string& what);

// Draws `ways` distinct classes of `pool` uniformly (labels in the order drawn), then for each class
// shots + queries distinct instances uniformly. Consumes `rng` only. Requires check_task_shape to pass.
TaskPlan plan_task(const GlyphSet& set, const std::vector<GlyphClass>& pool, const TaskShape& shape, Rng& rng);

// The task's tensors (images fetched or drawn, then rotated by the class's quarter turns).
FewShotTask build_task(const GlyphSet& set, const TaskPlan& plan);

// `count` fixed evaluation tasks: task i is plan_task with the stream Rng(seed, {evaluation stream, i}), so the
// set is the same in every run with the same seed, whatever the order or thread that builds them.
std::vector<TaskPlan> evaluation_plans(const GlyphSet& set, const std::vector<GlyphClass>& pool,
                                       const TaskShape& shape, int64_t count, uint64_t seed);

// ---- reporting ------------------------------------------------------------------------------------------------

// Mean and the half-width of its 95% confidence interval, t_{0.975, n−1} · s / √n with s the sample standard
// deviation (Student t: exact quantiles for n − 1 ≤ 30, then the normal 1.96 corrected to O(1/df²)). The
// few-shot literature reports accuracy over ≥ 600 tasks this way. n = 0: mean NaN; n = 1: half-width NaN.
struct MeanCI {
  double mean = 0, half_width = 0;
  int64_t n = 0;
};
MeanCI mean_ci95(const std::vector<double>& values);

}  // namespace bilevel::data
