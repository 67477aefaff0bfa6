#include "data/fewshot.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/errors.hpp"
#include "data/data_dir.hpp"

namespace bilevel::data {

namespace {

constexpr uint64_t kEvaluationStream = 0x6576616c7461736bULL;  // "evaltask"

// `k` distinct values of {0, …, n−1}, uniformly, in the order drawn (rejection; k ≤ n is checked by callers).
std::vector<int64_t> draw_distinct(int64_t n, int64_t k, Rng& rng) {
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(k));
  while (static_cast<int64_t>(out.size()) < k) {
    const int64_t v = rng.randint(n);
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

// Two-sided 95% Student-t quantiles t_{0.975, df}, df = 1 … 30.
constexpr double kT975[30] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                              2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                              2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};

double t975(int64_t df) {
  if (df <= 30) return kT975[df - 1];
  // Cornish–Fisher expansion of the t quantile around the normal one (error < 1e-4 for df > 30).
  const double z = 1.959963984540054, d = static_cast<double>(df);
  const double z3 = z * z * z, z5 = z3 * z * z;
  return z + (z3 + z) / (4 * d) + (5 * z5 + 16 * z3 + 3 * z) / (96 * d * d);
}

}  // namespace

std::string resolve_glyph_dataset(const GlyphOptions& o) {
  if (o.dataset == "hanzi" || o.dataset == "omniglot") return o.dataset;
  if (o.dataset == "auto") return looks_like_omniglot(resolve_data_dir(o.data_dir)) ? "omniglot" : "hanzi";
  throw option_error("unknown character dataset '" + o.dataset + "' (valid: auto, hanzi, omniglot)");
}

GlyphSet load_glyphs(const GlyphOptions& o) {
  if (o.side < 8 || o.side > 512) throw option_error("image side " + std::to_string(o.side) + " must lie in [8, 512]");
  const std::string dir = resolve_data_dir(o.data_dir);
  if (resolve_glyph_dataset(o) == "omniglot") {
    OmniglotOptions oo = o.omniglot;
    oo.side = o.side;
    return load_omniglot(dir, oo);
  }
  HanziOptions ho = o.hanzi;
  ho.side = o.side;
  return load_hanzi(dir, ho, o.verify_checksums);
}

void check_task_shape(const GlyphSet& set, const std::vector<GlyphClass>& pool, const TaskShape& s,
                      const std::string& what) {
  if (s.ways < 2 || s.shots < 1 || s.queries < 1) {
    throw option_error("a few-shot task needs ways ≥ 2, shots ≥ 1 and query ≥ 1 (got " + std::to_string(s.ways) +
                       ", " + std::to_string(s.shots) + ", " + std::to_string(s.queries) + ")");
  }
  if (static_cast<int64_t>(pool.size()) < s.ways) {
    throw option_error(std::to_string(s.ways) + "-way tasks need " + std::to_string(s.ways) + " " + what +
                       " classes; " + set.name + " has " + std::to_string(pool.size()));
  }
  const int64_t need = s.shots + s.queries;
  for (const GlyphClass& c : pool) {
    const GlyphCharacter& ch = set.characters[static_cast<size_t>(c.character)];
    if (ch.instances < need) {
      throw option_error("shots + query = " + std::to_string(need) + " images per class, but " + what + " character " +
                         set.alphabets[static_cast<size_t>(ch.alphabet)] + "/" + ch.name + " of " + set.name +
                         " has only " + std::to_string(ch.instances));
    }
  }
}

TaskPlan plan_task(const GlyphSet& set, const std::vector<GlyphClass>& pool, const TaskShape& s, Rng& rng) {
  BILEVEL_CHECK(static_cast<int64_t>(pool.size()) >= s.ways && s.ways >= 1 && s.shots >= 1 && s.queries >= 1,
                "plan_task: task shape not checked (check_task_shape)");
  TaskPlan p;
  p.shots = s.shots;
  p.queries = s.queries;
  for (const int64_t i : draw_distinct(static_cast<int64_t>(pool.size()), s.ways, rng)) {
    p.classes.push_back(pool[static_cast<size_t>(i)]);
  }
  for (const GlyphClass& c : p.classes) {
    const int64_t n = set.characters[static_cast<size_t>(c.character)].instances;
    BILEVEL_CHECK(n >= s.shots + s.queries, "plan_task: a class has too few instances (check_task_shape)");
    for (const int64_t i : draw_distinct(n, s.shots + s.queries, rng)) p.instances.push_back(static_cast<int32_t>(i));
  }
  return p;
}

FewShotTask build_task(const GlyphSet& set, const TaskPlan& p) {
  const auto ways = static_cast<int64_t>(p.classes.size());
  const int64_t side = set.side, plane = side * side, per = p.shots + p.queries;
  BILEVEL_CHECK(static_cast<int64_t>(p.instances.size()) == ways * per, "build_task: malformed plan");
  FewShotTask t;
  t.classes = p.classes;
  t.support_x = Tensor::uninitialized(Shape{ways * p.shots, side, side, 1});
  t.query_x = Tensor::uninitialized(Shape{ways * p.queries, side, side, 1});
  std::vector<uint8_t> img(static_cast<size_t>(plane)), turned(static_cast<size_t>(plane));
  for (int64_t l = 0; l < ways; ++l) {
    const GlyphClass& c = p.classes[static_cast<size_t>(l)];
    for (int64_t j = 0; j < per; ++j) {
      set.image(c.character, p.instances[static_cast<size_t>(l * per + j)], img.data());
      const uint8_t* src = img.data();
      if (c.rotation != 0) {
        rotate_quarter(img.data(), side, c.rotation, turned.data());
        src = turned.data();
      }
      const bool support = j < p.shots;
      real* dst = support ? t.support_x.data() + (l * p.shots + j) * plane
                          : t.query_x.data() + (l * p.queries + j - p.shots) * plane;
      for (int64_t k = 0; k < plane; ++k) dst[k] = static_cast<real>(src[k]) / real(255);
      (support ? t.support_y : t.query_y).push_back(l);
    }
  }
  return t;
}

std::vector<TaskPlan> evaluation_plans(const GlyphSet& set, const std::vector<GlyphClass>& pool,
                                       const TaskShape& shape, int64_t count, uint64_t seed) {
  std::vector<TaskPlan> plans;
  plans.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int64_t i = 0; i < count; ++i) {
    Rng rng(seed, {kEvaluationStream, static_cast<uint64_t>(i)});
    plans.push_back(plan_task(set, pool, shape, rng));
  }
  return plans;
}

MeanCI mean_ci95(const std::vector<double>& v) {
  MeanCI r;
  r.n = static_cast<int64_t>(v.size());
  if (r.n == 0) {
    r.mean = r.half_width = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  double sum = 0;
  for (double x : v) sum += x;
  r.mean = sum / static_cast<double>(r.n);
  if (r.n == 1) {
    r.half_width = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  double ss = 0;
  for (double x : v) ss += (x - r.mean) * (x - r.mean);
  const double sd = std::sqrt(ss / static_cast<double>(r.n - 1));
  r.half_width = t975(r.n - 1) * sd / std::sqrt(static_cast<double>(r.n));
  return r;
}

}  // namespace bilevel::data
