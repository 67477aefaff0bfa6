// The outer loop: reproducibility across thread counts, run-directory contents, budgets, divergence.
#include <doctest/doctest.h>
#include <oneapi/tbb/global_control.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "data/fake_data.hpp"
#include "data/omniglot_fixture.hpp"
#include "hypergrad/estimator.hpp"
#include "optim/outer.hpp"
#include "instance.hpp"
#include "run/compare.hpp"
#include "run/meta_batch.hpp"
#include "run/run_dir.hpp"
#include "run/train.hpp"
#include "sys/files.hpp"
#include "tensor/gemm_small.hpp"
#include "tensor/rng.hpp"
#include "scratch_dir.hpp"

using namespace bilevel;
namespace fs = std::filesystem;

namespace {

std::vector<nlohmann::json> read_curve(const fs::path& dir, bool drop_timing) {
  std::ifstream in(dir / "curve.jsonl");
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (drop_timing) {
      j.erase("seconds");
      j.erase("eval_seconds");
    }
    rows.push_back(j);
  }
  return rows;
}

TrainOutcome train(TrainParams p) { return run_train(resolve_run(p)); }

// A result.json without the fields that measure time or memory (they differ between two identical runs).
nlohmann::json without_timing(nlohmann::json r) {
  for (const char* k : {"seconds", "eval_seconds", "wall_seconds", "peak_rss_bytes"}) r.erase(k);
  return r;
}

std::string file_bytes(const fs::path& f) { return sys::read_file(f); }

// A quiet run of `steps` outer steps.
TrainParams quick(const std::string& problem, const std::string& method, std::vector<std::string> sets, int64_t steps) {
  TrainParams p;
  p.problem = problem;
  p.method = method;
  p.sets = std::move(sets);
  p.steps = steps;
  p.quiet = true;
  return p;
}

// Small options for each problem, so that a few outer steps of each take well under a second. A new problem
// fails the test until it is added here.
std::vector<std::string> small_options(const std::string& problem, const std::string& data_dir) {
  static const std::map<std::string, std::vector<std::string>> sets = {
      {"quadratic", {"dim=4"}},
      {"ufo-counterexample", {}},
      {"ufo-qcurve", {}},
      {"sinusoid", {"hidden=8", "inner_steps=2", "eval_tasks=3", "meta_batch=3"}},
      {"hpo-l2", {"n_train=40", "n_val=30", "inner_steps=4"}},
      {"hyper-cleaning", {"n_train=40", "n_val=30", "inner_steps=4"}},
      {"gaussian-sgld", {}},
      {"toy-multimin", {"inner_steps=20", "eval_restarts=2"}},
      {"fewshot", {"side=8", "filters=3", "ways=3", "inner_steps=2", "eval_tasks=3", "meta_batch=2"}},
      {"loss-learning", {"n_train=40", "n_val=30", "inner_steps=4"}},
      {"invariance-learning", {"n_train=10", "n_val=20", "n_test=20", "image_size=4", "inner_steps=3"}},
      {"inr", {"image_size=4", "hidden=6", "eval_images=2", "inner_steps=2", "meta_batch=2"}},
  };
  const auto it = sets.find(problem);
  if (it == sets.end()) FAIL("add small options for problem '" << problem << "' to this test");
  std::vector<std::string> out = it->second;
  if (problem == "hpo-l2" || problem == "hyper-cleaning" || problem == "loss-learning" ||
      problem == "invariance-learning" || problem == "inr")
    out.push_back("data_dir=" + data_dir);
  if (problem == "fewshot") {  // a tiny Omniglot-layout folder beside the other fake datasets (dataset=auto finds it)
    if (!fs::exists(data_dir + "/omniglot")) testing::write_tiny_omniglot(data_dir + "/omniglot");
    out.push_back("data_dir=" + data_dir);
  }
  return out;
}

}  // namespace

TEST_SUITE("run") {
  TEST_CASE("curve.jsonl is identical for --threads 1 and 2 except timing fields") {
    TrainParams p;
    p.problem = "sinusoid";
    p.method = "ufo";
    p.sets = {"q=0.5", "meta_batch=6", "hidden=8", "inner_steps=2", "eval_every=2", "eval_tasks=5"};
    p.seed = 3;
    p.steps = 6;
    p.quiet = true;
    const fs::path d1 = testing::scratch_dir("t1", false), d2 = testing::scratch_dir("t2", false);
    p.threads = 1;
    p.out_dir = d1;
    REQUIRE(train(p).status == "ok");
    p.threads = 2;
    p.out_dir = d2;
    REQUIRE(train(p).status == "ok");
    auto a = read_curve(d1, true), b = read_curve(d2, true);
    REQUIRE(a.size() == 7);
    CHECK(a == b);
    // The coin flips really varied, or the test could not tell threads apart.
    int drawn = 0;
    for (const auto& r : a)
      if (r.contains("exact_drawn")) drawn += r["exact_drawn"].get<int>();
    CHECK(drawn > 0);
    CHECK(drawn < 36);
    fs::remove_all(d1);
    fs::remove_all(d2);
  }

  TEST_CASE("hpo-l2 and hyper-cleaning: curve.jsonl identical for --threads 1 and 2 with products split") {
    // One task, so the second thread only helps inside the products: with the split grain lowered every
    // product of these small instances is cut into blocks of a few rows that the two threads share.
    testing::FakeDataDir data;
    data.add_idx_dataset("mnist", 200, 30, 6, 3, false, 3, 60.0);
    data.write_manifest();
    const int64_t saved = gemm_detail::split_grain_value();
    gemm_detail::set_split_grain(16);
    for (const char* problem : {"hpo-l2", "hyper-cleaning"})
      for (const char* method : {"exact", "ift-cg"}) {
        CAPTURE(problem);
        CAPTURE(method);
        TrainParams p = quick(problem, method, {"n_train=120", "n_val=60", "inner_steps=5", "eval_every=2",
                                                "data_dir=" + data.dir()}, 4);
        const fs::path d1 = testing::scratch_dir("s1", false), d2 = testing::scratch_dir("s2", false);
        p.threads = 1;
        p.out_dir = d1;
        REQUIRE(train(p).status == "ok");
        p.threads = 2;
        p.out_dir = d2;
        REQUIRE(train(p).status == "ok");
        const auto a = read_curve(d1, true), b = read_curve(d2, true);
        REQUIRE(a.size() == 5);
        CHECK(a == b);
        CHECK(file_bytes(d1 / "lambda.bin") == file_bytes(d2 / "lambda.bin"));
        fs::remove_all(d1);
        fs::remove_all(d2);
      }
    gemm_detail::set_split_grain(saved);
  }

  TEST_CASE("a meta-batch estimated in parts equals the whole, and reduces in task order") {
    // Each task's result depends only on (seed, step, task index), so any split of the tasks (threads now,
    // ranks later) gives the same per-task results, and the task-order reduction the same bits.
    auto in = testing::make_instance("sinusoid", {{"hidden", "8"}, {"inner_steps", "2"}});
    const MethodInfo& m = find_method("ufo");
    std::map<std::string, std::string> q = {{"q", "0.5"}};
    const auto est = make_estimator(m, Options::resolve("ufo", m.options, q), *in.problem);
    std::vector<HypergradResult> whole(6), head(2), tail(4);
    estimate_tasks(*in.problem, *est, in.lambda, 9, 3, 0, whole);
    estimate_tasks(*in.problem, *est, in.lambda, 9, 3, 0, head);
    estimate_tasks(*in.problem, *est, in.lambda, 9, 3, 2, tail);
    std::vector<HypergradResult> parts = head;
    parts.insert(parts.end(), tail.begin(), tail.end());
    for (size_t i = 0; i < whole.size(); ++i) {
      CAPTURE(i);
      CHECK(max_abs_diff(whole[i].grad, parts[i].grad) == 0);
      CHECK(whole[i].outer_loss == parts[i].outer_loss);
    }
    const MetaBatchResult a = reduce_meta_batch(whole, in.problem->lambda_dim()),
                          b = reduce_meta_batch(parts, in.problem->lambda_dim());
    CHECK(max_abs_diff(a.grad, b.grad) == 0);
    CHECK(a.outer_loss == b.outer_loss);
    CHECK(a.grad_evals == b.grad_evals);
    // The mean: Σᵢ gᵢ / n, summed in task order.
    Tensor sum(Shape{in.problem->lambda_dim()});
    int64_t evals = 0;
    for (const auto& r : whole) {
      axpy(real(1), r.grad, sum);
      evals += r.grad_evals;
    }
    CHECK(max_abs_diff(a.grad, scaled(sum, real(1) / real(6))) == 0);
    CHECK(a.grad_evals == evals);
    // Tasks differ (different streams), or the test could not tell a split from a repeat.
    CHECK(max_abs_diff(whole[0].grad, whole[1].grad) > 0);
  }

  TEST_CASE("a large λ's meta-batch mean and Adam step run in element blocks: the same bits on 1 and 2 threads") {
    // 100 000 elements: several of parallel_elements' blocks, so two threads really share them.
    const int64_t H = 100000;
    Rng rng(5);
    std::vector<HypergradResult> results(5);
    for (auto& r : results) r.grad = rng.normal_tensor(Shape{H});
    const Tensor lambda0 = rng.normal_tensor(Shape{H});
    auto run = [&](int threads) {
      tbb::global_control ctl(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(threads));
      const MetaBatchResult m = reduce_meta_batch(results, H);
      OuterOptimizer opt(OuterOptimizerConfig{}, H);
      Tensor lambda = lambda0;
      opt.step(lambda, m.grad, 0.01);
      opt.step(lambda, m.grad, 0.01);
      return std::vector<Tensor>{m.grad, lambda, opt.first_moment(), opt.second_moment()};
    };
    const auto one = run(1), two = run(2);
    for (size_t i = 0; i < one.size(); ++i) {
      CAPTURE(i);
      CHECK(max_abs_diff(one[i], two[i]) == 0);
    }
    // The mean is Σᵢ gᵢ / n in task order; Adam's first step moves every element by lr (up to ε).
    Tensor sum(Shape{H});
    for (const auto& r : results) axpy(real(1), r.grad, sum);
    CHECK(max_abs_diff(one[0], scaled(sum, real(1) / real(5))) == 0);
    OuterOptimizer single(OuterOptimizerConfig{}, H);
    Tensor stepped_once = lambda0;
    single.step(stepped_once, one[0], 0.01);
    CHECK(max_abs_diff(sub(lambda0, stepped_once), Tensor(Shape{H}, real(0))) == doctest::Approx(0.01).epsilon(1e-3));
  }

  TEST_CASE("a run directory holds config, curve, lambda and result") {
    TrainParams p;
    p.problem = "quadratic";
    p.method = "exact";
    p.steps = 5;
    p.quiet = true;
    p.out_dir = testing::scratch_dir("dir", false);
    auto out = train(p);
    REQUIRE(out.status == "ok");
    const fs::path d = p.out_dir;
    auto cfg = sys::read_json(d / "config.json");
    CHECK(cfg["problem"] == "quadratic");
    CHECK(cfg["problem_options"].contains("dim"));      // defaults are resolved and written
    CHECK(cfg["method_options"]["recompute"] == false);
    CHECK(cfg["run_options"].contains("outer_lr"));
    auto res = sys::read_json(d / "result.json");
    CHECK(res["status"] == "ok");
    CHECK(res["steps"] == 5);
    CHECK(res["final"].contains("hypergrad_norm_exact"));
    const auto shape = res["lambda"]["shape"].get<std::vector<int64_t>>();
    Tensor lam = read_tensor_bin(d / "lambda.bin", Shape(shape), res["lambda"]["dtype"]);
    CHECK(lam.numel() == shape[0]);
    auto rows = read_curve(d, false);
    CHECK(rows.size() == 6);
    CHECK(rows.back()["step"] == 5);
    CHECK(rows.back().contains("theta_dist"));
    // A finished directory is not overwritten by accident.
    CHECK_THROWS_AS(train(p), option_error);
    fs::remove_all(d);
  }

  TEST_CASE("the cost budget ends the run") {
    TrainParams p;
    p.problem = "ufo-counterexample";
    p.method = "fo";
    p.budget_cost = 110;  // fo costs r + 1 = 11 per step
    p.quiet = true;
    p.out_dir = testing::scratch_dir("budget", false);
    auto out = train(p);
    CHECK(out.status == "ok");
    CHECK(out.result["steps"] == 10);
    CHECK(out.result["grad_evals"] == 110);
    CHECK(out.result["cost"] == 110);
    fs::remove_all(p.out_dir);
  }

  TEST_CASE("a diverging run ends with status diverged") {
    TrainParams p;
    p.problem = "quadratic";
    p.method = "exact";
    p.sets = {"outer_opt=sgd", "outer_lr=1e30"};
    p.steps = 50;
    p.quiet = true;
    p.out_dir = testing::scratch_dir("div", false);
    auto out = train(p);
    CHECK(out.status == "diverged");
    CHECK(sys::read_json(fs::path(p.out_dir) / "result.json")["status"] == "diverged");
    fs::remove_all(p.out_dir);
  }

  TEST_CASE("bad options are refused before anything is written") {
    TrainParams p;
    p.problem = "quadratic";
    p.method = "ufo";
    p.steps = 5;
    p.out_dir = testing::scratch_dir("bad", false);
    auto refused = [&](std::vector<std::string> sets, const char* needle) {
      p.sets = sets;
      CHECK_THROWS_WITH_AS(resolve_run(p), doctest::Contains(needle), option_error);
    };
    refused({"q=1.5"}, "q");
    refused({"q=0"}, "q");
    refused({"q=abc"}, "abc");
    refused({"nonsense=1"}, "nonsense");
    refused({"inner_steps=-3"}, "inner_steps");
    refused({"outer_opt=rmsprop"}, "sgd, adam");
    refused({"novalue"}, "key=value");
    p.sets = {};
    p.steps = -1;
    CHECK_THROWS_AS(resolve_run(p), option_error);
    CHECK_FALSE(fs::exists(p.out_dir));
  }

  TEST_CASE("cost: the counters, the budget and compare's x axis agree, on every problem") {
    testing::FakeDataDir data;
    data.add_idx_dataset("mnist", 80, 30, 4, 3, false, 3, 60.0);
    data.write_manifest();
    for (const ProblemInfo& info : problem_registry()) {
      CAPTURE(info.name);
      TrainParams p = quick(info.name, "exact", small_options(info.name, data.dir()), 1);  // exact: grads and HVPs
      const fs::path one = testing::scratch_dir("cost1", false), dir = testing::scratch_dir("cost", false);
      p.out_dir = one.string();
      const double c1 = train(p).result["cost"].get<double>();  // one step
      REQUIRE(c1 > 0);
      p.steps = 0;
      p.budget_cost = 2.5 * c1;
      p.out_dir = dir.string();
      const TrainOutcome out = train(p);
      REQUIRE(out.status == "ok");
      const double cost = out.result["cost"].get<double>();
      // The result's cost is the sum of its counters (a full-batch estimator), and the budget ended the run at
      // the first step that reached it.
      CHECK(cost == out.result["grad_evals"].get<double>() + out.result["hvps"].get<double>());
      CHECK(out.result["steps"] == 3);
      CHECK(cost >= p.budget_cost);
      CHECK(cost - c1 < p.budget_cost);
      // Every curve row's cost is its counters' sum; the last row's is the result's.
      const auto rows = read_curve(dir, false);
      for (const auto& r : rows) CHECK(r["cost"].get<double>() == r["grad_evals"].get<double>() + r["hvps"].get<double>());
      CHECK(rows.back()["cost"].get<double>() == cost);
      // compare's x axis and table read the same numbers.
      const Comparison c = compare_build(compare_find_runs({dir.string()}), {"method"});
      const CompareCurves curves = compare_curves(c, "outer_loss", "cost", 7);
      REQUIRE(curves.bands.size() == 1);
      CHECK(curves.bands[0].x.back() == cost);
      CHECK(c.groups[0].cost.mean == cost);
      CHECK(c.groups[0].steps.mean == 3);
      fs::remove_all(one);
      fs::remove_all(dir);
    }
  }

  TEST_CASE("train --from reruns a finished run to identical outputs; config.json says how it was started") {
    TrainParams p =
        quick("sinusoid", "ufo", {"q=0.5", "hidden=8", "inner_steps=2", "eval_tasks=3", "meta_batch=3", "eval_every=2"}, 6);
    p.seed = 5;
    p.threads = 2;
    p.command_line = {"bilevel-opt", "train", "…"};
    const fs::path a = testing::scratch_dir("from_a", false), b = testing::scratch_dir("from_b", false);
    p.out_dir = a.string();
    REQUIRE(train(p).status == "ok");
    const auto cfg = sys::read_json(a / "config.json");
    CHECK(cfg["command_line"] == p.command_line);
    CHECK(cfg["host"].get<std::string>().size() > 0);
    CHECK(cfg["start_time"].get<std::string>().size() == 20);  // 2026-01-31T12:00:00Z

    TrainParams again;
    again.from_dir = a.string();
    again.out_dir = b.string();
    again.quiet = true;
    REQUIRE(train(again).status == "ok");
    CHECK(file_bytes(a / "lambda.bin") == file_bytes(b / "lambda.bin"));
    CHECK(file_bytes(a / "lambda.npy") == file_bytes(b / "lambda.npy"));
    CHECK(read_curve(a, true) == read_curve(b, true));
    CHECK(without_timing(sys::read_json(a / "result.json")) == without_timing(sys::read_json(b / "result.json")));
    const auto cfg_b = sys::read_json(b / "config.json");
    CHECK(cfg_b["from"] == a.string());
    CHECK(cfg_b["threads"] == 2);  // kept from the run
    for (const char* k : {"problem_options", "method_options", "run_options", "seed", "steps"}) CHECK(cfg_b[k] == cfg[k]);

    // Flags given beside --from win; a run's config.json given to --config says to use --from.
    again.seed = 6;
    again.seed_given = true;
    CHECK(resolve_run(again).config["seed"] == 6);
    TrainParams wrong;
    wrong.config_file = (a / "config.json").string();
    wrong.out_dir = b.string();
    CHECK_THROWS_WITH_AS(resolve_run(wrong), doctest::Contains("--from"), option_error);
    fs::remove_all(a);
    fs::remove_all(b);
  }

  TEST_CASE("lambda_init_file starts a run where another ended; a λ of another shape is refused first") {
    TrainParams p = quick("quadratic", "exact", {"dim=4"}, 20);
    const fs::path a = testing::scratch_dir("init_a", false), b = testing::scratch_dir("init_b", false);
    p.out_dir = a.string();
    const TrainOutcome first = train(p);
    REQUIRE(first.status == "ok");
    p.sets.push_back("lambda_init_file=" + a.string());
    p.out_dir = b.string();
    REQUIRE(train(p).status == "ok");
    // Row 0 of the second run evaluates the λ the first one ended with: the same metrics, to the bit.
    const auto row0 = read_curve(b, false).front();
    for (const char* m : {"val_loss", "val_loss_star", "theta_dist", "hypergrad_norm_exact"}) {
      CAPTURE(m);
      CHECK(row0[m] == first.result["final"][m]);
    }
    // The .npy of the first run works as well; a λ of 4 values does not fit dim = 5, and nothing is written.
    p.sets = {"dim=4", "lambda_init_file=" + (a / "lambda.npy").string()};
    p.out_dir = testing::scratch_dir("init_c", false).string();
    CHECK(resolve_run(p).run_opts.get_string("lambda_init_file") == (a / "lambda.npy").string());
    p.sets = {"dim=5", "lambda_init_file=" + a.string()};
    CHECK_THROWS_WITH_AS(train(p), doctest::Contains("λ has 4 values"), option_error);
    CHECK_FALSE(fs::exists(p.out_dir));
    p.sets = {"dim=4", "lambda_init_file=" + (a / "nothing.npy").string()};
    CHECK_THROWS_AS(train(p), option_error);
    fs::remove_all(a);
    fs::remove_all(b);
  }

  TEST_CASE("--resume refuses a finished run, other options and a directory without a run") {
    TrainParams p = quick("quadratic", "fo", {}, 3);
    const fs::path a = testing::scratch_dir("resume_refuse", false);
    p.out_dir = a.string();
    REQUIRE(train(p).status == "ok");
    TrainParams r;
    r.out_dir = a.string();
    r.resume = true;
    CHECK_THROWS_WITH_AS(train(r), doctest::Contains("already ended (status ok)"), option_error);
    r.sets = {"q=0.5"};
    CHECK_THROWS_WITH_AS(resolve_run(r), doctest::Contains("only --threads"), option_error);
    r.sets = {};
    r.out_dir = (a / "none").string();
    CHECK_THROWS_AS(resolve_run(r), option_error);
    fs::remove_all(a);
  }

  TEST_CASE("an option nobody takes says who takes it; a misspelt one gets a suggestion") {
    TrainParams p = quick("quadratic", "fo", {"q=0.5"}, 0);
    p.out_dir = "unused";
    CHECK_THROWS_WITH_AS(resolve_run(p),
                         "option 'q' is not taken by method 'fo' or problem 'quadratic'; it is an option of: ufo",
                         option_error);
    p.sets = {"innerr_steps=3"};
    CHECK_THROWS_WITH_AS(resolve_run(p), doctest::Contains("unknown option 'innerr_steps' (did you mean 'inner_steps'?)"),
                         option_error);
    p.sets = {"budget_grad_evals=100"};
    CHECK_THROWS_WITH_AS(resolve_run(p), doctest::Contains("renamed 'budget_cost'"), option_error);
  }
}
