#pragma once
// UFOM's optimal-q rule (Likhosherstov et al., ICML 2021): q* = argmin_q T(q)·S(q)^κ with
// T(q) = C_det + q·C_rnd (expected cost) and S(q) = V² + (1/q − 1)D² (second-moment bound).
namespace bilevel {

// Returns q* in [q_min, 1]. d/dq log(T·S^κ) has the sign of
//   f(q) = C_rnd(V² − D²)q² + (1 − κ)C_rnd D² q − κ C_det D²,   f(0) < 0.
double ufo_optimal_q(double d2, double v2, double c_det, double c_rnd, double kappa, double q_min);

}  // namespace bilevel
