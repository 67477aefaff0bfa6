// The outer loop: reproducibility across thread counts, run-directory contents, budgets, divergence.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "hypergrad/estimator.hpp"
#include "instance.hpp"
#include "run/meta_batch.hpp"
#include "run/run_dir.hpp"
#include "run/train.hpp"
#include "sys/files.hpp"
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
}
