// compare: statistics, grouping, refusals, curve alignment by last-value carry, table formats, the plot
// script (and the plot itself when gnuplot is installed). Run directories are written by hand here, so every
// expected number is known.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "run/compare.hpp"
#include "base/options.hpp"
#include "run/plot.hpp"
#include "sys/files.hpp"
#include "sys/process.hpp"
#include "scratch_dir.hpp"

using namespace bilevel;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A run directory: config, curve rows, and a result unless status is "" (a run still going).
void make_run(const fs::path& dir, const std::string& problem, const std::string& method, int seed,
              const std::string& status, const std::vector<json>& rows, const json& final_metrics,
              const json& method_options = json::object()) {
  fs::create_directories(dir);
  json cfg = {{"problem", problem},
              {"method", method},
              {"seed", seed},
              {"steps", 10},
              {"threads", 1},
              {"problem_options", {{"inner_steps", 5}}},
              {"method_options", method_options},
              {"run_options", {{"outer_lr", 0.1}}}};
  sys::write_json_atomic(dir / "config.json", cfg);
  std::ofstream curve(dir / "curve.jsonl");
  for (const auto& r : rows) curve << r.dump() << "\n";
  if (status.empty()) return;
  json res = {{"status", status}, {"seconds", 1.0 + seed}, {"wall_seconds", 2.0 + seed}, {"steps", 10},
              {"grad_evals", 100}, {"hvps", 10 * seed}, {"cost", 100 + 10 * seed}, {"final", final_metrics}};
  sys::write_json_atomic(dir / "result.json", res);
}

json row(double step, double loss, double grad_evals = 0, double hvps = 0) {
  return {{"step", step}, {"seconds", step / 10}, {"grad_evals", grad_evals}, {"hvps", hvps}, {"outer_loss", loss}};
}

}  // namespace

TEST_SUITE("run") {
  TEST_CASE("compare statistics: mean, sample std, quantiles as numpy's default") {
    const CompareSummary s = compare_summarize({4, 1, 3, 2, NAN});
    CHECK(s.n == 4);
    CHECK(s.mean == doctest::Approx(2.5));
    CHECK(s.std == doctest::Approx(std::sqrt(5.0 / 3.0)));
    CHECK(s.median == doctest::Approx(2.5));
    CHECK(s.q25 == doctest::Approx(1.75));
    CHECK(s.q75 == doctest::Approx(3.25));
    CHECK(compare_summarize({7}).std == 0);
    CHECK(compare_summarize({}).n == 0);
  }

  TEST_CASE("compare config keys: dotted paths, top-level keys, option names") {
    const json cfg = {{"method", "ufo"}, {"seed", 3}, {"method_options", {{"q", 0.1}}},
                      {"problem_options", {{"inner_steps", 5}}}};
    CHECK(compare_config_value(cfg, "method") == "ufo");
    CHECK(compare_config_value(cfg, "seed") == "3");
    CHECK(compare_config_value(cfg, "method_options.q") == "0.1");
    CHECK(compare_config_value(cfg, "q") == "0.1");
    CHECK(compare_config_value(cfg, "inner_steps") == "5");
    CHECK(compare_config_value(cfg, "nothing") == "");
    CHECK(compare_config_value(cfg, "method_options") == "");
  }

  TEST_CASE("compare groups runs, summarises the ok ones and counts every status") {
    const fs::path tmp = testing::scratch_dir("compare_groups");
    make_run(tmp / "sweep/runs/a1", "toy", "fo", 1, "ok", {row(0, NAN), row(10, 3)}, {{"outer_loss", 3}, {"acc", 0.5}});
    make_run(tmp / "sweep/runs/a2", "toy", "fo", 2, "ok", {row(0, NAN), row(10, 5)}, {{"outer_loss", 5}, {"acc", 0.7}});
    make_run(tmp / "sweep/runs/a3", "toy", "fo", 3, "diverged", {row(0, NAN)}, {{"outer_loss", nullptr}});
    make_run(tmp / "b1", "toy", "ufo", 1, "ok", {row(0, NAN), row(10, 1)}, {{"outer_loss", 1}}, {{"q", 0.1}});
    make_run(tmp / "b2", "toy", "ufo", 2, "", {row(0, NAN)}, {});  // no result.json yet
    fs::create_directories(tmp / "empty/nothing");

    const auto runs = compare_find_runs({tmp.string()});
    REQUIRE(runs.size() == 5);
    const Comparison c = compare_build(runs, {"method"});
    CHECK(c.problem == "toy");
    REQUIRE(c.groups.size() == 2);
    const CompareGroup& fo = c.groups[0];
    CHECK(fo.label == "fo");
    CHECK(fo.runs.size() == 3);
    CHECK(fo.status_counts.at("ok") == 2);
    CHECK(fo.status_counts.at("diverged") == 1);
    CHECK(fo.final_metrics.at("outer_loss").n == 2);
    CHECK(fo.final_metrics.at("outer_loss").mean == doctest::Approx(4));
    CHECK(fo.final_metrics.at("outer_loss").std == doctest::Approx(std::sqrt(2.0)));
    CHECK(fo.seconds.mean == doctest::Approx(2.5));  // seeds 1 and 2: 1 + seed
    CHECK(fo.grad_evals.mean == doctest::Approx(100));
    CHECK(c.groups[1].status_counts.at("incomplete") == 1);
    CHECK(c.metric_names == std::vector<std::string>{"outer_loss", "acc"});

    // One number format: the spread to 2 significant digits, the mean to the same decimal place; steps and cost
    // are columns of their own (100 + 10·seed, as make_run writes).
    const std::string md = compare_table(c, "md", false);
    CHECK(md.find("| method | n | status | outer_loss | acc | steps | cost | seconds |") != std::string::npos);
    CHECK(md.find("| fo | 3 | ok 2, diverged 1 | 4.0 ± 1.4 | 0.60 ± 0.14 | 10 | 115 ± 7 | 2.50 ± 0.71 |") !=
          std::string::npos);
    CHECK(md.find("| ufo | 2 | ok 1, incomplete 1 | 1.000 | — | 10 | 110 | 2.000 |") != std::string::npos);
    const std::string robust = compare_table(c, "md", true);
    CHECK(robust.find("4.0 [3.5, 4.5]") != std::string::npos);
    // --ci: the 95% interval of the mean, t(0.975, 1) = 12.706 for two runs: 4 ± 12.706·√2/√2.
    CHECK(compare_table(c, "md", false, true).find("4.0 ± 1.4 [-8.706, 16.71]") != std::string::npos);
    const std::string csv = compare_table(c, "csv", false);
    CHECK(csv.rfind("method,group,n,n_diverged,n_incomplete,n_ok,outer_loss_mean,outer_loss_std,outer_loss_se,"
                    "outer_loss_ci95_lo,outer_loss_ci95_hi,acc_mean", 0) == 0);
    CHECK(csv.find("\nfo,fo,3,1,0,2,4,1.41421356,1,-8.706,16.706,0.6,") != std::string::npos);
    const json j = json::parse(compare_table(c, "json", false));
    CHECK(j["groups"][0]["final"]["outer_loss"]["median"] == doctest::Approx(4));
    CHECK(j["groups"][0]["final"]["outer_loss"]["se"] == doctest::Approx(1));
    CHECK(j["groups"][0]["cost"]["mean"] == doctest::Approx(115));
    CHECK(j["groups"][1]["status"]["incomplete"] == 1);
    CHECK_THROWS_AS(compare_table(c, "xml", false), option_error);

    // Two keys: the label names them; a key a run lacks is left out of its label.
    const Comparison c2 = compare_build(runs, {"method", "method_options.q"});
    REQUIRE(c2.groups.size() == 3);
    CHECK(c2.groups[0].label == "method=fo");
    CHECK(c2.groups[1].label == "method=ufo");
    CHECK(c2.groups[2].label == "method=ufo, q=0.1");
    fs::remove_all(tmp);
  }

  TEST_CASE("compare refuses runs of different problems and curves of a metric some runs lack") {
    const fs::path tmp = testing::scratch_dir("compare_refuse");
    make_run(tmp / "a", "toy", "fo", 1, "ok", {row(0, 1)}, {{"outer_loss", 1}});
    make_run(tmp / "b", "other", "fo", 1, "ok", {row(0, 2)}, {{"outer_loss", 2}});
    const auto runs = compare_find_runs({tmp.string()});
    CHECK_THROWS_WITH_AS(compare_build(runs, {"method"}), doctest::Contains("different problems"), option_error);
    const Comparison kept_apart = compare_build(runs, {"problem", "method"});
    CHECK(kept_apart.groups.size() == 2);
    CHECK_THROWS_WITH_AS(compare_curves(kept_apart, "test_mse", "step", 10),
                         doctest::Contains("metric 'test_mse' is not in the curves of 2 of 2 runs"), option_error);
    CHECK_THROWS_AS(compare_curves(kept_apart, "outer_loss", "epochs", 10), option_error);
    CHECK_THROWS_WITH_AS(compare_find_runs({(tmp / "missing").string()}), doctest::Contains("not a directory"),
                         option_error);
    fs::create_directories(tmp / "none");
    CHECK_THROWS_WITH_AS(compare_find_runs({(tmp / "none").string()}), doctest::Contains("no run directories"),
                         option_error);
    fs::remove_all(tmp);
  }

  TEST_CASE("compare warns when a group mixes runs with different options") {
    const fs::path tmp = testing::scratch_dir("compare_warn");
    make_run(tmp / "a", "toy", "fo", 1, "ok", {row(0, 1)}, {{"outer_loss", 1}});
    make_run(tmp / "b", "toy", "fo", 2, "ok", {row(0, 1)}, {{"outer_loss", 1}});
    json cfg = sys::read_json(tmp / "b" / "config.json");
    cfg["problem_options"]["inner_steps"] = 10;
    sys::write_json_atomic(tmp / "b" / "config.json", cfg);
    const Comparison c = compare_build(compare_find_runs({tmp.string()}), {"method"});
    REQUIRE(c.warnings.size() == 1);
    CHECK(c.warnings[0].find("problem_options.inner_steps (10, 5); add --by inner_steps") != std::string::npos);
    CHECK(compare_build(compare_find_runs({tmp.string()}), {"method", "inner_steps"}).warnings.empty());
    fs::remove_all(tmp);
  }

  // Finding 7 of issue 12: a damaged run file was counted incomplete or skipped without a word, and a curve value
  // beyond double range gave nlohmann's message without the file.
  TEST_CASE("compare warns, naming the file, for a config.json or result.json it cannot use") {
    const fs::path tmp = testing::scratch_dir("compare_damaged");
    for (int s = 1; s <= 7; ++s)
      make_run(tmp / ("r" + std::to_string(s)), "toy", "fo", s, "ok", {row(0, 1), row(10, 2)}, {{"outer_loss", 2}});
    auto put = [&](const std::string& file, const std::string& text) { std::ofstream(tmp / file) << text; };
    put("r2/result.json", "garbage");
    put("r3/result.json", " \n");
    put("r4/result.json", "[1, 2]");
    put("r5/config.json", "");
    put("r6/config.json", "{\"problem\": \"toy\", \"method\": \"fo\", \"seed\": 1e400}");
    put("r7/config.json", "{\"a\": 1}");
    std::vector<std::string> warnings;
    const auto runs = compare_find_runs({tmp.string()}, &warnings);
    REQUIRE(runs.size() == 4);
    CHECK(runs[0].status == "ok");
    for (size_t i = 1; i < 4; ++i) CHECK(runs[i].status == "incomplete");
    const std::string d = tmp.string() + "/";
    REQUIRE(warnings.size() == 6);
    CHECK(warnings[0].rfind(d + "r2/result.json is not JSON (parse error at line 1", 0) == 0);
    CHECK(warnings[0].find("; the run counts as incomplete") != std::string::npos);
    CHECK(warnings[1] == d + "r3/result.json is empty; the run counts as incomplete");
    CHECK(warnings[2] == d + "r4/result.json is not a JSON object; the run counts as incomplete");
    CHECK(warnings[3] == d + "r5/config.json is empty; the directory is skipped");
    CHECK(warnings[4] == d + "r6/config.json is not JSON (number overflow parsing '1e400'); the directory is skipped");
    CHECK(warnings[5] == d + "r7/config.json names no problem and method (not a config.json of `bilevel-opt train`); "
                             "the directory is skipped");
    for (const auto& w : warnings) CHECK(w.find('\n') == std::string::npos);

    // Nothing usable: the refusal names the first file skipped.
    const std::string skipped = "(1 skipped, the first: " + d + "r5/config.json is empty";
    CHECK_THROWS_WITH_AS(compare_find_runs({(tmp / "r5").string()}), doctest::Contains(skipped.c_str()), option_error);

    // A curve row with a number beyond double range: the file and the line.
    put("r1/curve.jsonl", "{\"step\": 0, \"outer_loss\": 1}\n{\"step\": 10, \"outer_loss\": 1e400}\n");
    const Comparison c = compare_build(compare_find_runs({(tmp / "r1").string()}), {"method"});
    const std::string corrupt = "corrupt " + d + "r1/curve.jsonl line 2: ";
    CHECK_THROWS_WITH_AS(compare_curves(c, "outer_loss", "step", 3), doctest::Contains(corrupt.c_str()), option_error);
    fs::remove_all(tmp);
  }

  TEST_CASE("curves align by last-value carry, end where a run ends, and use the rows' cost") {
    const fs::path tmp = testing::scratch_dir("compare_curves");
    // Run a logs at steps 0, 10; run b at 0, 5, 10 and its metric only on some rows; run c stops at step 5.
    make_run(tmp / "a", "toy", "fo", 1, "ok", {row(0, 1, 0, 0), row(10, 3, 100, 0)}, {});
    json b5 = row(5, 4, 40, 10);
    b5.erase("outer_loss");  // an evaluation metric missing from this row
    make_run(tmp / "b", "toy", "fo", 2, "ok", {row(0, 2, 0, 0), b5, row(10, 6, 80, 20)}, {});
    make_run(tmp / "c", "toy", "fo", 3, "ok", {row(0, 8, 0, 0), row(5, 9, 50, 0)}, {});
    const Comparison c = compare_build(compare_find_runs({tmp.string()}), {"method"});
    const CompareCurves by_step = compare_curves(c, "outer_loss", "step", 3);
    REQUIRE(by_step.bands.size() == 1);
    const CurveBand& band = by_step.bands[0];
    CHECK(band.runs == 3);
    CHECK(band.x == std::vector<double>{0, 5, 10});
    // x = 0: values 1, 2, 8; x = 5: 1 (carried), 2 (carried: the row at 5 lacks the metric), 9;
    // x = 10: 3, 6 — run c has ended, and 2 of 3 runs is at least half the group.
    CHECK(band.median == std::vector<double>{2, 2, 4.5});
    CHECK(band.n == std::vector<size_t>{3, 3, 2});
    CHECK(band.q25[0] == doctest::Approx(1.5));
    CHECK(band.q75[0] == doctest::Approx(5));

    // cost (these rows predate the `cost` field, so grad_evals + hvps): a reaches 100 at its last row, b 100
    // too (80 + 20), c 50.
    const CompareCurves by_cost = compare_curves(c, "outer_loss", "cost", 3);
    CHECK(by_cost.bands[0].x == std::vector<double>{0, 50, 100});
    CHECK(by_cost.bands[0].median == std::vector<double>{2, 2, 4.5});  // at 50: a 1, b 2 (4 lacks the metric), c 9
    const std::string csv = compare_curves_csv(by_cost);
    CHECK(csv.rfind("group,cost,outer_loss_median,outer_loss_q25,outer_loss_q75,n\n", 0) == 0);
    CHECK(csv.find("\nfo,100,4.5,3.75,5.25,2\n") != std::string::npos);
    // A row's own `cost` wins over its counters (minibatch oracles count |batch|/n: cost ≠ grad_evals + hvps).
    json a10 = row(10, 3, 100, 0);
    a10["cost"] = 12.5;
    make_run(tmp / "a", "toy", "fo", 1, "ok", {row(0, 1, 0, 0), a10}, {});
    const Comparison c2 = compare_build(compare_find_runs({(tmp / "a").string()}), {"method"});
    CHECK(compare_curves(c2, "outer_loss", "cost", 2).bands[0].x.back() == 12.5);
    CHECK_THROWS_WITH_AS(compare_curves(c, "outer_loss", "grad_evals", 3), doctest::Contains("renamed --x cost"),
                         option_error);
    fs::remove_all(tmp);
  }

  TEST_CASE("the plot script draws one labelled band per group; gnuplot renders it when installed") {
    CompareCurves curves;
    curves.problem = "toy";
    curves.metric = "abs_dM";
    curves.x = "cost";
    for (const char* label : {"fo", "it's ufo"}) {
      CurveBand b;
      b.label = label;
      b.runs = 3;
      b.x = {0, 1, 2};
      b.median = {3, 2, 1};
      b.q25 = {2.5, 1.5, 0.5};
      b.q75 = {3.5, 2.5, 1.5};
      b.n = {3, 3, 3};
      curves.bands.push_back(b);
    }
    const std::string gp = plot_gnuplot_script(curves, "p.svg", "p.png", true);
    CHECK(gp.find("set xlabel 'cost: gradient evaluations + Hessian-vector products (full-batch units)'") !=
          std::string::npos);
    CHECK(gp.find("set ylabel 'abs_dM (log scale)'") != std::string::npos);
    CHECK(gp.find("title 'fo (3)'") != std::string::npos);
    CHECK(gp.find("title 'it''s ufo (3)'") != std::string::npos);
    CHECK(gp.find("$band1 using 1:3:4 with filledcurves") != std::string::npos);
    CHECK(gp.find("set logscale y") != std::string::npos);
    CHECK(plot_files("out/x.svg").png == fs::path("out/x.png"));
    CHECK(plot_files("out/x").csv == fs::path("out/x.csv"));

    if (sys::find_on_path("gnuplot").empty()) {
      MESSAGE("gnuplot is not installed: the rendering check is skipped (apt-get install gnuplot-nox)");
      return;
    }
    const fs::path tmp = testing::scratch_dir("compare_plot");
    const PlotFiles f = plot_curves(curves, (tmp / "p.svg").string(), false);
    REQUIRE(fs::exists(f.svg));
    CHECK(fs::file_size(f.png) > 1000);
    std::ifstream in(f.svg);
    std::stringstream text;
    text << in.rdbuf();
    const std::string svg = text.str();
    CHECK(svg.find("<svg") != std::string::npos);
    CHECK(svg.find("fo (3)") != std::string::npos);
    CHECK(svg.find("gradient evaluations") != std::string::npos);
    fs::remove_all(tmp);
  }
  TEST_CASE("hostile labels, titles and names never leave their gnuplot string") {
    const fs::path tmp = testing::scratch_dir("compare_plot_hostile");
    const std::string marker = (tmp / "PWNED").string();
    const std::vector<std::string> hostile = {
        "a\nsystem(\"touch " + marker + "\")\n#",
        "b'\nsystem('touch " + marker + "')\n#",
        "c\rsystem(\"touch " + marker + "\")",
        "d\\\nsystem(\"touch " + marker + "\")",
        "e' . system('touch " + marker + "') . '",
        "f `touch " + marker + "` @GPVAL_TERM \\' \\",
        std::string("g\0\x01\x1b[31m\x7f\t\v\f h", 15) + "\nprint 'x'",
    };
    CompareCurves curves;
    curves.problem = "toy\nsystem(\"touch " + marker + "\")\n";
    curves.metric = "m\nsystem(\"touch " + marker + "\")";
    curves.x = "step";
    for (const auto& label : hostile) {
      CurveBand b;
      b.label = label;
      b.runs = 2;
      b.x = {0, 1};
      b.median = {2, 1};
      b.q25 = {1.5, 0.5};
      b.q75 = {2.5, 1.5};
      b.n = {2, 2};
      curves.bands.push_back(b);
    }
    const std::string gp = plot_gnuplot_script(curves, "p\n.svg", "p'.png", false);
    // No control character but the line ends; no line starts with text from the run data; every quote closes.
    for (char c : gp) CHECK((c == '\n' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f)));
    std::istringstream lines(gp);
    for (std::string line; std::getline(lines, line);) {
      const bool from_data = line.find("system") != std::string::npos;
      const bool inside_string = line.find("title '") != std::string::npos || line.rfind("set ", 0) == 0 ||
                                 line.rfind("# ", 0) == 0;
      CHECK_MESSAGE((!from_data || inside_string), line);
      size_t quotes = 0;
      for (char c : line) quotes += c == '\'';
      CHECK_MESSAGE(quotes % 2 == 0, line);  // '' pairs and whole strings: an odd count would leave one open
    }
    CHECK(gp.find("title 'a?system(\"touch ") != std::string::npos);
    CHECK(gp.find("title 'b''?system(''touch ") != std::string::npos);
    if (sys::find_on_path("gnuplot").empty()) {
      MESSAGE("gnuplot is not installed: the execution check is skipped (apt-get install gnuplot-nox)");
      fs::remove_all(tmp);
      return;
    }
    const PlotFiles f = plot_curves(curves, (tmp / "p.svg").string(), false);
    CHECK(fs::exists(f.svg));
    CHECK_FALSE(fs::exists(marker));
    fs::remove_all(tmp);
  }
}
