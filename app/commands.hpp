#pragma once
// Subcommand wiring: each app/cmd_<name>.cpp defines setup_<name>, which adds its subcommand to the
// app and binds its options; the callback calls straight into lib/. Errors become exit codes in main.
#include <CLI/CLI.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "cli.hpp"

namespace bilevel::app {

// Usage errors (exit code 2), I/O and internal errors (exit code 1) are the library's (base/errors.hpp).
// A run that ended with status "error": exit code 1, with the run's message.
struct run_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A run that ended without error but not by its budget (diverged, interrupted): exit code 4.
struct run_stopped : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// An optional tool is missing (gnuplot for compare --plot): exit code 3.
struct not_available : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A rank ≥ 1 of a distributed run ends with rank 0's exit code, silently (rank 0 reports).
struct quiet_exit {
  int code;
};

// The command line as given (argv), recorded in the config.json of runs (main sets it before parsing).
std::vector<std::string>& command_line();

void setup_train(CLI::App& app);
void setup_eval(CLI::App& app);
void setup_search(CLI::App& app);
void setup_sweep(CLI::App& app);
void setup_compare(CLI::App& app);
void setup_check(CLI::App& app);
void setup_list(CLI::App& app);
void setup_datasets(CLI::App& app);

}  // namespace bilevel::app
