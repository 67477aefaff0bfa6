// Checkpoints: exact bits of every double and tensor through checkpoint.json; estimator state (adaptive-q
// statistics, persistent SGLD chains) saved mid-run and loaded into a fresh estimator continues bit for bit —
// and without it the run goes elsewhere, so the state is what carries it; refusals of a checkpoint that does
// not fit.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "hypergrad/estimator.hpp"
#include "instance.hpp"
#include "run/checkpoint.hpp"
#include "run/meta_batch.hpp"
#include "scratch_dir.hpp"
#include "sys/files.hpp"

using namespace bilevel;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<Estimator> make(const std::string& method, const Problem& p, std::map<std::string, std::string> sets) {
  const MethodInfo& m = find_method(method);
  const Options o = Options::resolve(method, m.options, sets);
  REQUIRE(sets.empty());
  return make_estimator(m, o, p);
}

// Steps [from, to) of a run's meta-batches at a fixed λ: each step's mean hypergradient.
std::vector<Tensor> steps(Estimator& e, const Problem& p, const Tensor& lambda, int64_t from, int64_t to, int64_t tasks) {
  std::vector<Tensor> out;
  std::vector<HypergradResult> results(static_cast<size_t>(tasks));
  for (int64_t s = from; s < to; ++s) {
    e.begin_step(s);
    estimate_tasks(p, e, lambda, 11, s, 0, results);
    e.end_step(results);
    out.push_back(reduce_meta_batch(results, p.lambda_dim()).grad);
  }
  return out;
}

// Runs 0..n uninterrupted, and 0..k then save → load into a fresh estimator → k..n; the second half must be
// the same bits, and a fresh estimator without the state must differ (or the test could not fail).
void check_continuation(const std::string& method, const testing::Instance& in,
                        const std::map<std::string, std::string>& sets, int64_t k, int64_t n, int64_t tasks) {
  auto whole = make(method, *in.problem, sets);
  const auto a = steps(*whole, *in.problem, in.lambda, 0, n, tasks);
  auto first = make(method, *in.problem, sets);
  steps(*first, *in.problem, in.lambda, 0, k, tasks);
  const EstimatorState saved = first->save_state();
  CHECK_FALSE(saved.empty());
  auto second = make(method, *in.problem, sets);
  second->load_state(saved);
  const auto b = steps(*second, *in.problem, in.lambda, k, n, tasks);
  auto cold = make(method, *in.problem, sets);
  const auto c = steps(*cold, *in.problem, in.lambda, k, n, tasks);
  bool cold_differs = false;
  for (int64_t s = k; s < n; ++s) {
    CAPTURE(s);
    CHECK(max_abs_diff(a[static_cast<size_t>(s)], b[static_cast<size_t>(s - k)]) == 0);
    cold_differs = cold_differs || max_abs_diff(a[static_cast<size_t>(s)], c[static_cast<size_t>(s - k)]) > 0;
  }
  CHECK(cold_differs);
}

}  // namespace

TEST_SUITE("run") {
  TEST_CASE("hex-float text keeps every bit of a double") {
    for (double v : {0.1, -1.0 / 3.0, 1e-310, 6.02214076e23, 0.0, -0.0, std::numeric_limits<double>::max()}) {
      const double back = exact_double_parse(exact_double_text(v), "v");
      CHECK(std::memcmp(&back, &v, sizeof v) == 0);
    }
    CHECK(std::isnan(exact_double_parse(exact_double_text(NAN), "v")));
    CHECK(exact_double_parse(exact_double_text(-INFINITY), "v") == -INFINITY);
    CHECK_THROWS_AS(exact_double_parse("0.1", "v"), usage_error);
    CHECK_THROWS_AS(exact_double_parse("0x1.8p", "v"), usage_error);
  }

  TEST_CASE("adaptive ufo continues bit for bit from its saved statistics") {
    auto in = testing::make_instance("sinusoid", {{"hidden", "8"}, {"inner_steps", "2"}});
    check_continuation("ufo", in, {{"q", "adaptive"}}, 6, 12, 4);  // q leaves q_min = 0.05 after step 5
    auto fixed = make("ufo", *in.problem, {{"q", "0.5"}});
    CHECK(fixed->save_state().empty());  // a fixed q carries nothing
    CHECK_THROWS_AS(fixed->load_state({{}, {{"n_s", 1.0}}}), usage_error);
  }

  TEST_CASE("persistent sgld chains continue bit for bit from their saved states") {
    auto in = testing::make_instance("quadratic", {{"dim", "4"}});
    const std::map<std::string, std::string> sets = {
        {"persistent", "true"}, {"chains", "2"}, {"burn_in", "3"}, {"samples", "3"}, {"variant", "one-step"}};
    check_continuation("sgld", in, sets, 2, 5, 1);
    auto e = make("sgld", *in.problem, sets);
    CHECK_THROWS_AS(e->load_state({{{"chain_0", Tensor(Shape{7})}}, {}}), usage_error);  // wrong count and size
  }

  TEST_CASE("a checkpoint file restores λ, the optimizer, counters, losses, evaluation and estimator state") {
    auto in = testing::make_instance("quadratic", {{"dim", "3"}});
    std::map<std::string, std::string> none;
    const Options ro = Options::resolve("run", {opt_choice("outer_opt", "adam", {"sgd", "adam"}, ""),
                                                opt_real("adam_beta1", 0.9, ""), opt_real("adam_beta2", 0.999, ""),
                                                opt_real("adam_eps", 1e-8, "")},
                                        none);
    RunState s = initial_run_state(*in.problem, ro, 1);
    s.lambda[0] = static_cast<real>(0.1);
    s.optimizer.step(s.lambda, Tensor(Shape{3}, real(0.3)), 0.01);
    s.counters = {7, 70, 14, 84.25, 1234, 1.0 / 3.0, 0.125, 2.5};
    s.record_loss(1.0 / 7.0);
    s.last_eval = {{"val_loss", 0.2206}, {"theta_dist", 1e-300}};
    const EstimatorState est{{{"chain_0", Tensor(Shape{3}, real(-1.5))}}, {{"q", 0.3}}};
    const fs::path dir = testing::scratch_dir("checkpoint");
    const nlohmann::json id = {{"problem", "quadratic"}, {"seed", 1}};
    write_checkpoint(dir, s, est, 321, id);

    const RunState fresh = initial_run_state(*in.problem, ro, 1);
    const Checkpoint c = read_checkpoint(dir, fresh, id);
    CHECK(max_abs_diff(c.state.lambda, s.lambda) == 0);
    CHECK(max_abs_diff(c.state.optimizer.first_moment(), s.optimizer.first_moment()) == 0);
    CHECK(max_abs_diff(c.state.optimizer.second_moment(), s.optimizer.second_moment()) == 0);
    CHECK(c.state.optimizer.steps_taken() == 1);
    CHECK(c.state.counters.step == 7);
    CHECK(c.state.counters.cost == 84.25);
    CHECK(c.state.counters.est_seconds == 1.0 / 3.0);
    CHECK(c.state.recent_losses == s.recent_losses);
    CHECK(c.state.last_eval == s.last_eval);
    CHECK(c.curve_bytes == 321);
    REQUIRE(c.estimator.tensors.size() == 1);
    CHECK(max_abs_diff(c.estimator.tensors[0].second, est.tensors[0].second) == 0);
    CHECK(c.estimator.scalars == est.scalars);

    // Another run's checkpoint, or one for another λ size, is refused naming the file.
    CHECK_THROWS_WITH_AS(read_checkpoint(dir, fresh, {{"problem", "quadratic"}, {"seed", 2}}),
                         doctest::Contains("checkpoint.json"), usage_error);
    auto big = testing::make_instance("quadratic", {{"dim", "5"}});
    CHECK_THROWS_WITH_AS(read_checkpoint(dir, initial_run_state(*big.problem, ro, 1), id), doctest::Contains("shape"),
                         usage_error);
    // The file's bytes are checked on their own (parse_checkpoint, which the fuzz target `checkpoint` runs): a
    // number beyond double range is a usage_error naming the file (it escaped as nlohmann's out_of_range), and
    // optimizer moments of another size than λ are refused naming the file.
    const std::string text = sys::read_file(dir / checkpoint_file_name);
    CHECK(checkpoint_text(parse_checkpoint(text, "c.json")) == text);
    std::string huge = text;
    huge.replace(huge.find("\"curve_bytes\":321"), 17, "\"curve_bytes\":1e400");
    sys::write_file_atomic(dir / checkpoint_file_name, huge);
    CHECK_THROWS_WITH_AS(read_checkpoint(dir, fresh, id), doctest::Contains("checkpoint.json: not JSON"), usage_error);
    CheckpointFields f = parse_checkpoint(text, "c.json");
    f.first_moment = Tensor(Shape{2});
    sys::write_file_atomic(dir / checkpoint_file_name, checkpoint_text(f));
    CHECK_THROWS_WITH_AS(read_checkpoint(dir, fresh, id), doctest::Contains("checkpoint.json: optimizer state of sizes"),
                         usage_error);
    sys::write_file_atomic(dir / checkpoint_file_name, "{\"version\": 1}");
    CHECK_THROWS_AS(read_checkpoint(dir, fresh, id), usage_error);
    fs::remove_all(dir);
  }

  TEST_CASE("a meta-batch's cost sums each task's cost_of: its own cost, else grad_evals + hvps") {
    std::vector<HypergradResult> r(3);
    for (auto& x : r) x.grad = Tensor(Shape{1});
    r[0].grad_evals = 10, r[0].hvps = 5;      // full-batch: 15
    r[1].grad_evals = 4, r[1].cost = 0.25;    // a minibatch oracle: its own units
    r[2].hvps = 2;                            // 2
    const MetaBatchResult m = reduce_meta_batch(r, 1);
    CHECK(m.cost == 17.25);
    CHECK(m.grad_evals == 14);
    CHECK(m.hvps == 7);
  }
}
