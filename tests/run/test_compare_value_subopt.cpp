// compare --metric value_subopt: h(λ) − h* from the runs' `value` rows, with h* recorded by the runs (a problem's
// closed form, `value_star`) or else the best h of the compared runs; a 20–80% band; refused when no run logs h.
// Run directories are written by hand, so every expected number is known.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "run/compare.hpp"
#include "scratch_dir.hpp"
#include "sys/files.hpp"

using namespace bilevel;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// An ok run of `method` whose rows log h = values[k] at cost 10·k (and value_star when star is finite).
void value_run(const fs::path& dir, const std::string& method, int seed, const std::vector<double>& values,
               double star = NAN) {
  fs::create_directories(dir);
  sys::write_json_atomic(dir / "config.json", json{{"problem", "quadratic"}, {"method", method}, {"seed", seed},
                                                   {"steps", 10}, {"problem_options", json::object()},
                                                   {"method_options", json::object()},
                                                   {"run_options", json::object()}});
  std::ofstream curve(dir / "curve.jsonl");
  for (size_t k = 0; k < values.size(); ++k) {
    json r = {{"step", k}, {"seconds", 0.1 * static_cast<double>(k)}, {"cost", 10.0 * static_cast<double>(k)},
              {"value", values[k]}};
    if (std::isfinite(star)) r["value_star"] = star;
    curve << r.dump() << "\n";
  }
  curve.close();
  sys::write_json_atomic(dir / "result.json", json{{"status", "ok"}, {"steps", values.size() - 1},
                                                   {"cost", 10.0 * static_cast<double>(values.size() - 1)},
                                                   {"seconds", 1.0}, {"curve_rows", values.size()},
                                                   {"final", json::object()}});
}

CompareCurves subopt_curves(const fs::path& root) {
  const Comparison c = compare_build(compare_find_runs({root.string()}), {"method"});
  return compare_curves(c, kValueSubopt, "cost", 5);
}

}  // namespace

TEST_SUITE("run") {
  TEST_CASE("compare value_subopt: h* recorded by the runs, else the best h of the compared runs") {
    std::string source;
    // Recorded h* wins; without one, the best h over every compared run (not only the run's own).
    const auto stars = compare_value_stars({{3, 2, 1.5}, {4, 1}}, {0.5, NAN}, source);
    CHECK(stars == std::vector<double>{0.5, 1});
    CHECK(source.find("recorded by 1 runs") != std::string::npos);
    compare_value_stars({{3, 2}}, {NAN}, source);
    CHECK(source.find("best h over the 1 compared runs") != std::string::npos);
    CHECK(compare_quantile({1, 2, 3, 4, 5, NAN}, 0.2) == doctest::Approx(1.8));
    CHECK(compare_quantile({1, 2, 3, 4, 5}, 0.8) == doctest::Approx(4.2));
  }

  TEST_CASE("compare value_subopt curves: h − h* per run, median and 20–80% band, against cost") {
    const fs::path tmp = testing::scratch_dir("compare_value_subopt");
    // Five seeds of one method, no recorded h*: h* = 1 (the best h, seed 5's last), so the curves end at
    // 4, 3, 2, 1, 0 above it.
    for (int s = 1; s <= 5; ++s) value_run(tmp / "best" / ("s" + std::to_string(s)), "soba", s, {10, 6, 1.0 + (5 - s)});
    CompareCurves c = subopt_curves(tmp / "best");
    REQUIRE(c.bands.size() == 1);
    CHECK(c.band_lo == 0.2);
    CHECK(c.band_hi == 0.8);
    CHECK(compare_band_text(c) == "20–80%");
    CHECK(c.note.find("best h over the 5 compared runs") != std::string::npos);
    const CurveBand& b = c.bands[0];
    REQUIRE(!b.x.empty());
    CHECK(b.x.back() == doctest::Approx(20));
    CHECK(b.median.back() == doctest::Approx(2));
    CHECK(b.q25.back() == doctest::Approx(0.8));  // the band's lower edge: the 20% quantile of {0, 1, 2, 3, 4}
    CHECK(b.q75.back() == doctest::Approx(3.2));
    CHECK(b.median.front() == doctest::Approx(9));  // h = 10 at cost 0 for every seed
    CHECK(compare_curves_csv(c).find("value_subopt_q20,value_subopt_q80") != std::string::npos);

    // Recorded h* (a closed form): subtracted as is, and a value below it is reported.
    value_run(tmp / "star" / "a", "saba", 1, {3, 2, 0.75}, 0.5);
    value_run(tmp / "star" / "b", "saba", 2, {3, 2, 0.25}, 0.5);
    c = subopt_curves(tmp / "star");
    CHECK(c.note.find("recorded by the runs") != std::string::npos);
    CHECK(c.bands[0].median.front() == doctest::Approx(2.5));
    CHECK(c.bands[0].median.back() == doctest::Approx(0));  // (0.25 + −0.25) / 2
    REQUIRE(c.warnings.size() == 1);
    CHECK(c.warnings[0].find("below their recorded h*") != std::string::npos);
  }

  TEST_CASE("compare value_subopt is refused when the runs log no value function") {
    const fs::path tmp = testing::scratch_dir("compare_value_subopt_refused");
    fs::create_directories(tmp / "r");
    sys::write_json_atomic(tmp / "r" / "config.json",
                           json{{"problem", "quadratic"}, {"method", "fo"}, {"seed", 1}, {"steps", 1},
                                {"problem_options", json::object()}, {"method_options", json::object()},
                                {"run_options", json::object()}});
    std::ofstream(tmp / "r" / "curve.jsonl") << json{{"step", 0}, {"cost", 0}, {"outer_loss", 1.0}}.dump() << "\n";
    sys::write_json_atomic(tmp / "r" / "result.json",
                           json{{"status", "ok"}, {"steps", 0}, {"cost", 0}, {"seconds", 0.0}, {"curve_rows", 1},
                                {"final", {{"outer_loss", 1.0}}}});
    CompareParams p;
    p.dirs = {(tmp / "r").string()};
    p.metric = kValueSubopt;
    p.curves_csv = (tmp / "c.csv").string();
    std::ostringstream out, err;
    CHECK_THROWS_WITH_AS(run_compare(p, out, err), doctest::Contains("value_steps"), option_error);
  }
}
