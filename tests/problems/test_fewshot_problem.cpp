// The `fewshot` problem on a tiny Omniglot-layout folder of real PNGs: tasks, λ layout, evaluation, every
// applicable estimator, exact against finite differences (double build), iMAML's proximal term and the data
// errors (one line naming the file, a usage error, no run directory).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "data/fake_data.hpp"
#include "data/omniglot_fixture.hpp"
#include "hypergrad/estimator.hpp"
#include "hypergrad/unroll.hpp"
#include "instance.hpp"
#include "run/check.hpp"
#include "run/train.hpp"
#include "tensor/gemm_small.hpp"
#include "scratch_dir.hpp"

using namespace bilevel;
namespace fs = std::filesystem;

namespace {

inline doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }

// 2 background alphabets × 4 characters (× 4 rotations = 32 meta-training classes), 2 evaluation alphabets of
// 4 characters, 6 drawings each; images at 8×8, Conv4 with 3 filters: 8 → 4 → 2 → 1 → 1.
struct Tiny {
  testing::FakeDataDir d;
  Tiny() { testing::write_tiny_omniglot(d.path("omni")); }
  testing::Sets sets(testing::Sets extra = {}) const {
    testing::Sets s = {{"data_dir", d.path("omni")}, {"side", "8"},       {"filters", "3"}, {"ways", "3"},
                       {"shots", "2"},              {"query", "2"},      {"inner_steps", "2"}, {"eval_tasks", "4"}};
    for (auto& [k, v] : extra) s[k] = v;
    return s;
  }
};

std::unique_ptr<Estimator> method(const std::string& name, const Problem& p, std::map<std::string, std::string> sets = {}) {
  const MethodInfo& m = find_method(name);
  Options o = Options::resolve(name, m.options, sets);
  REQUIRE(sets.empty());
  return make_estimator(m, o, p);
}

bool finite(const Tensor& t) { return t.all_finite(); }

}  // namespace

TEST_SUITE("problems") {

TEST_CASE("fewshot: tasks from the Omniglot folder have the Conv4 layout; λ is Conv4's parameter vector") {
  Tiny t;
  const testing::Instance in = testing::make_instance("fewshot", t.sets());
  const Problem& p = *in.problem;
  // Conv4(8×8×1, F = 3, N = 3, stride): 4 × (9·C·3 + 3 + 3) + 1·1·3·3 + 3.
  const int64_t params = (27 + 6) + 3 * (81 + 6) + 9 + 3;
  CHECK(p.lambda_dim() == params);
  CHECK(p.theta_dim() == params);
  CHECK(in.lambda.numel() == params);
  CHECK(p.theta0_is_lambda());
  CHECK_FALSE(p.lambda_in_inner_loss());
  REQUIRE(in.task.x.size() == 2);
  CHECK(in.task.x[0].shape() == Shape{6, 8, 8, 1});
  CHECK(in.task.x[1].shape() == Shape{6, 8, 8, 1});
  CHECK(in.task.labels[0] == std::vector<int64_t>{0, 0, 1, 1, 2, 2});
  CHECK(in.task.labels[1] == std::vector<int64_t>{0, 0, 1, 1, 2, 2});
  // The same stream gives the same task.
  Rng r1(7, {2});
  const Task again = p.sample_task(r1);
  CHECK(max_abs_diff(again.x[0], in.task.x[0]) == 0);
  CHECK(max_abs_diff(again.x[1], in.task.x[1]) == 0);
  // λ's layout is Conv4's and covers λ.
  const nlohmann::json layout = p.lambda_layout();
  CHECK(layout.size() == 14);
  CHECK(layout.back()["name"] == "head.bias");
  CHECK(layout.back()["offset"].get<int64_t>() + 3 == params);
  CHECK(p.describe()["dataset"] == "omniglot");
}

TEST_CASE("fewshot: evaluation is deterministic, in range, and uses the adaptation") {
  Tiny t;
  const testing::Instance in = testing::make_instance("fewshot", t.sets());
  const Metrics m = in.problem->evaluate(in.lambda);
  REQUIRE(m.size() == 3);
  CHECK(m[0].first == "test_acc");
  CHECK(m[1].first == "test_acc_ci95");
  CHECK(m[2].first == "test_loss");
  CHECK(m[0].second >= 0);
  CHECK(m[0].second <= 1);
  CHECK(m[1].second >= 0);
  CHECK(std::isfinite(m[2].second));
  CHECK(in.problem->evaluate(in.lambda) == m);
  // With no adaptation steps the held-out loss differs (the inner loop runs at evaluation).
  const testing::Instance none = testing::make_instance("fewshot", t.sets({{"eval_inner_steps", "0"}}));
  CHECK(none.problem->evaluate(in.lambda)[2].second != m[2].second);
}

TEST_CASE("fewshot: every applicable estimator gives a finite hypergradient of λ's size") {
  Tiny t;
  const testing::Instance in = testing::make_instance("fewshot", t.sets());
  const testing::Instance prox = testing::make_instance("fewshot", t.sets({{"proximal", "0.5"}}));
  CHECK(prox.problem->lambda_in_inner_loss());
  CHECK(prox.problem->mixed_partial_diagonal());
  struct Case {
    const char* name;
    std::map<std::string, std::string> sets;
    bool proximal;
  };
  const Case cases[] = {{"fo", {}, false},
                        {"exact", {}, false},
                        {"exact", {{"recompute", "true"}}, false},
                        {"tbptt", {{"k", "1"}}, false},
                        {"ufo", {{"q", "0.5"}}, false},
                        {"ufo", {{"q", "adaptive"}}, false},
                        {"reptile", {}, false},
                        {"sgld", {{"variant", "two-pass"}, {"chains", "2"}, {"burn_in", "2"}, {"samples", "2"}}, false},
                        {"ift-cg", {{"cg_iters", "3"}}, true},
                        {"ift-neumann", {{"neumann_iters", "3"}}, true},
                        {"exact", {}, true},
                        {"sgld", {{"variant", "drop-hessian"}, {"chains", "2"}, {"burn_in", "2"}, {"samples", "2"}}, true}};
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.proximal);
    const testing::Instance& i = c.proximal ? prox : in;
    auto e = method(c.name, *i.problem, c.sets);
    Rng rng(5, {1});
    const HypergradResult r = e->estimate(*i.problem, i.lambda, i.task, rng);
    CHECK(r.grad.numel() == i.lambda.numel());
    CHECK(finite(r.grad));
    CHECK(std::isfinite(r.outer_loss));
    CHECK(r.grad_evals > 0);
  }
  // Without the proximal term λ is only the initialization: implicit differentiation is refused, with the fix.
  for (const char* m : {"ift-cg", "ift-neumann"}) {
    CAPTURE(m);
    CHECK_THROWS_WITH_AS(method(m, *in.problem), has("initialization"), option_error);
    CHECK_THROWS_WITH_AS(method(m, *in.problem), has("--set proximal="), option_error);
  }
}

TEST_CASE("fewshot: the baseline and AVX2 builds of the element-wise kernels give the same hypergradient bits") {
  // Batch norm, its backward rules, the fused γ/β + ReLU, im2col and col2im run in the ISA the matrix kernels use
  // (tensor/simd.hpp). 19 filters: whole vectors and a ragged tail per row in either build.
  Tiny t;
  const testing::Instance in = testing::make_instance("fewshot", t.sets({{"filters", "19"}}));
  for (const char* name : {"fo", "exact"}) {
    CAPTURE(name);
    auto run = [&](const char* isa) {
      if (!gemm_detail::limit_kernel_isa(isa)) return Tensor();  // not on this CPU
      auto e = method(name, *in.problem);
      Rng rng(5, {1});
      return e->estimate(*in.problem, in.lambda, in.task, rng).grad;
    };
    const Tensor generic = run("generic");
    const Tensor avx2 = run("avx2");
    gemm_detail::limit_kernel_isa("avx512");  // back to the best the CPU has
    if (avx2.numel() == 0) continue;
    REQUIRE(avx2.numel() == generic.numel());
    CHECK(std::memcmp(avx2.data(), generic.data(), static_cast<size_t>(avx2.numel()) * sizeof(real)) == 0);
  }
}

#ifdef BILEVEL_DOUBLE
TEST_CASE("fewshot: exact equals finite differences of the r-step outer loss, with and without the proximal term") {
  Tiny t;
  for (const char* gamma : {"0", "0.7"}) {
    CAPTURE(gamma);
    // Mean and summed losses; the summed one with a smaller step so that the inner loop stays tame.
    for (const char* loss : {"mean", "sum"}) {
      CAPTURE(loss);
      const testing::Instance in = testing::make_instance(
          "fewshot", t.sets({{"proximal", gamma}, {"loss", loss}, {"inner_steps", "3"},
                             {"inner_lr", std::string(loss) == "sum" ? "0.05" : "0.3"}}));
      const HypergradResult ex = [&] {
        Rng rng(1);
        return method("exact", *in.problem)->estimate(*in.problem, in.lambda, in.task, rng);
      }();
      auto loss_at = [&](const Tensor& lam) {
        HypergradResult c;
        const Tensor th = unroll(*in.problem, lam, in.task, 3, c);
        return outer_grad(*in.problem, th, lam, in.task, c).loss;
      };
      Rng pick(3, {9});
      for (int k = 0; k < 16; ++k) {
        const int64_t i = pick.randint(in.lambda.numel());
        const double h = 1e-6;
        Tensor lp = in.lambda, lm = in.lambda;
        lp[i] += h;
        lm[i] -= h;
        const double fd = (loss_at(lp) - loss_at(lm)) / (2 * h);
        CAPTURE(i);
        CHECK(ex.grad[i] == doctest::Approx(fd).epsilon(1e-5).scale(1e-6));
      }
    }
  }
}
#endif

TEST_CASE("check on fewshot: the cost budget cuts the samples of expensive methods only, and says so") {
  // Regression: `check --problem fewshot` ran 100 samples of every method, and with few filters fmd (P JVPs per
  // inner step) and sgld pathwise (a dense P×H recurrence) cost thousands of gradients each: hours in all.
  Tiny t;
  CheckParams cp;
  cp.problem = "fewshot";
  cp.methods = {"fo", "exact", "fmd"};
  for (const auto& [k, v] : t.sets()) cp.sets.push_back(k + "=" + v);
  cp.samples = 10;
  cp.cost_budget = 40;  // r = 2: fo costs 3 gradients (10 samples fit), exact 3 + 2 HVPs (8 fit), fmd P·r HVPs
  const nlohmann::json out = run_check(cp);
  const nlohmann::json& e = out["estimators"];
  CHECK(e["fo"]["samples"] == 10);
  CHECK(e["fo"]["samples_cut_by_budget"] == false);
  CHECK(e["exact"]["cost_per_sample"] == 5.0);
  CHECK(e["exact"]["samples"] == 8);
  CHECK(e["exact"]["samples_cut_by_budget"] == true);
  CHECK(e["fmd"]["cost_per_sample"].get<double>() > 40);
  CHECK(e["fmd"]["samples"] == 1);
  CHECK(check_table_text(out).find("(1 samples: cost budget") != std::string::npos);
}

TEST_CASE("fewshot: curve.jsonl is identical for --threads 1 and 2 except timing fields") {
  Tiny t;
  auto curve = [&](int threads) {
    TrainParams p;
    p.problem = "fewshot";
    p.method = "ufo";
    p.sets = {"data_dir=" + t.d.path("omni"), "side=8", "filters=3", "ways=3", "inner_steps=2", "eval_tasks=4",
              "meta_batch=4", "eval_every=2", "q=0.5"};
    p.steps = 4;
    p.seed = 5;
    p.threads = threads;
    p.quiet = true;
    const fs::path out = testing::scratch_dir("fewshot_threads" + std::to_string(threads), false);
    p.out_dir = out.string();
    REQUIRE(run_train(resolve_run(p)).status == "ok");
    std::ifstream in(out / "curve.jsonl");
    std::vector<nlohmann::json> rows;
    for (std::string line; std::getline(in, line);) {
      nlohmann::json j = nlohmann::json::parse(line);
      j.erase("seconds");
      j.erase("eval_seconds");
      rows.push_back(j);
    }
    return rows;
  };
  const auto one = curve(1), two = curve(2);
  REQUIRE(one.size() == 5);
  CHECK(one == two);
  CHECK(one.back().contains("test_acc"));
}

TEST_CASE("fewshot: a corrupt PNG, a missing folder and an empty alphabet are one-line usage errors, no run dir") {
  Tiny t;
  auto refused = [&](const std::string& data_dir, const std::string& needle) {
    TrainParams p;
    p.problem = "fewshot";
    p.method = "fo";
    p.sets = {"data_dir=" + data_dir, "dataset=omniglot", "side=8", "filters=3", "ways=3", "eval_tasks=2"};
    p.steps = 1;
    p.quiet = true;
    const fs::path out = testing::scratch_dir("fewshot_refused", false);
    p.out_dir = out.string();
    std::string what;
    try {
      (void)run_train(resolve_run(p));
    } catch (const usage_error& e) {
      what = e.what();
    }
    CHECK(what.find(needle) != std::string::npos);
    CHECK(what.find('\n') == std::string::npos);
    CHECK_FALSE(fs::exists(out));
  };
  SUBCASE("missing folder") { refused(t.d.path("nowhere"), "nowhere"); }
  SUBCASE("corrupt PNG") {
    const std::string f = t.d.path("omni/images_background/Alphabet_1/character11/1005_12.png");
    REQUIRE(fs::exists(f));
    fs::resize_file(f, 40);
    refused(t.d.path("omni"), "1005_12.png");
  }
  SUBCASE("empty alphabet") {
    fs::create_directories(t.d.path("omni/images_evaluation/Empty"));
    refused(t.d.path("omni"), "Empty");
  }
}

}  // TEST_SUITE("problems")
