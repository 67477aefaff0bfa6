// inr on tiny generated images: dimensions, PSNR bookkeeping (λ = the random init reproduces the baseline), the
// exact hypergradient against finite differences (double), first-order methods, and the refusals.
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
  TinyImages() : TinyMnist(30, 10, 8) {}
};

std::unique_ptr<Problem> make_inr(const TinyImages& d, std::map<std::string, std::string> given) {
  return make_app_problem_on("inr", d, std::move(given),
                             {{"image_size", "4"}, {"hidden", "6"}, {"eval_images", "5"}, {"inner_steps", "3"}});
}

}  // namespace

TEST_SUITE("problems") {
  TEST_CASE("inr: dimensions, tasks, PSNR of the random initialisation") {
    TinyImages d;
    auto p = make_inr(d, {});
    CHECK(p->theta_dim() == (2 + 1) * 6 + (6 + 1) * 6 + (6 + 1) * 1);
    CHECK(p->lambda_dim() == p->theta_dim());
    CHECK(p->theta0_is_lambda());
    Rng r(1);
    const Task t = p->sample_task(r);
    REQUIRE(t.y.size() == 1);
    CHECK(t.y[0].numel() == 16);
    for (int64_t i = 0; i < 16; ++i) CHECK((t.y[0][i] >= 0 && t.y[0][i] <= 1));
    // λ drawn from the instance's init stream is the baseline's initialisation: the same PSNR.
    Rng init_rng(5, {0x696e7249ULL});
    const Metrics m = p->evaluate(p->init_lambda(init_rng));
    CHECK(metric_of(m, "psnr") == metric_of(m, "psnr_random_init"));
    // The inner steps fit the image: PSNR after them beats PSNR before.
    CHECK(metric_of(m, "psnr") > metric_of(m, "psnr_preadapt"));
    // The baseline does not depend on λ.
    Rng other(9);
    const Metrics m2 = p->evaluate(p->init_lambda(other));
    CHECK(metric_of(m2, "psnr_random_init") == metric_of(m, "psnr_random_init"));
    CHECK(metric_of(m2, "psnr") != metric_of(m, "psnr"));
  }

  TEST_CASE("inr: exact matches finite differences; first-order methods are close for small steps") {
    TinyImages d;
    auto p = make_inr(d, {{"omega0", "5"}, {"inner_lr", "0.05"}});
    Rng r(2);
    const Tensor lambda = p->init_lambda(r);
    const Tensor g_exact = estimate_app("exact", *p, lambda).grad;
    REQUIRE(norm2(g_exact) > 0);
    CHECK(max_abs_diff(estimate_app("tbptt", *p, lambda, {{"k", "3"}}).grad, g_exact) == 0.0);
    // FO drops the Jacobian I − α∇²L_T of each inner step: its error vanishes with the step size. At α = 0.05 it is
    // already off (cosine ≈ 0.74 here), at α = 0.001 close.
    auto small = make_inr(d, {{"omega0", "5"}, {"inner_lr", "0.001"}});
    const Tensor g_fo = estimate_app("fo", *small, lambda).grad, g_small = estimate_app("exact", *small, lambda).grad;
    CHECK(dot(g_fo, g_small) / std::sqrt(norm2(g_fo) * norm2(g_small)) > 0.99);
    // An SGLD chain as long as the inner loop, nearly noiseless (N = 16 pixels, τ small).
    const Tensor g_sgld = estimate_app("sgld", *p, lambda,
                                       {{"burn_in", "2"}, {"samples", "1"}, {"chains", "2"}, {"tau", "1e-6"}}).grad;
    CHECK(g_sgld.all_finite());
    CHECK(dot(g_sgld, g_exact) / std::sqrt(norm2(g_sgld) * norm2(g_exact)) > 0.9);
#ifdef BILEVEL_DOUBLE
    check_exact_against_fd(*p, lambda, g_exact, 1e-5);
#endif
  }

  TEST_CASE("inr: bad image sizes, too many evaluation images and missing data are refused") {
    TinyImages d;
    CHECK_THROWS_WITH_AS(make_inr(d, {{"image_size", "6"}}), doctest::Contains("image_size"), option_error);
    CHECK_THROWS_WITH_AS(make_inr(d, {{"eval_images", "11"}}), doctest::Contains("eval_images"), option_error);
    FakeDataDir empty;
    CHECK_THROWS(make_app_problem("inr", {{"data_dir", empty.dir()}}));
  }
}
