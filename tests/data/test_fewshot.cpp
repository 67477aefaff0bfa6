// The few-shot task sampler: shapes, labels and layout; tasks as pure functions of their Rng stream;
// meta-training and held-out classes never mixed; rotations as classes; evaluation plans fixed by their seed;
// the 95% confidence interval; and the image helpers (area resize, quarter turns, contact sheet).
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "data/fewshot.hpp"
#include "data/glyphs.hpp"

using namespace bilevel;

namespace {

inline doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }

constexpr int64_t kSide = 9;

// `chars` characters of `instances` 9×9 images; character c's image i is filled with the value c except its
// top-right pixel, which holds 200 + i. So an example's pixels say which character (majority value), which
// instance (the marker's value) and which rotation (where the marker went) it came from. Characters
// c ≥ chars − held_out are the dataset's evaluation characters.
data::GlyphSet marked_set(int32_t chars, int32_t instances, int32_t held_out) {
  std::vector<data::GlyphCharacter> meta;
  std::vector<uint8_t> pixels;
  for (int32_t c = 0; c < chars; ++c) {
    std::string name = "c";
    name += std::to_string(c);  // (not "c" + …: GCC 12 reports a false -Wrestrict there)
    meta.push_back({name, c % 3, instances, c >= chars - held_out});
    for (int32_t i = 0; i < instances; ++i)
      for (int64_t p = 0; p < kSide * kSide; ++p) pixels.push_back(static_cast<uint8_t>(p == kSide - 1 ? 200 + i : c));
  }
  return data::GlyphSet::stored("marked", "test", kSide, {"a", "b", "c"}, std::move(meta), std::move(pixels));
}

struct Decoded {
  int32_t character, instance, rotation;
};
// Reads back an example (kSide² values in [0, 1]).
Decoded decode_example(const real* x) {
  const auto at = [&](int64_t y, int64_t xx) { return static_cast<int>(std::lround(x[y * kSide + xx] * 255)); };
  const int64_t m = kSide - 1;
  // Where the top-right marker goes under counter-clockwise quarter turns: TR → TL → BL → BR.
  const std::pair<int64_t, int64_t> corners[4] = {{0, m}, {0, 0}, {m, 0}, {m, m}};
  Decoded d{at(m / 2, m / 2), -1, -1};
  for (int r = 0; r < 4; ++r)
    if (at(corners[r].first, corners[r].second) >= 200) d = {d.character, at(corners[r].first, corners[r].second) - 200, r};
  return d;
}

}  // namespace

TEST_CASE("fewshot: a task has the Conv4 layout, class-major labels and the plan's images") {
  const data::GlyphSet set = marked_set(30, 20, 10);
  const data::GlyphSplit split = data::split_glyphs(set, {});
  const data::TaskShape shape{5, 2, 3};
  data::check_task_shape(set, split.train, shape, "meta-training");
  Rng rng(7, {1, 2});
  const data::TaskPlan plan = data::plan_task(set, split.train, shape, rng);
  const data::FewShotTask t = data::build_task(set, plan);
  CHECK(t.support_x.shape() == Shape{10, kSide, kSide, 1});
  CHECK(t.query_x.shape() == Shape{15, kSide, kSide, 1});
  CHECK(t.support_y == std::vector<int64_t>{0, 0, 1, 1, 2, 2, 3, 3, 4, 4});
  CHECK(t.query_y == std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4});
  std::set<std::pair<int32_t, int32_t>> classes;
  for (int64_t l = 0; l < 5; ++l) {
    const data::GlyphClass c = plan.classes[static_cast<size_t>(l)];
    classes.insert({c.character, c.rotation});
    std::set<int32_t> seen;
    for (int64_t j = 0; j < 5; ++j) {
      const bool support = j < 2;
      const real* x = support ? t.support_x.data() + (l * 2 + j) * kSide * kSide
                              : t.query_x.data() + (l * 3 + j - 2) * kSide * kSide;
      const Decoded d = decode_example(x);
      CHECK(d.character == c.character);
      CHECK(d.rotation == c.rotation);
      CHECK(d.instance == plan.instances[static_cast<size_t>(l * 5 + j)]);
      seen.insert(d.instance);
    }
    CHECK(seen.size() == 5);  // support and query instances distinct
  }
  CHECK(classes.size() == 5);
  for (int64_t i = 0; i < t.support_x.numel(); ++i) CHECK((t.support_x[i] >= 0 && t.support_x[i] <= 1));
}

TEST_CASE("fewshot: a task is a pure function of its Rng stream") {
  const data::GlyphSet set = marked_set(30, 20, 10);
  const data::GlyphSplit split = data::split_glyphs(set, {});
  const data::TaskShape shape{5, 1, 1};
  Rng a(3, {10, 4}), b(3, {10, 4}), c(3, {10, 5});
  const data::FewShotTask ta = data::build_task(set, data::plan_task(set, split.train, shape, a));
  const data::FewShotTask tb = data::build_task(set, data::plan_task(set, split.train, shape, b));
  const data::FewShotTask tc = data::build_task(set, data::plan_task(set, split.train, shape, c));
  CHECK(ta.support_x.to_vector() == tb.support_x.to_vector());
  CHECK(ta.query_x.to_vector() == tb.query_x.to_vector());
  CHECK(ta.classes == tb.classes);
  CHECK(ta.support_x.to_vector() != tc.support_x.to_vector());
}

TEST_CASE("fewshot: meta-training tasks never see a held-out character, evaluation tasks only those") {
  const data::GlyphSet set = marked_set(40, 20, 15);
  for (const bool reptile : {false, true}) {
    CAPTURE(reptile);
    data::SplitOptions o;
    if (reptile) {
      o.kind = data::SplitOptions::Kind::reptile;
      o.reptile_train = 25;
      o.seed = 11;
    }
    const data::GlyphSplit split = data::split_glyphs(set, o);
    std::set<int32_t> train_chars, test_chars;
    for (const auto& c : split.train) train_chars.insert(c.character);
    for (const auto& c : split.test) test_chars.insert(c.character);
    CHECK(train_chars.size() == 25);
    CHECK(test_chars.size() == 15);
    for (int32_t c : train_chars) CHECK(test_chars.count(c) == 0);
    const data::TaskShape shape{5, 1, 1};
    std::map<int32_t, int> rotations_seen;
    for (uint64_t step = 0; step < 300; ++step) {
      Rng rng(1, {step, 0});
      const data::FewShotTask t = data::build_task(set, data::plan_task(set, split.train, shape, rng));
      for (int64_t e = 0; e < t.support_x.dim(0); ++e) {
        const Decoded d = decode_example(t.support_x.data() + e * kSide * kSide);
        CHECK(train_chars.count(d.character) == 1);
        ++rotations_seen[d.rotation];
      }
    }
    CHECK(rotations_seen.size() == 4);  // the rotated classes are drawn
    const std::vector<data::TaskPlan> eval = data::evaluation_plans(set, split.test, shape, 600, 5);
    REQUIRE(eval.size() == 600);
    std::set<int32_t> eval_chars;
    for (const auto& p : eval)
      for (const auto& c : p.classes) {
        CHECK(test_chars.count(c.character) == 1);
        CHECK(c.rotation == 0);
        eval_chars.insert(c.character);
      }
    CHECK(eval_chars.size() == 15);
    // Fixed by the seed: the same plans again, and task 17 alone equals the 17th of the set.
    const std::vector<data::TaskPlan> again = data::evaluation_plans(set, split.test, shape, 18, 5);
    CHECK(again[17].classes == eval[17].classes);
    CHECK(again[17].instances == eval[17].instances);
    CHECK(data::evaluation_plans(set, split.test, shape, 1, 6)[0].instances != eval[0].instances);
  }
  // The Reptile split depends on its seed.
  data::SplitOptions r1, r2;
  r1.kind = r2.kind = data::SplitOptions::Kind::reptile;
  r1.reptile_train = r2.reptile_train = 25;
  r2.seed = 1;
  CHECK(data::split_glyphs(set, r1).train != data::split_glyphs(set, r2).train);
  CHECK(data::split_glyphs(set, r1).train == data::split_glyphs(set, r1).train);
}

TEST_CASE("fewshot: classes and instances are drawn uniformly") {
  const data::GlyphSet set = marked_set(12, 20, 2);
  data::SplitOptions o;
  o.rotate_train = false;
  const data::GlyphSplit split = data::split_glyphs(set, o);  // 10 training classes
  std::vector<int> class_count(12, 0), label0_count(12, 0), instance_count(20, 0);
  const int tasks = 4000;
  for (int k = 0; k < tasks; ++k) {
    Rng rng(9, {static_cast<uint64_t>(k)});
    const data::TaskPlan p = data::plan_task(set, split.train, {3, 1, 1}, rng);
    for (const auto& c : p.classes) ++class_count[static_cast<size_t>(c.character)];
    ++label0_count[static_cast<size_t>(p.classes[0].character)];
    for (int32_t i : p.instances) ++instance_count[static_cast<size_t>(i)];
  }
  // Each class is in a task with probability 3/10 (σ ≈ 29 over 4000 tasks), label 0 with 1/10 (σ ≈ 19); each
  // instance is one of the 2 drawn of 20 with probability 1/10, 12000 draws in all (σ ≈ 33). Bounds at ~5σ.
  for (int c = 0; c < 10; ++c) {
    CHECK(std::abs(class_count[static_cast<size_t>(c)] - 1200) < 150);
    CHECK(std::abs(label0_count[static_cast<size_t>(c)] - 400) < 95);
  }
  for (int i = 0; i < 20; ++i) CHECK(std::abs(instance_count[static_cast<size_t>(i)] - 1200) < 165);
}

TEST_CASE("fewshot: task shapes that cannot be drawn are option errors") {
  const data::GlyphSet set = marked_set(10, 6, 3);
  const data::GlyphSplit split = data::split_glyphs(set, {});
  CHECK_THROWS_WITH_AS(data::check_task_shape(set, split.test, {5, 1, 1}, "held-out"),
                       has("5-way tasks need 5 held-out classes; marked has 3"), option_error);
  CHECK_THROWS_WITH_AS(data::check_task_shape(set, split.train, {5, 5, 2}, "meta-training"),
                       has("shots + query = 7 images per class, but meta-training character a/c0 of marked has only 6"),
                       option_error);
  CHECK_THROWS_AS(data::check_task_shape(set, split.train, {1, 1, 1}, "meta-training"), option_error);
  CHECK_THROWS_AS(data::check_task_shape(set, split.train, {2, 0, 1}, "meta-training"), option_error);
  data::check_task_shape(set, split.train, {5, 5, 1}, "meta-training");
}

TEST_CASE("fewshot: mean and 95% confidence interval") {
  // 600 task accuracies, half 0.6 and half 0.8: mean 0.7, s = 0.1·√(600/599), t_{0.975,599} ≈ 1.96394.
  std::vector<double> v(600);
  for (size_t i = 0; i < v.size(); ++i) v[i] = i % 2 ? 0.8 : 0.6;
  const data::MeanCI ci = data::mean_ci95(v);
  CHECK(ci.n == 600);
  CHECK(ci.mean == doctest::Approx(0.7));
  CHECK(ci.half_width == doctest::Approx(1.96394 * 0.1 * std::sqrt(600.0 / 599.0) / std::sqrt(600.0)).epsilon(1e-5));
  // Small samples use Student's t: n = 2 (df 1: 12.706), n = 31 (df 30: 2.042), n = 32 (df 31: 2.0395).
  CHECK(data::mean_ci95({1.0, 3.0}).half_width == doctest::Approx(12.706 * std::sqrt(2.0) / std::sqrt(2.0)));
  std::vector<double> w(32);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<double>(i % 2);
  const double s32 = std::sqrt(0.25 * 32 / 31);
  CHECK(data::mean_ci95(w).half_width == doctest::Approx(2.0395 * s32 / std::sqrt(32.0)).epsilon(2e-4));
  w.pop_back();
  const double mean31 = 15.0 / 31, s31 = std::sqrt((16 * mean31 * mean31 + 15 * (1 - mean31) * (1 - mean31)) / 30);
  CHECK(data::mean_ci95(w).half_width == doctest::Approx(2.042 * s31 / std::sqrt(31.0)));
  CHECK(std::isnan(data::mean_ci95({}).mean));
  CHECK(std::isnan(data::mean_ci95({0.5}).half_width));
}

TEST_CASE("images: area resize, quarter turns, contact sheet") {
  data::GrayImage in;
  in.width = 4;
  in.height = 2;
  in.pixels = {0, 100, 200, 255, 10, 10, 10, 10};
  // 2×2 blocks: (0 + 100 + 10 + 10)/4 = 30, (200 + 255 + 10 + 10)/4 = 118.75 → 119.
  CHECK(data::resize_area(in, 2, 1).pixels == std::vector<uint8_t>{30, 119});
  // Fractional footprints: 3 → 2 columns, output 0 covers [0, 1.5): (90 + ½·30)/1.5 = 70, output 1 (½·30 + 150)/1.5.
  data::GrayImage row;
  row.width = 3;
  row.height = 1;
  row.pixels = {90, 30, 150};
  CHECK(data::resize_area(row, 2, 1).pixels == std::vector<uint8_t>{70, 110});
  // 105 → 28 keeps the mean ink: a 30×30 block of 255 covers 900/105² of the image.
  data::GrayImage big;
  big.width = big.height = 105;
  big.pixels.assign(105 * 105, 0);
  for (int y = 40; y < 70; ++y)
    for (int x = 33; x < 63; ++x) big.pixels[static_cast<size_t>(y * 105 + x)] = 255;
  const data::GrayImage small = data::resize_area(big, 28, 28);
  double sum = 0;
  for (uint8_t p : small.pixels) sum += p;
  CHECK(sum / (28.0 * 28.0) == doctest::Approx(255.0 * 900 / (105.0 * 105)).epsilon(0.01));
  // Upsampling works too (each output pixel inside one input pixel).
  CHECK(data::resize_area(row, 6, 1).pixels == std::vector<uint8_t>{90, 90, 30, 30, 150, 150});

  // Quarter turns (counter-clockwise): 3×3 with 1..9 row-major.
  const std::vector<uint8_t> sq = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<uint8_t> out(9);
  data::rotate_quarter(sq.data(), 3, 1, out.data());
  CHECK(out == std::vector<uint8_t>{3, 6, 9, 2, 5, 8, 1, 4, 7});
  data::rotate_quarter(sq.data(), 3, 2, out.data());
  CHECK(out == std::vector<uint8_t>{9, 8, 7, 6, 5, 4, 3, 2, 1});
  data::rotate_quarter(sq.data(), 3, 4, out.data());
  CHECK(out == sq);

  // Contact sheet: 2 rows × 3 columns of 9×9 at zoom 2 with 2-pixel rules; ink c becomes 255 − c on paper.
  const data::GlyphSet set = marked_set(4, 20, 1);
  const data::GrayImage sheet = data::contact_sheet(set, {1, 3}, 3, 2);
  CHECK(sheet.width == 3 * (18 + 2) + 2);
  CHECK(sheet.height == 2 * (18 + 2) + 2);
  CHECK(sheet.at(0, 0) == 170);                // rule
  CHECK(sheet.at(2, 2) == 255 - 1);            // character 1, instance 0, top-left pixel
  CHECK(sheet.at(22 + 4, 2 + 4) == 255 - 3);   // second row: character 3
  CHECK(sheet.at(2, 2 + 17) == 255 - 200);     // the marker of instance 0 at the top-right
  CHECK(sheet.at(2, 22 + 17) == 255 - 201);    // instance 1
  const std::vector<int64_t> pick = data::sample_characters(set, 2, 4);
  CHECK(pick.size() == 2);
  CHECK(pick[0] != pick[1]);
  CHECK(data::sample_characters(set, 9, 4) == std::vector<int64_t>{0, 1, 2, 3});
}
