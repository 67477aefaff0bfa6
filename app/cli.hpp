#pragma once
// What every subcommand shares on the command line: the help layout (placeholders, defaults, wrapped to 100
// columns, examples), value validators whose messages name the flag and what is valid, the check of
// subcommand and flag names before parsing (with "did you mean"), and CLI11's parse errors rewritten as one
// line each. main.cpp wires them.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "run/train_config.hpp"

namespace bilevel::app {

inline constexpr int help_columns = 100;

// The help formatter: "--steps N   Budget: … (default: 1000)", descriptions wrapped to help_columns.
std::shared_ptr<CLI::Formatter> help_formatter();

// Validators: an integer ≥ `min`; a number ≥ 0; one of `choices` (with "did you mean").
CLI::Validator integer_at_least(long long min);
// A seed: decimal digits only, 0 … 2⁶⁴ − 1 (no sign, no wrap-around of -1 or 2⁶⁴).
CLI::Validator unsigned_integer();
CLI::Validator non_negative_number();
CLI::Validator one_of(std::vector<std::string> choices);

// The flags train and search share: --problem, --config, --set (described by `sets`), --seed, the budgets
// (--steps counts `steps`: outer steps or candidates), --threads, --out, --force, --quiet.
void add_run_flags(CLI::App* sub, TrainParams& p, const std::string& steps, const std::string& sets);

// "Examples:\n  bilevel-opt …\n" for a footer.
std::string examples_footer(const std::vector<std::string>& lines);

// The usage shown for `bilevel-opt` alone: what each subcommand does and examples.
std::string top_usage(const CLI::App& app);

// Checks argv before CLI11 sees it: an unknown subcommand or flag of the chosen subcommand is a one-line error
// with "did you mean", and renamed flags say their new name. Returns "" when everything is known.
std::string precheck_arguments(const CLI::App& app, int argc, char** argv);

// CLI11's parse error as one line naming the flag, the bad value and what is valid, and the --help to read.
std::string parse_error_message(const CLI::ParseError& e, const CLI::App& app, int argc, char** argv);

}  // namespace bilevel::app
