// bilevel-opt: gradient-based bilevel optimization experiments on the CPU.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "commands.hpp"
#include "run/build_info.hpp"
#include "tensor/tensor.hpp"

namespace bilevel::app {

std::vector<std::string>& command_line() {
  static std::vector<std::string> argv;
  return argv;
}

}  // namespace bilevel::app

namespace {

void setup_app(CLI::App& app) {
  app.name("bilevel-opt");
  app.formatter(bilevel::app::help_formatter());
  app.set_version_flag("--version", std::string("bilevel-opt ") + bilevel::build_version + " (" +
                                        bilevel::build_git_revision + ", " + bilevel::build_type +
                                        ", real=" + bilevel::real_name + ")");
  app.require_subcommand(1);
  bilevel::app::setup_train(app);
  bilevel::app::setup_eval(app);
  bilevel::app::setup_search(app);
  bilevel::app::setup_sweep(app);
  bilevel::app::setup_compare(app);
  bilevel::app::setup_check(app);
  bilevel::app::setup_list(app);
  bilevel::app::setup_datasets(app);
  app.footer(bilevel::app::examples_footer({
      "bilevel-opt list problems                     # what can be run, with options and defaults",
      "bilevel-opt train --problem quadratic --method exact --steps 500 --out runs/q",
      "bilevel-opt eval runs/q --set inner_steps=100  # the learned λ under other problem options",
      "bilevel-opt sweep experiments/sweeps/ufo-counterexample.toml --out runs/cx --jobs 2",
      "bilevel-opt compare runs/cx --metric abs_dM --x cost --plot runs/cx/abs_dM.svg",
  }));
}

}  // namespace

int main(int argc, char** argv) {
  bilevel::blas_set_single_threaded();
  CLI::App app{"bilevel-opt: hypergradient estimators for bilevel optimization (hyperparameter optimization and "
               "meta-learning), compared fairly — at equal cost — from their logs."};
  setup_app(app);
  bilevel::app::command_line().assign(argv, argv + argc);
  if (argc <= 1) {
    std::cerr << bilevel::app::top_usage(app) << "\nbilevel-opt: error: a subcommand is required\n";
    return 2;
  }
  try {
    const std::string bad = bilevel::app::precheck_arguments(app, argc, argv);
    if (!bad.empty()) throw bilevel::usage_error(bad);
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    std::cerr << "bilevel-opt: error: " << bilevel::app::parse_error_message(e, app, argc, argv) << "\n";
    return 2;
  } catch (const bilevel::usage_error& e) {
    std::cerr << "bilevel-opt: error: " << e.what() << "\n";
    return 2;
  } catch (const bilevel::app::run_stopped& e) {
    std::cerr << "bilevel-opt: " << e.what() << "\n";
    return 4;
  } catch (const bilevel::app::not_available& e) {
    std::cerr << "bilevel-opt: " << e.what() << "\n";
    return 3;
  } catch (const bilevel::app::run_failed& e) {
    std::cerr << "bilevel-opt: error: " << e.what() << "\n";
    return 1;
  } catch (const bilevel::io_error& e) {
    std::cerr << "bilevel-opt: error: " << e.what() << "\n";
    return 1;
  } catch (const bilevel::numerical_error& e) {
    std::cerr << "bilevel-opt: error: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "bilevel-opt: error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    // Anything else is a bug in bilevel-opt, never the user's mistake.
    std::cerr << "bilevel-opt: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
