#pragma once
// `compare`, formats: the group table as Markdown, CSV or JSON, and the aggregated curves as CSV.
#include <string>

#include "run/compare_curves.hpp"
#include "run/compare_stats.hpp"

namespace bilevel {

// The table: format md | csv | json; `robust`: median [q25, q75] instead of mean ± std (json holds both);
// `ci`: the 95% confidence interval of the mean beside mean ± std in md (csv and json always carry the standard
// error and the interval). Columns: n, status counts, every final metric, outer steps, cost, seconds (md; csv
// and json also wall seconds, grad_evals and hvps). Throws option_error for another format.
std::string compare_table(const Comparison& c, const std::string& format, bool robust, bool ci = false);

// One row per run (for pandas): dir, the --by keys, status, steps, cost, grad_evals, hvps, seconds,
// wall_seconds and every final metric; numbers at full precision in csv and json.
std::string compare_per_run(const Comparison& c, const std::string& format);

// Long format for pandas: group,<x>,<metric>_median,<metric>_q25,<metric>_q75,n.
std::string compare_curves_csv(const CompareCurves& curves);

}  // namespace bilevel
