#pragma once
// `compare`, formats: the group table as Markdown, CSV or JSON, and the aggregated curves as CSV.
#include <string>

#include "run/compare_curves.hpp"
#include "run/compare_stats.hpp"

namespace bilevel {

// The table: format md | csv | json; `robust`: median [q25, q75] instead of mean ± std (json holds both).
// Throws option_error for another format.
std::string compare_table(const Comparison& c, const std::string& format, bool robust);

// Long format for pandas: group,<x>,<metric>_median,<metric>_q25,<metric>_q75,n.
std::string compare_curves_csv(const CompareCurves& curves);

}  // namespace bilevel
