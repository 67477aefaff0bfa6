#pragma once
// `check --bias-variance`: the UFOM theory of a toy instance (Likhosherstov et al., ICML 2021; reference
// ufom.md §3.1 and §3.3): the "true" D² and V², the official code's bounds on them, and the optimal q of the
// rule argmin_q T(q)·S(q)^κ (hypergrad/ufo.hpp) for κ = ½ (the toy code's) and κ = 2 (the few-shot code's).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "problems/ufo_toy.hpp"

namespace bilevel {

// q* for one exponent κ and one cost model T(q) = C_det + q·C_rnd.
struct UfoQStar {
  double kappa = 0;
  std::string cost_model;  // "stored": C_rnd = r (the toy's); "recompute": C_rnd = r + r(r−1)/2
  double c_det = 0, c_rnd = 0, q = 0;
};

struct UfoTheory {
  double lo = 0, hi = 0;  // the θ grid of D² and V²
  int64_t points = 0;
  ufo_toy::BiasVariance grid_max;  // D² = max_θ mean_T (g_FO − g_ex)², V² = max_θ mean_T g_ex²
  ufo_toy::Constants constants;
  ufo_toy::Bounds bounds;          // on D and V (square them to compare)
  std::vector<UfoQStar> q_star;    // κ ∈ {½, 2} × cost model ∈ {stored, recompute}
};

// The toy's q*: the rule with C_det = r + 1, C_rnd = r, no lower clamp (q_min = 0). κ = ½ is the toy code's.
double ufo_toy_q_star(double d2, double v2, int64_t r, double kappa);

// Everything above for instance `p`, D² and V² over `points` equally spaced θ in [lo, hi].
UfoTheory ufo_theory(const ufo_toy::Params& p, double lo, double hi, int64_t points);
nlohmann::json ufo_theory_json(const UfoTheory& t);
// A few lines for people, from the JSON above.
std::string ufo_theory_text(const nlohmann::json& j);

}  // namespace bilevel
