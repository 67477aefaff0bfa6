// The --method table: names, descriptions, options, and which problems each estimator applies to.
#include <sstream>

#include "hypergrad/estimators.hpp"
#include "hypergrad/sgld.hpp"

namespace bilevel {

namespace {

void require_ift_applies(const Problem& p, const std::string& method) {
  if (!p.lambda_in_inner_loss()) {
    throw option_error("method '" + method + "' does not apply to problem '" + p.name() +
                       "': λ enters only through the initialization θ₀, so the implicit function theorem gives no "
                       "gradient; use exact, ufo or fo");
  }
}

std::unique_ptr<Estimator> make_fo(const Options&, const Problem&, const Options&) {
  return make_reverse_estimator(0, Trajectory::graphs);
}
std::unique_ptr<Estimator> make_exact(const Options& o, const Problem&, const Options&) {
  return make_reverse_estimator(-1, trajectory_option(o));
}
std::unique_ptr<Estimator> make_tbptt(const Options& o, const Problem& p, const Options&) {
  const int64_t k = o.get_int("k");
  if (k > p.inner().steps) {
    throw option_error("option 'k': truncation " + std::to_string(k) + " exceeds inner_steps = " +
                       std::to_string(p.inner().steps) + " (use k ≤ inner_steps; k = inner_steps is exact)");
  }
  return make_reverse_estimator(k, trajectory_option(o));
}
std::unique_ptr<Estimator> make_t1t2(const Options&, const Problem& p, const Options&) {
  require_ift_applies(p, "t1t2");
  return make_reverse_estimator(1, Trajectory::graphs);
}
std::unique_ptr<Estimator> make_fmd(const Options& o, const Problem& p, const Options&) {
  return make_fmd_estimator(p, o.get_int("fmd_max_entries"));
}
std::unique_ptr<Estimator> make_ift_cg(const Options& o, const Problem& p, const Options&) {
  require_ift_applies(p, "ift-cg");
  return make_ift_estimator(IftSolver::cg, o.get_int("cg_iters"), o.get_real("cg_tol"), 0.0);
}
std::unique_ptr<Estimator> make_ift_neumann(const Options& o, const Problem& p, const Options&) {
  require_ift_applies(p, "ift-neumann");
  return make_ift_estimator(IftSolver::neumann, o.get_int("neumann_iters"), 0.0, o.get_real("neumann_alpha"));
}
std::unique_ptr<Estimator> make_ufo(const Options& o, const Problem& p, const Options&) {
  return make_ufo_estimator(o, p);
}
std::unique_ptr<Estimator> make_reptile(const Options&, const Problem& p, const Options&) {
  if (!p.theta0_is_lambda()) {
    throw option_error("method 'reptile' applies only to meta-initialization problems (θ₀ = λ); problem '" +
                       p.name() + "' tunes λ inside the inner loss: use exact, tbptt, ift-cg or ufo");
  }
  return make_reptile_estimator();
}

OptionSpec store_option() {
  return opt_choice("store", "graphs", {"graphs", "states"},
                    "what the stored trajectory keeps: each step's gradient graph (no recomputation; memory = the "
                    "step's activations × r) or only θ_j (memory = P × r; each adjoint step re-runs its step)");
}

OptionSpec q_option() {
  OptionSpec s = opt_real("q", 0.1, "probability of the exact correction per task, or 'adaptive'", 0, 1, true);
  s.choices = {"adaptive"};
  return s;
}

}  // namespace

const std::vector<MethodInfo>& method_registry() {
  static const std::vector<MethodInfo> registry = {
      {"fo", "FOM / FO-BLO / FOMAML: ∇L_V at θ_r with second derivatives dropped (O(1) memory)", {}, make_fo},
      {"exact",
       "reverse mode through the r inner steps (stored trajectory, or recompute=true for O(1) memory, O(r²) time)",
       {opt_bool("recompute", false, "rebuild each θ_j from θ₀ instead of storing the trajectory"), store_option()},
       make_exact},
      {"tbptt", "truncated reverse mode: the last k steps exactly, earlier steps first-order",
       {opt_int("k", 5, "number of inner steps to differentiate through", 0),
        opt_bool("recompute", false, "rebuild each θ_j from θ₀ instead of storing it"), store_option()},
       make_tbptt},
      {"fmd", "forward mode: Z ← (I − αH)Z − αB with a dense P×H Jacobian (small λ only)",
       {opt_int("fmd_max_entries", 10000000, "refuse when P·H exceeds this", 1)}, make_fmd},
      {"ift-cg", "implicit function theorem at θ_r, H⁻¹∇L_V by conjugate gradients",
       {opt_int("cg_iters", 20, "conjugate-gradient iterations (HVPs)", 1),
        opt_real("cg_tol", 1e-10, "relative residual at which CG stops", 0)},
       make_ift_cg},
      {"ift-neumann", "implicit function theorem at θ_r, H⁻¹ by a truncated Neumann series",
       {opt_int("neumann_iters", 20, "terms of the Neumann series (HVPs)", 0),
        opt_real("neumann_alpha", 0.0, "series step size (0: the inner learning rate)", 0)},
       make_ift_neumann},
      {"t1t2", "one-step look-ahead (T1–T2): differentiate through the last inner step only", {}, make_t1t2},
      {"ufo",
       "UFOM: fo + (ξ/q)(exact − fo), ξ ~ Bernoulli(q) per task; unbiased; q fixed or adaptive",
       {q_option(), opt_bool("recompute", false, "exact branch rebuilds θ_j (O(1) memory, O(r²) time)"),
        store_option(),
        opt_real("beta", 0.99, "adaptive q: EMA factor of the D² and V² estimates", 0, 1, true),
        opt_real("q_min", 0.05, "adaptive q: lower bound on q", 0, 1, true),
        opt_real("kappa", 2.0, "adaptive q: exponent κ in argmin_q T(q)·S(q)^κ", 0, 1e300, true),
        opt_choice("adaptive_variant", "clean", {"clean", "paper"},
                   "clean: D² = ‖g_fo − g_ex‖²; paper: the official code's statistic, D²/10 and its cost constants")},
       make_ufo},
      {"reptile", "Reptile: (λ − θ_r)/(α r), meta-initialization problems only", {}, make_reptile},
      sgld_method_info(),
  };
  return registry;
}

const MethodInfo& find_method(const std::string& name) {
  for (const auto& m : method_registry())
    if (m.name == name) return m;
  std::ostringstream s;
  s << "unknown method '" << name << "'; valid methods: ";
  bool first = true;
  for (const auto& m : method_registry()) {
    s << (first ? "" : ", ") << m.name;
    first = false;
  }
  throw option_error(s.str());
}

}  // namespace bilevel
