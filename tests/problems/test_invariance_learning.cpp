// invariance-learning on tiny generated images: dimensions and layout, the warp at λ = 0 (no augmentation), the
// exact hypergradient against finite differences of the unrolled validation loss (double), the other estimators,
// the baselines and the refusals.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>

#include "base/errors.hpp"
#include "problems/app_test_helpers.hpp"

using namespace bilevel;
using namespace bilevel::testing;

namespace {

struct TinyImages : TinyMnist {
  TinyImages() : TinyMnist(60, 20, 8) {}
};

std::unique_ptr<Problem> make_inv(const TinyImages& d, std::map<std::string, std::string> given) {
  return make_app_problem_on("invariance-learning", d, std::move(given),
                             {{"image_size", "8"},
                              {"n_train", "12"},
                              {"n_val", "20"},
                              {"n_test", "20"},
                              {"inner_steps", "5"}});
}

}  // namespace

TEST_SUITE("problems") {
  TEST_CASE("invariance-learning: dimensions, layout, the noise of a task, metrics at λ = 0") {
    TinyImages d;
    auto p = make_inv(d, {{"true_rotation", "45"}, {"transforms", "rotation+translation+scale"}});
    CHECK(p->lambda_dim() == 3);
    CHECK(p->theta_dim() == (64 + 1) * 3);
    CHECK(p->lambda_layout()[2]["name"] == "log_scale_half_width");
    Rng r(1);
    const Tensor l0 = p->init_lambda(r);
    CHECK(l0[0] == doctest::Approx(10 * M_PI / 180));
    const Task t = p->sample_task(r);
    REQUIRE(t.x.size() == 4);  // u_φ, u_x, u_y, u_s
    CHECK(t.x[0].numel() == 2 * 12);
    // λ = 0 is no augmentation: training on the K identical copies is training on the images, so the evaluation
    // matches the no-augmentation baseline.
    auto p1 = make_inv(d, {{"true_rotation", "45"}});
    const Metrics m = p1->evaluate(Tensor(Shape{1}));
    CHECK(metric_of(m, "val_loss") == doctest::Approx(metric_of(m, "none_val_loss")).epsilon(1e-4));
    CHECK(metric_of(m, "rotation_deg") == 0.0);
    CHECK(metric_of(m, "true_rotation_deg") == doctest::Approx(45.0));
    CHECK(metric_of(m, "rotation_rel_error") == doctest::Approx(1.0));
    const Metrics m2 = p1->evaluate(Tensor::vector({real(-0.5)}));
    CHECK(metric_of(m2, "rotation_deg") == doctest::Approx(0.5 * 180 / M_PI));
    CHECK(metric_of(m2, "none_test_acc") == metric_of(m, "none_test_acc"));
    CHECK(metric_of(m2, "val_loss") != metric_of(m, "val_loss"));
  }

  TEST_CASE("invariance-learning: exact matches finite differences; the other estimators against exact") {
    TinyImages d;
    for (const char* transforms : {"rotation", "rotation+translation+scale"}) {
      CAPTURE(transforms);
      auto p = make_inv(d, {{"transforms", transforms}, {"inner_steps", "4"}});
      const Tensor lambda = std::string(transforms) == "rotation" ? Tensor::vector({real(0.4)})
                                                                  : Tensor::vector({real(0.4), real(0.1), real(0.15)});
      const Tensor g_exact = estimate_app("exact", *p, lambda).grad;
      REQUIRE(norm2(g_exact) > 0);
      CHECK(max_abs_diff(estimate_app("tbptt", *p, lambda, {{"k", "4"}}).grad, g_exact) == 0.0);
      CHECK(norm2(estimate_app("fo", *p, lambda).grad) == 0.0);
      for (const char* m : {"ift-cg", "ift-neumann", "sgld", "ufo"}) {
        CAPTURE(m);
        CHECK(estimate_app(m, *p, lambda).grad.all_finite());
      }
#ifdef BILEVEL_DOUBLE
      check_exact_against_fd(*p, lambda, g_exact, 1e-5);
#endif
    }
  }

  TEST_CASE("invariance-learning: bad image sizes, sizes beyond the pools and missing data are refused") {
    TinyImages d;
    CHECK_THROWS_WITH_AS(make_inv(d, {{"image_size", "5"}}), doctest::Contains("valid: 4, 8"), option_error);
    CHECK_THROWS_WITH_AS(make_inv(d, {{"n_train", "50"}}), doctest::Contains("n_train + n_val"), option_error);
    CHECK_THROWS_WITH_AS(make_inv(d, {{"n_test", "21"}}), doctest::Contains("n_test"), option_error);
    FakeDataDir empty;
    CHECK_THROWS(make_app_problem("invariance-learning", {{"data_dir", empty.dir()}}));
  }
}
