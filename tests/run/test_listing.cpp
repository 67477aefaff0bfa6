// list and the table number format: every problem declares the metrics it really logs; the text is wrapped to
// 100 columns; the JSON form parses and says which problems a method applies to; numbers read one way.
#include <doctest/doctest.h>

#include <sstream>

#include "data/fake_data.hpp"
#include "data/omniglot_fixture.hpp"
#include "hypergrad/estimator.hpp"
#include "run/listing.hpp"
#include "run/number_format.hpp"

using namespace bilevel;

TEST_SUITE("run") {
  TEST_CASE("every problem's declared metrics are the names its evaluate() and diagnostics() report") {
    testing::FakeDataDir data;
    data.add_idx_dataset("mnist", 80, 30, 4, 3, false, 3, 60.0);
    data.write_manifest();
    for (const ProblemInfo& info : problem_registry()) {
      CAPTURE(info.name);
      if (info.name == "fewshot") testing::write_tiny_omniglot(data.path("omniglot"));  // found by dataset=auto
      std::map<std::string, std::string> given;
      for (const auto& s : info.options) {
        if (s.key == "data_dir") given[s.key] = data.dir();
        if (s.key == "n_train" || s.key == "n_val") given[s.key] = "20";
        if (s.key == "eval_tasks" || s.key == "eval_images") given[s.key] = "2";
        if (s.key == "n_test") given[s.key] = "0";
        if (s.key == "image_size") given[s.key] = "4";
        if (s.key == "eval_restarts") given[s.key] = "3";
        if (s.key == "inner_steps" && info.name == "toy-multimin") given[s.key] = "10";
      }
      const auto p = info.make(Options::resolve(info.name, info.options, given), 0);
      Rng rng(1, {1});
      const Tensor lambda = p->init_lambda(rng);
      std::vector<std::string> logged;
      for (const auto& [k, v] : p->evaluate(lambda)) logged.push_back(k);
      for (const auto& [k, v] : p->diagnostics(lambda)) logged.push_back(k);
      // A declared name ending in NN stands for a numbered family (val_loss_r00, val_loss_r01, …) at its place.
      size_t i = 0;
      for (const auto& declared : info.metrics) {
        const bool family = declared.size() > 2 && declared.compare(declared.size() - 2, 2, "NN") == 0;
        const std::string stem = family ? declared.substr(0, declared.size() - 2) : declared;
        REQUIRE(i < logged.size());
        if (!family) {
          CHECK(logged[i++] == declared);
          continue;
        }
        size_t n = 0;
        while (i < logged.size() && logged[i].rfind(stem, 0) == 0 && logged[i].size() == stem.size() + 2) ++i, ++n;
        CHECK(n >= 1);
      }
      CHECK(i == logged.size());
    }
  }

  TEST_CASE("list: lines fit 100 columns; the JSON form names metrics and where each method applies") {
    for (const char* what : {"problems", "methods", "run-options"}) {
      std::istringstream text(list_text(what));
      std::string line;
      while (std::getline(text, line)) {
        CAPTURE(line);
        CHECK(display_width(line) <= 100);
      }
    }
    const nlohmann::json problems = list_json("problems");
    CHECK(problems[0]["name"] == "quadratic");
    CHECK(problems[0]["metrics"][0] == "val_loss");
    CHECK(problems[0]["options"][0]["key"] == "dim");
    const nlohmann::json methods = list_json("methods");
    for (const auto& m : methods) {
      if (m["name"] != "reptile") continue;
      CHECK(m["refused"].contains("quadratic"));
      CHECK(std::find(m["applies"].begin(), m["applies"].end(), "sinusoid") != m["applies"].end());
    }
    CHECK_THROWS_AS(list_text("things"), option_error);
    CHECK_THROWS_AS(list_text("methods", "xml"), option_error);
    CHECK(wrap_words("aaa bbb ccc", 8, 2) == "  aaa\n  bbb\n  ccc");
    CHECK(wrap_words("λλλ μμ", 7, 0) == "λλλ μμ");  // columns are code points, not bytes
  }

  TEST_CASE("table numbers: 4 significant digits; mean ± spread to the spread's second digit") {
    CHECK(format_value(0.22063) == "0.2206");
    CHECK(format_value(12.345) == "12.35");
    CHECK(format_value(10030) == "10030");
    CHECK(format_value(1.5e-6) == "1.500e-06");
    CHECK(format_value(2.5e7) == "2.500e+07");
    CHECK(format_value(0) == "0");
    CHECK(format_value(NAN) == "");
    CHECK(format_count(218250) == "218250");
    CHECK(format_count(2.5) == "2.500");
    CHECK(format_mean_spread(10030, 310.4) == "10030 ± 310");  // not 10030 ± 3.1e+02
    CHECK(format_mean_spread(0.4431, 0.0531) == "0.443 ± 0.053");
    CHECK(format_mean_spread(0.5, 3.21) == "0.5 ± 3.2");
    CHECK(format_mean_spread(0.2206, 1e-9) == "0.220600 ± <0.000001");
    CHECK(format_mean_spread(1.234e-5, 3.1e-7) == "(1.234 ± 0.031)e-05");
    CHECK(format_mean_spread(7, 0) == "7.000");
    CHECK(format_mean_spread(4772, 6.1, true) == "4772 ± 6");
    CHECK(format_mean_spread(100009, 0.58, true) == "100009 ± 1");  // at most 6 significant digits
    CHECK(format_median_range(4, 3.5, 4.5) == "4.0 [3.5, 4.5]");
    CHECK(format_median_range(0.25, 0.25, 0.25) == "0.2500");
  }
}
