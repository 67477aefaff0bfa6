// eval, lambda.npy and random search: a finished run's λ re-evaluated reproduces its recorded final metrics
// to the bit, and with changed options gives what the problem built with them gives; the .npy holds λ with
// its layout; random search charges each candidate its inner solve and keeps the best one.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "data/fake_data.hpp"
#include "hypergrad/estimator.hpp"
#include "run/eval.hpp"
#include "run/random_search.hpp"
#include "run/run_dir.hpp"
#include "run/train.hpp"
#include "scratch_dir.hpp"
#include "sys/files.hpp"

using namespace bilevel;
namespace fs = std::filesystem;

namespace {

struct TinyMnist {
  testing::FakeDataDir dir;
  TinyMnist() {
    dir.add_idx_dataset("mnist", 80, 30, 4, 3, false, 3, 60.0);
    dir.write_manifest();
  }
};

}  // namespace

TEST_SUITE("run") {
  TEST_CASE("eval reproduces a finished hpo-l2 run's final metrics exactly, and reports new ones for new options") {
    TinyMnist data;
    TrainParams p;
    p.problem = "hpo-l2";
    p.method = "exact";
    p.sets = {"n_train=40", "n_val=30", "inner_steps=5", "data_dir=" + data.dir.dir(), "instance_seed=3"};
    p.steps = 4;
    p.quiet = true;
    const fs::path run = testing::scratch_dir("eval_run", false);
    p.out_dir = run.string();
    const TrainOutcome out = run_train(resolve_run(p));
    REQUIRE(out.status == "ok");

    EvalParams e;
    e.run_dir = run.string();
    e.out_file = (run / "eval.json").string();
    const nlohmann::json same = run_eval(e);
    size_t compared = 0;
    for (auto it = same["metrics"].begin(); it != same["metrics"].end(); ++it) {
      CAPTURE(it.key());
      CHECK(*it == out.result["final"][it.key()]);  // the same double, not an approximation
      ++compared;
    }
    CHECK(compared >= 7);  // val/test/train loss and accuracy, mean decay
    CHECK(sys::read_json(run / "eval.json")["metrics"] == same["metrics"]);
    CHECK(eval_table_text(same).find("| val_loss |") != std::string::npos);

    // Changed options: the metrics of the problem built with them, at the same λ.
    e.sets = {"eval_inner_steps=12", "n_val=20"};
    e.out_file.clear();
    const nlohmann::json changed = run_eval(e);
    const ProblemInfo& info = find_problem("hpo-l2");
    std::map<std::string, std::string> given = {{"n_train", "40"}, {"n_val", "20"}, {"inner_steps", "5"},
                                                {"eval_inner_steps", "12"}, {"data_dir", data.dir.dir()}};
    const auto problem = info.make(Options::resolve("hpo-l2", info.options, given), 3);
    const Tensor lambda = read_saved_lambda(run, "test");
    for (const auto& [k, v] : problem->evaluate(lambda)) {
      CAPTURE(k);
      CHECK(changed["metrics"][k] == v);
    }
    CHECK(changed["metrics"]["val_loss"] != same["metrics"]["val_loss"]);
    CHECK(changed["changed"]["n_val"] == "20");

    // Refusals, before anything is evaluated: an option of a method, a directory that is not a run, a λ of
    // another size.
    e.sets = {"q=0.5"};
    CHECK_THROWS_WITH_AS(run_eval(e), doctest::Contains("it is an option of: ufo"), option_error);
    e.sets = {};
    e.run_dir = (run / "nothing").string();
    CHECK_THROWS_AS(run_eval(e), option_error);
    e.run_dir = run.string();
    e.sets = {"decay=scalar"};
    CHECK_THROWS_WITH_AS(run_eval(e), doctest::Contains("has 51 values, but problem 'hpo-l2' with these options has 1"),
                         option_error);
    fs::remove_all(run);
  }

  TEST_CASE("lambda.npy is a NumPy array of λ; result.json gives its layout") {
    const fs::path dir = testing::scratch_dir("npy");
    Tensor t(Shape{5});
    for (int64_t i = 0; i < 5; ++i) t[i] = static_cast<real>(0.25 * static_cast<double>(i) - 1);
    const std::string bytes = npy_bytes(t);
    CHECK(bytes.compare(0, 6, "\x93NUMPY") == 0);
    CHECK((bytes.size() - 5 * sizeof(real)) % 64 == 0);  // the header is padded to 64 bytes
    CHECK(bytes.find(sizeof(real) == 8 ? "'descr': '<f8'" : "'descr': '<f4'") != std::string::npos);
    CHECK(bytes.find("'shape': (5,)") != std::string::npos);
    sys::write_file_atomic(dir / "l.npy", bytes);
    CHECK(max_abs_diff(read_npy(dir / "l.npy"), t) == 0);
    // numpy's own float64 file (np.save of a float64 array) reads too; other dtypes are refused.
    std::string f8 = "\x93NUMPY\x01";
    f8 += '\0';
    std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
    header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
    header += '\n';
    f8 += static_cast<char>(header.size());
    f8 += '\0';
    f8 += header;
    const double vals[2] = {0.5, -2.0};
    f8.append(reinterpret_cast<const char*>(vals), sizeof vals);
    sys::write_file_atomic(dir / "d.npy", f8);
    const Tensor d = read_npy(dir / "d.npy");
    CHECK(d.numel() == 2);
    CHECK(d[1] == real(-2));
    std::string i8 = f8;
    i8.replace(i8.find("<f8"), 3, "<i8");
    sys::write_file_atomic(dir / "i.npy", i8);
    CHECK_THROWS_WITH_AS(read_npy(dir / "i.npy"), doctest::Contains("not float32 or float64"), usage_error);
    sys::write_file_atomic(dir / "short.npy", f8.substr(0, f8.size() - 3));
    CHECK_THROWS_AS(read_npy(dir / "short.npy"), usage_error);

    // A sinusoid run's λ (the meta-initialisation) has the model's layout, blocks in order covering λ.
    TrainParams p;
    p.problem = "sinusoid";
    p.method = "fo";
    p.sets = {"hidden=8", "inner_steps=1", "eval_tasks=2", "meta_batch=2"};
    p.steps = 1;
    p.quiet = true;
    p.out_dir = (dir / "run").string();
    REQUIRE(run_train(resolve_run(p)).status == "ok");
    const nlohmann::json lam = sys::read_json(dir / "run" / "result.json")["lambda"];
    CHECK(lam["npy"] == "lambda.npy");
    int64_t offset = 0;
    for (const auto& block : lam["layout"]) {
      CHECK(block["offset"] == offset);
      int64_t n = 1;
      for (const auto& dim : block["shape"]) n *= dim.get<int64_t>();
      offset += n;
    }
    CHECK(offset == lam["shape"][0]);
    CHECK(lam["layout"][0]["name"] == "layer0.weight");
    CHECK(max_abs_diff(read_npy(dir / "run" / "lambda.npy"), read_saved_lambda(dir / "run", "test")) == 0);
    fs::remove_all(dir);
  }

  TEST_CASE("random search: candidate 0 is the start, each candidate costs its inner solve, the best is kept") {
    TrainParams p;
    p.problem = "quadratic";
    p.sets = {"dim=3", "low=-3", "high=3", "eval_every=5"};
    p.seed = 2;
    p.budget_cost = 21 * 12;  // fo on the quadratic: r = 20 inner gradients + 1
    p.quiet = true;
    const fs::path dir = testing::scratch_dir("search", false);
    p.out_dir = dir.string();
    const SearchOutcome o = run_random_search(p);
    REQUIRE(o.status == "ok");
    CHECK(o.result["steps"] == 12);
    CHECK(o.result["cost"] == 252);
    CHECK(o.result["grad_evals"] == 252);
    CHECK(o.result["method"] == "random-search");
    // The kept λ is the candidate with the lowest outer loss among the logged rows, and it is no worse than
    // the start (candidate 0).
    std::ifstream in(dir / "curve.jsonl");
    std::string line;
    double best = INFINITY, start = NAN;
    while (std::getline(in, line)) {
      const auto row = nlohmann::json::parse(line);
      if (row["outer_loss"].is_null()) continue;
      if (row["step"] == 1) start = row["outer_loss"].get<double>();
      best = std::min(best, row["outer_loss"].get<double>());
    }
    CHECK(o.result["final"]["outer_loss"].get<double>() == best);
    CHECK(best <= start);
    // The final metrics are the problem's evaluation of the kept λ (the eval path).
    EvalParams e;
    e.run_dir = dir.string();
    CHECK(run_eval(e)["metrics"]["val_loss"] == o.result["final"]["val_loss"]);
    const nlohmann::json cfg = sys::read_json(dir / "config.json");
    CHECK(cfg["method"] == "random-search");
    CHECK(cfg["method_options"]["low"] == -3.0);

    p.sets = {"dim=3", "low=2", "high=1"};
    p.force = true;
    CHECK_THROWS_WITH_AS(run_random_search(p), doctest::Contains("below high"), option_error);
    p.problem = "sinusoid";
    p.sets = {};
    CHECK_THROWS_WITH_AS(run_random_search(p), doctest::Contains("few hyperparameters"), option_error);
    fs::remove_all(dir);
  }
}
