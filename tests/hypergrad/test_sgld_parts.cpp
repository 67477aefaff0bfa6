// sgld split into parts (its chains), as a run across MPI ranks computes it (run/distributed.hpp): combining
// every chain's bytes gives exactly the estimate, whatever order the chains were computed in.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "base/bytes.hpp"
#include "hypergrad/estimator.hpp"
#include "instance.hpp"
#include "tensor/tensor_bytes.hpp"

using namespace bilevel;

namespace {

using testing::Instance;
using testing::make_instance;
using testing::Sets;

std::unique_ptr<Estimator> make_method(const std::string& name, const Instance& in, Sets sets) {
  const MethodInfo& m = find_method(name);
  Options o = Options::resolve(name, m.options, sets);
  REQUIRE(sets.empty());
  return make_estimator(m, o, *in.problem);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) return false;
  return std::equal(a.data(), a.data() + a.numel(), b.data());
}

// estimate() against combine_parts of every part (computed last to first), with the same stream.
void check_parts_equal_estimate(const Estimator& e, const Instance& in) {
  Rng rng(3, {9});
  const HypergradResult whole = e.estimate(*in.problem, in.lambda, in.task, rng);
  std::vector<std::string> parts(static_cast<size_t>(e.parts()));
  for (int64_t c = e.parts() - 1; c >= 0; --c) {
    Rng r(3, {9});
    parts[static_cast<size_t>(c)] = e.estimate_part(*in.problem, in.lambda, in.task, r, c);
  }
  Rng r(3, {9});
  const HypergradResult combined = e.combine_parts(*in.problem, in.lambda, in.task, r, parts);
  CHECK(same_bits(whole.grad, combined.grad));
  CHECK(whole.outer_loss == combined.outer_loss);
  CHECK(whole.grad_evals == combined.grad_evals);
  CHECK(whole.hvps == combined.hvps);
  CHECK(whole.cost == combined.cost);
  CHECK(whole.peak_bytes == combined.peak_bytes);
  REQUIRE(whole.extras.size() == combined.extras.size());
  for (size_t i = 0; i < whole.extras.size(); ++i) {
    CHECK(whole.extras[i].first == combined.extras[i].first);
    CHECK(whole.extras[i].second == combined.extras[i].second);
  }
  REQUIRE(whole.carry.size() == combined.carry.size());
  for (size_t i = 0; i < whole.carry.size(); ++i) CHECK(same_bits(whole.carry[i], combined.carry[i]));
}

}  // namespace

TEST_SUITE("hypergrad") {
  TEST_CASE("sgld's chains as parts: combining them gives the estimate's bits") {
    auto in = make_instance("gaussian-sgld");
    for (const char* variant : {"pathwise", "cov", "one-step", "two-pass", "frozen"}) {
      CAPTURE(variant);
      auto e = make_method("sgld", in, {{"variant", variant}, {"chains", "3"}, {"burn_in", "5"}, {"samples", "6"},
                                        {"init_spread", "0.5"}});
      CHECK(e->parts() == 3);
      check_parts_equal_estimate(*e, in);
    }
    SUBCASE("exact Gibbs draws") {
      auto e = make_method("sgld", in, {{"variant", "cov"}, {"sampler", "exact"}, {"chains", "2"}, {"samples", "5"}});
      check_parts_equal_estimate(*e, in);
    }
    SUBCASE("persistent chains, warm after a step: their states are part of the parts") {
      auto e = make_method("sgld", in, {{"persistent", "true"}, {"chains", "4"}, {"burn_in", "2"}, {"samples", "3"}});
      Rng rng(1, {1});
      e->end_step({e->estimate(*in.problem, in.lambda, in.task, rng)});
      check_parts_equal_estimate(*e, in);
    }
    SUBCASE("a problem whose θ₀ depends on λ (sinusoid: J_0 ≠ 0 in the first window)") {
      auto sin = make_instance("sinusoid", {{"hidden", "4"}});
      auto e = make_method("sgld", sin, {{"variant", "one-step"}, {"chains", "2"}, {"burn_in", "2"}, {"samples", "2"}});
      check_parts_equal_estimate(*e, sin);
    }
  }

  TEST_CASE("an estimator that does not split has one part and refuses the part calls") {
    auto in = make_instance("quadratic", {{"dim", "4"}});
    auto e = make_method("exact", in, {});
    CHECK(e->parts() == 1);
    Rng rng(1, {1});
    CHECK_THROWS_AS(e->estimate_part(*in.problem, in.lambda, in.task, rng, 0), internal_error);
  }

  TEST_CASE("messages keep the bits and refuse to be overrun") {
    ByteWriter w;
    const Tensor t(Shape{2, 3}, {1.5f, -0.0f, 3e-38f, 7, 8, 9});
    put_tensor(w, t);
    put_tensor(w, Tensor{});
    w.put(0.1);
    w.put_string("λ");
    ByteReader r(w.bytes());
    const Tensor back = get_tensor(r);
    CHECK(back.shape().to_vector() == std::vector<int64_t>{2, 3});
    CHECK(same_bits(back, t));
    CHECK(std::signbit(back[1]));
    CHECK(get_tensor(r).numel() == 0);
    CHECK(r.get<double>() == 0.1);
    CHECK(r.get_string() == "λ");
    CHECK(r.done());
    CHECK_THROWS_AS(r.get<uint8_t>(), internal_error);
    std::string cut = w.bytes().substr(0, 12);
    ByteReader short_reader(cut);
    CHECK_THROWS_AS(get_tensor(short_reader), internal_error);
  }
}
