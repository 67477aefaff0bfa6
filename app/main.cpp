// bilevel-opt: gradient-based bilevel optimization experiments on the CPU.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "commands.hpp"
#include "run/build_info.hpp"
#include "tensor/tensor.hpp"

int main(int argc, char** argv) {
  bilevel::blas_set_single_threaded();
  CLI::App app{"bilevel-opt: hypergradient estimators for bilevel optimization (hyperparameter optimization and "
               "meta-learning), compared fairly from their logs."};
  app.name("bilevel-opt");
  app.set_version_flag("--version", std::string("bilevel-opt ") + bilevel::build_version + " (" + bilevel::build_git_revision + ", " +
                                        bilevel::build_type + ", real=" + bilevel::real_name + ")");
  app.require_subcommand(1);
  bilevel::app::setup_train(app);
  bilevel::app::setup_sweep(app);
  bilevel::app::setup_compare(app);
  bilevel::app::setup_check(app);
  bilevel::app::setup_list(app);
  bilevel::app::setup_datasets(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
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
