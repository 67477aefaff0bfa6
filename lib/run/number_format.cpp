#include "run/number_format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace bilevel {

namespace {

constexpr int sig_digits = 4;

bool fixed_range(double a) { return a == 0 || (a >= 1e-4 && a < 1e6); }

int magnitude(double a) { return static_cast<int>(std::floor(std::log10(a))); }

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", std::clamp(decimals, 0, 12), v);
  return buf;
}

// Decimals that show `spread` with 2 significant digits, capped at 6 significant digits of `mean`.
int shared_decimals(double mean, double spread) {
  const int d_mean = mean == 0 ? sig_digits - 1 : sig_digits - 1 - magnitude(std::fabs(mean));
  const int d_spread = 1 - magnitude(spread);
  return std::max(0, std::min(d_spread, d_mean + 2));
}

// A spread with the mean's decimals; one that rounds to 0 there reads "<0.0001".
std::string spread_text(double spread, int decimals) {
  const std::string s = fixed(spread, decimals);
  if (s.find_first_of("123456789") != std::string::npos) return s;
  std::string out = "<";
  out += fixed(std::pow(10.0, -decimals), decimals);
  return out;
}

}  // namespace

std::string format_value(double v) {
  if (!std::isfinite(v)) return "";
  const double a = std::fabs(v);
  if (!fixed_range(a)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*e", sig_digits - 1, v);
    return buf;
  }
  return fixed(v, a == 0 ? 0 : sig_digits - 1 - magnitude(a));
}

std::string format_count(double v) {
  if (!std::isfinite(v)) return "";
  if (std::fabs(v) < 1e15 && v == std::round(v)) return fixed(v, 0);
  return format_value(v);
}

std::string format_mean_spread(double mean, double spread, bool count) {
  if (!std::isfinite(mean)) return "";
  if (!std::isfinite(spread) || spread <= 0) return format_value(mean);
  const double a = std::fabs(mean);
  if (!fixed_range(a)) {
    const int e = magnitude(a);
    const double scale = std::pow(10.0, e);
    const int d = shared_decimals(mean / scale, spread / scale);
    char exp[16];
    std::snprintf(exp, sizeof exp, "e%+03d", e);
    std::string out = "(";
    out += fixed(mean / scale, d);
    out += " ± ";
    out += spread_text(spread / scale, d);
    out += ")";
    return out + exp;
  }
  const int d = count && spread >= 1 ? 0 : shared_decimals(mean, spread);
  return fixed(mean, d) + " ± " + spread_text(spread, d);
}

std::string format_median_range(double median, double q25, double q75) {
  if (!std::isfinite(median)) return "";
  const double iqr = q75 - q25;
  if (!std::isfinite(iqr) || iqr <= 0) return format_value(median);
  const double a = std::max({std::fabs(median), std::fabs(q25), std::fabs(q75)});
  if (!fixed_range(a)) return format_value(median) + " [" + format_value(q25) + ", " + format_value(q75) + "]";
  const int d = shared_decimals(median, iqr);
  return fixed(median, d) + " [" + fixed(q25, d) + ", " + fixed(q75, d) + "]";
}

}  // namespace bilevel
