// bilevel-opt: gradient-based bilevel optimization experiments on the CPU.
#include <CLI/CLI.hpp>
#include <csignal>
#include <exception>
#include <iostream>

#include "commands.hpp"
#include "run/build_info.hpp"
#include "sys/files.hpp"
#include "run/distributed.hpp"
#include "sys/mpi.hpp"
#include "tensor/tensor.hpp"

namespace bilevel::app {

std::vector<std::string>& command_line() {
  static std::vector<std::string> argv;
  return argv;
}

}  // namespace bilevel::app

namespace {

// How a command's failure is told: in one process (and on rank 0) on stderr; a rank ≥ 1 of an mpirun job hands
// it to rank 0, which reports it as that rank's unless it failed the same way itself (said once, not N times).
int fail(const std::string& text, int code) {
  if (bilevel::sys::mpi::rank() == 0) {
    std::cerr << "bilevel-opt: " << text << "\n";
    return code;
  }
  return bilevel::report_to_rank0(text, code);
}

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

namespace {

int run_main(int argc, char** argv) {
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
    bilevel::sys::check_stdout();  // a table or listing that did not reach its file is a failed command
  } catch (const bilevel::app::quiet_exit& e) {
    return e.code;
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    return fail(std::string("error: ") + bilevel::app::parse_error_message(e, app, argc, argv), 2);
  } catch (const bilevel::usage_error& e) {
    return fail(std::string("error: ") + e.what(), 2);
  } catch (const bilevel::app::run_stopped& e) {
    return fail(e.what(), 4);
  } catch (const bilevel::app::not_available& e) {
    return fail(e.what(), 3);
  } catch (const bilevel::app::run_failed& e) {
    return fail(std::string("error: ") + e.what(), 1);
  } catch (const bilevel::io_error& e) {
    return fail(std::string("error: ") + e.what(), 1);
  } catch (const bilevel::numerical_error& e) {
    return fail(std::string("error: ") + e.what(), 1);
  } catch (const std::bad_alloc&) {
    return fail("error: out of memory", 1);
  } catch (const std::exception& e) {
    // Anything else is a bug in bilevel-opt, never the user's mistake.
    return fail(std::string("internal error: ") + e.what(), 1);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bilevel::blas_set_single_threaded();
  // A write beyond the file size limit (ulimit -f) fails with EFBIG and is reported like any failed write,
  // instead of killing the process with a half-written file.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    bilevel::sys::mpi::init(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "bilevel-opt: error: " << e.what() << "\n";
    return 2;
  }
  if (bilevel::sys::mpi::distributed() && (argc < 2 || std::string(argv[1]) != "train")) {
    // Only a run's steps are divided among ranks; anything else would run once per rank.
    if (bilevel::sys::mpi::rank() == 0) {
      std::cerr << "bilevel-opt: error: only `train` runs across MPI ranks (got '" << (argc < 2 ? "" : argv[1])
                << "' under " << bilevel::sys::mpi::size() << " ranks); run it as one process (a sweep launches "
                << "its runs through mpirun with --launcher)\n";
    }
    return bilevel::end_process(2);
  }
  return bilevel::end_process(run_main(argc, argv));
}
