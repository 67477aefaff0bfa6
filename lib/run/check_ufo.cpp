#include "run/check_ufo.hpp"

#include <cstdio>
#include <sstream>

#include "hypergrad/ufo.hpp"

namespace bilevel {

double ufo_toy_q_star(double d2, double v2, int64_t r, double kappa) {
  const double rr = static_cast<double>(r);
  return ufo_optimal_q(d2, v2, rr + 1, rr, kappa, 0.0);
}

UfoTheory ufo_theory(const ufo_toy::Params& p, double lo, double hi, int64_t points) {
  UfoTheory t;
  t.lo = lo;
  t.hi = hi;
  t.points = points;
  t.grid_max = ufo_toy::bias_variance(p, lo, hi, points);
  t.constants = ufo_toy::constants(p);
  t.bounds = ufo_toy::bounds(t.constants, p.lr, p.steps);
  const double r = static_cast<double>(p.steps);
  for (double kappa : {0.5, 2.0}) {
    // The same cost models as the ufo method's clean variant: the exact branch costs r HVPs on a stored
    // trajectory, plus r(r−1)/2 recomputed gradients with recompute=true.
    for (const auto& [model, c_rnd] : {std::pair{"stored", r}, std::pair{"recompute", r + r * (r - 1) / 2}}) {
      t.q_star.push_back({kappa, model, r + 1, c_rnd, ufo_optimal_q(t.grid_max.d2, t.grid_max.v2, r + 1, c_rnd, kappa, 0.0)});
    }
  }
  return t;
}

nlohmann::json ufo_theory_json(const UfoTheory& t) {
  nlohmann::json q = nlohmann::json::array();
  for (const UfoQStar& s : t.q_star) {
    q.push_back({{"kappa", s.kappa}, {"cost_model", s.cost_model}, {"C_det", s.c_det}, {"C_rnd", s.c_rnd}, {"q", s.q}});
  }
  return {{"grid", {{"lo", t.lo}, {"hi", t.hi}, {"points", t.points}}},
          {"D2", t.grid_max.d2},
          {"V2", t.grid_max.v2},
          {"constants", {{"L1", t.constants.L1}, {"L2", t.constants.L2}, {"L3", t.constants.L3}, {"M1", t.constants.M1}}},
          {"bounds", {{"D", t.bounds.d}, {"V", t.bounds.v}, {"D2", t.bounds.d * t.bounds.d},
                      {"V2", t.bounds.v * t.bounds.v}, {"sum", "j = 1..r (the official code's range)"}}},
          {"q_star", q}};
}

std::string ufo_theory_text(const nlohmann::json& j) {
  std::ostringstream s;
  char line[256];
  std::snprintf(line, sizeof line, "UFOM theory (θ grid: %lld points in [%g, %g])\n",
                static_cast<long long>(j["grid"]["points"].get<int64_t>()), j["grid"]["lo"].get<double>(),
                j["grid"]["hi"].get<double>());
  s << line;
  std::snprintf(line, sizeof line, "  D² = %.4g, V² = %.5g   (max over θ of mean_T (g_FO − g_ex)² and of mean_T g_ex²)\n",
                j["D2"].get<double>(), j["V2"].get<double>());
  s << line;
  const auto& c = j["constants"];
  std::snprintf(line, sizeof line, "  bounds: D² ≤ %.4g, V² ≤ %.4g   (L1 = %g, L2 = %g, M1 = %g; Σ over j = 1..r)\n",
                j["bounds"]["D2"].get<double>(), j["bounds"]["V2"].get<double>(), c["L1"].get<double>(),
                c["L2"].get<double>(), c["M1"].get<double>());
  s << line;
  for (const auto& q : j["q_star"]) {
    std::snprintf(line, sizeof line, "  q* = %.3f   (κ = %g, %s cost: C_det = %g, C_rnd = %g)\n", q["q"].get<double>(),
                  q["kappa"].get<double>(), q["cost_model"].get<std::string>().c_str(), q["C_det"].get<double>(),
                  q["C_rnd"].get<double>());
    s << line;
  }
  return s.str();
}

}  // namespace bilevel
