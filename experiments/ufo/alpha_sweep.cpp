// UFOM α-sweep (Likhosherstov et al., ICML 2021; reference ufom.md §4.1 item 3), in process: on the q-curve
// tasks (a = (0.5, 1.5), b = (0, 10), A = 400, r = 10), for each inner step size α
//   theory:     D², V² (max over a θ grid on [−50, 50] of the task means) and q* of the κ = ½ rule with the toy's
//               cost model C_det = r + 1, C_rnd = r (run/check_ufo.hpp);
//   experiment: UFOM-SGD (problems/ufo_toy.hpp sgd_curve) for every q of a grid, from the same random starts;
//               best q = argmin over q of the mean cost at which the mean M'(θ_k)² first reaches δ(α), the
//               minimum of the smallest q's mean curve.
// 400 000 runs of 100 steps are far too many for `train` processes; the closed-form toy does them in seconds.
// The (α, q) cells run in parallel (oneTBB); each is a pure function of the seed, so the output does not
// depend on --threads.
//
// Writes OUT/alpha_sweep.csv (one row per α), OUT/cost_to_delta.csv (one row per (α, q)), OUT/curves.csv (the
// mean curves) and OUT/table.md, and prints the table.
// Usage: ufo_alpha_sweep --out DIR [--alphas 10] [--alpha-min 0.001] [--alpha-max 0.05] [--qs 20] [--q-min 0.05]
//                        [--starts 2000] [--iters 100] [--grid 2001] [--seed 1] [--threads 2]
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "problems/ufo_toy.hpp"
#include "run/check_ufo.hpp"
#include "sys/files.hpp"

using namespace bilevel;

namespace {

struct Args {
  std::string out;
  int64_t alphas = 10, qs = 20, starts = 2000, iters = 100, grid = 2001, threads = 2;
  double alpha_min = 0.001, alpha_max = 0.05, q_min = 0.05;
  uint64_t seed = 1;
};

// Bounded integer / real option values: anything else is a usage error.
int64_t parse_int(const std::string& key, const std::string& v, int64_t lo, int64_t hi) {
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < lo || x > hi) {
    throw usage_error(key + " '" + v + "': expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return x;
}

double parse_real(const std::string& key, const std::string& v, double lo, double hi) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(x >= lo && x <= hi)) {
    throw usage_error(key + " '" + v + "': expected a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return x;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw usage_error("option " + k + " needs a value");
    const std::string v = argv[i + 1];
    if (k == "--out") a.out = v;
    else if (k == "--alphas") a.alphas = parse_int(k, v, 2, 1000);
    else if (k == "--alpha-min") a.alpha_min = parse_real(k, v, 1e-9, 0.5);
    else if (k == "--alpha-max") a.alpha_max = parse_real(k, v, 1e-9, 0.5);
    else if (k == "--qs") a.qs = parse_int(k, v, 2, 1000);
    else if (k == "--q-min") a.q_min = parse_real(k, v, 1e-6, 1);
    else if (k == "--starts") a.starts = parse_int(k, v, 1, 1000000);
    else if (k == "--iters") a.iters = parse_int(k, v, 1, 1000000);
    else if (k == "--grid") a.grid = parse_int(k, v, 2, 10000000);
    else if (k == "--seed") a.seed = static_cast<uint64_t>(parse_int(k, v, 0, INT64_MAX));
    else if (k == "--threads") a.threads = parse_int(k, v, 1, 1024);
    else {
      throw usage_error("unknown option '" + k + "' (valid: --out --alphas --alpha-min --alpha-max --qs --q-min "
                        "--starts --iters --grid --seed --threads)");
    }
  }
  if (a.out.empty()) throw usage_error("--out DIR is required");
  if (!(a.alpha_min < a.alpha_max)) throw usage_error("--alpha-min must be below --alpha-max");
  if (a.alpha_max * 1.5 >= 1) throw usage_error("--alpha-max must keep α·a2 = 1.5α below 1");
  // Every (α, q) cell keeps two curves of iters + 1 doubles, and curves.csv writes them all.
  if (a.alphas * a.qs * (a.iters + 1) > 10000000) {
    throw usage_error("--alphas × --qs × (--iters + 1) must be at most 10^7 (the mean curves kept and written)");
  }
  return a;
}

std::string fmt(const char* f, double x) {
  char b[64];
  std::snprintf(b, sizeof b, f, x);
  return b;
}

int run(const Args& a) {
  sys::ensure_writable_dir(a.out);
  const auto t0 = std::chrono::steady_clock::now();
  const ufo_toy::Params base = ufo_toy::qcurve_params();  // α is set per row
  std::vector<double> alphas, qs;
  for (int64_t i = 0; i < a.alphas; ++i) {  // log-spaced, both ends included
    const double t = static_cast<double>(i) / static_cast<double>(a.alphas - 1);
    alphas.push_back(std::exp(std::log(a.alpha_min) + t * (std::log(a.alpha_max) - std::log(a.alpha_min))));
  }
  for (int64_t j = 0; j < a.qs; ++j) qs.push_back(a.q_min + (1 - a.q_min) * static_cast<double>(j) / static_cast<double>(a.qs - 1));

  const size_t na = alphas.size(), nq = qs.size();
  std::vector<ufo_toy::SgdCurve> curves(na * nq);
  {
    tbb::global_control threads(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(a.threads));
    tbb::parallel_for(size_t{0}, na * nq, [&](size_t cell) {
      ufo_toy::Params p = base;
      p.lr = alphas[cell / nq];
      ufo_toy::SgdSetup s;
      s.q = qs[cell % nq];
      s.starts = a.starts;
      s.iters = a.iters;
      s.seed = a.seed;
      curves[cell] = ufo_toy::sgd_curve(p, s);
    });
  }

  std::string summary = "alpha,D2,V2,D2_bound,V2_bound,q_theory,q_experiment,delta,cost_at_best,cost_ratio_theory\n";
  std::string costs = "alpha,q,cost_to_delta\n", curve_csv = "alpha,q,k,mean_sq_grad,mean_cost\n";
  std::string table =
      "| α | D² | V² | q* theory | q* experiment | cost at q_theory / best |\n|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < na; ++i) {
    ufo_toy::Params p = base;
    p.lr = alphas[i];
    const ufo_toy::BiasVariance bv = ufo_toy::bias_variance(p, -50, 50, a.grid);
    const ufo_toy::Bounds bd = ufo_toy::bounds(ufo_toy::constants(p), p.lr, p.steps);
    const double q_theory = ufo_toy_q_star(bv.d2, bv.v2, p.steps, 0.5);
    const std::vector<ufo_toy::SgdCurve> row(curves.begin() + static_cast<long>(i * nq),
                                             curves.begin() + static_cast<long>((i + 1) * nq));
    const ufo_toy::BestQ best = ufo_toy::best_q(row);
    // The grid q nearest the theory's, and what it costs against the best grid q.
    size_t near = 0;
    for (size_t j = 1; j < nq; ++j)
      if (std::abs(qs[j] - q_theory) < std::abs(qs[near] - q_theory)) near = j;
    const double ratio = best.cost_to_delta[near] / best.cost_to_delta[best.best];
    summary += fmt("%.6g", alphas[i]) + "," + fmt("%.6g", bv.d2) + "," + fmt("%.6g", bv.v2) + "," +
               fmt("%.6g", bd.d * bd.d) + "," + fmt("%.6g", bd.v * bd.v) + "," + fmt("%.6g", q_theory) + "," +
               fmt("%.6g", qs[best.best]) + "," + fmt("%.6g", best.delta) + "," +
               fmt("%.6g", best.cost_to_delta[best.best]) + "," + fmt("%.6g", ratio) + "\n";
    table += "| " + fmt("%.5f", alphas[i]) + " | " + fmt("%.4g", bv.d2) + " | " + fmt("%.4g", bv.v2) + " | " +
             fmt("%.3f", q_theory) + " | " + fmt("%.2f", qs[best.best]) + " | " + fmt("%.2f", ratio) + " |\n";
    for (size_t j = 0; j < nq; ++j) {
      costs += fmt("%.6g", alphas[i]) + "," + fmt("%.4g", qs[j]) + "," + fmt("%.6g", best.cost_to_delta[j]) + "\n";
      const ufo_toy::SgdCurve& c = row[j];
      for (size_t k = 0; k < c.mean_sq_grad.size(); ++k) {
        curve_csv += fmt("%.6g", alphas[i]) + "," + fmt("%.4g", qs[j]) + "," + std::to_string(k) + "," +
                     fmt("%.9g", c.mean_sq_grad[k]) + "," + fmt("%.9g", c.mean_cost[k]) + "\n";
      }
    }
  }
  const std::string dir = a.out + "/";
  sys::write_file_atomic(dir + "alpha_sweep.csv", summary);
  sys::write_file_atomic(dir + "cost_to_delta.csv", costs);
  sys::write_file_atomic(dir + "curves.csv", curve_csv);
  sys::write_file_atomic(dir + "table.md", table);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s\n%zu α × %zu q × %lld starts × %lld iterations in %.1f s (%lld threads)\n", table.c_str(), na, nq,
              static_cast<long long>(a.starts), static_cast<long long>(a.iters), secs,
              static_cast<long long>(a.threads));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const usage_error& e) {
    std::fprintf(stderr, "ufo_alpha_sweep: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ufo_alpha_sweep: %s\n", e.what());
    return 1;
  }
}
