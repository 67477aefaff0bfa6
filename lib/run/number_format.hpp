#pragma once
// Numbers in the tables people read (compare, check, eval): one convention, so a column never mixes
// `10030 ± 3.1e+02` with `0.2206`.
//
//   value          4 significant digits in fixed notation (0.2206, 12.34, 10030), scientific only outside
//                  [1e-4, 1e6) (1.234e-05)
//   count          an integer as an integer (218250), else as a value
//   mean ± spread  the spread to 2 significant digits and the mean to the same decimal place (at most 6
//                  significant digits of the mean): 0.443 ± 0.053, 10030 ± 310; outside [1e-4, 1e6) both
//                  share one exponent: (1.234 ± 0.031)e-05
//
// Non-finite values are "" (the cell is empty); machine formats (CSV, JSON) keep full precision instead.
#include <string>

namespace bilevel {

std::string format_value(double v);
std::string format_count(double v);
// "mean ± spread"; just the value when spread is 0 or not finite. `count`: whole numbers (steps, cost) keep
// no decimals once the spread is ≥ 1 (4772 ± 6, not 4772.0 ± 6.1).
std::string format_mean_spread(double mean, double spread, bool count = false);
// "median [q25, q75]" with the decimals of the interquartile range; just the median when the range is 0.
std::string format_median_range(double median, double q25, double q75);

}  // namespace bilevel
