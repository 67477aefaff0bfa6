// Method `sgld` (hypergrad/sgld.hpp has the variants and the random streams): C chains per estimate, run in
// parallel and reduced in chain order; the options and their validation.
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "base/bytes.hpp"
#include "hypergrad/sgld.hpp"
#include "hypergrad/unroll.hpp"
#include "tensor/tensor_bytes.hpp"

namespace bilevel {

namespace {

class SgldEstimator final : public Estimator {
 public:
  SgldEstimator(const SgldConfig& cfg, const Problem& p)
      : cfg_(cfg), closed_form_(dynamic_cast<const SgldClosedForm*>(&p)), theta_dim_(p.theta_dim()) {}

  HypergradResult estimate(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng) const override {
    const Start start = prepare(p, lambda, task);
    std::vector<SgldChainOut> outs(static_cast<size_t>(cfg_.chains));
    const int64_t held = MemoryMeter::live_bytes() - start.live0;
    const int64_t pre_peak = start.meter.peak();
    // Isolated, so that a thread waiting for these chains does not pick up another task's estimate
    // (which would interleave two estimates' memory meters on one thread).
    tbb::this_task_arena::isolate([&] {
      tbb::parallel_for(
          tbb::blocked_range<int64_t>(0, cfg_.chains, 1),
          [&](const tbb::blocked_range<int64_t>& r) {
            for (int64_t c = r.begin(); c != r.end(); ++c) outs[static_cast<size_t>(c)] = run_chain(p, lambda, task, rng, start, c);
          },
          tbb::simple_partitioner());
    });
    return finish(lambda, task, start, held, pre_peak, outs);
  }

  // The chains are the parts: part c is chain c's output, and combine_parts is estimate's reduction of them.
  int64_t parts() const override { return cfg_.chains; }

  std::string estimate_part(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng,
                            int64_t part) const override {
    BILEVEL_CHECK(part >= 0 && part < cfg_.chains, "sgld: part " + std::to_string(part) + " of " + std::to_string(cfg_.chains));
    const Start start = prepare(p, lambda, task);
    const SgldChainOut o = run_chain(p, lambda, task, rng, start, part);
    ByteWriter w;
    w.put_vector(o.g);
    w.put_vector(o.gt);
    w.put_vector(o.lgt);
    w.put(o.loss);
    w.put(o.count);
    put_tensor(w, o.theta_end);
    w.put(o.grad_evals);
    w.put(o.hvps);
    w.put(o.peak_bytes);
    return w.take();
  }

  HypergradResult combine_parts(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng,
                                const std::vector<std::string>& parts) const override {
    (void)rng;
    BILEVEL_CHECK(static_cast<int64_t>(parts.size()) == cfg_.chains, "sgld: combine_parts needs every chain");
    const Start start = prepare(p, lambda, task);
    std::vector<SgldChainOut> outs(static_cast<size_t>(cfg_.chains));
    const int64_t held = MemoryMeter::live_bytes() - start.live0;
    const int64_t pre_peak = start.meter.peak();
    for (size_t c = 0; c < parts.size(); ++c) {
      ByteReader r(parts[c]);
      SgldChainOut& o = outs[c];
      o.g = r.get_vector<double>();
      o.gt = r.get_vector<double>();
      o.lgt = r.get_vector<double>();
      o.loss = r.get<double>();
      o.count = r.get<int64_t>();
      o.theta_end = get_tensor(r);
      o.grad_evals = r.get<int64_t>();
      o.hvps = r.get<int64_t>();
      o.peak_bytes = r.get<int64_t>();
      BILEVEL_CHECK(r.done(), "sgld: a chain's message is longer than its fields");
    }
    return finish(lambda, task, start, held, pre_peak, outs);
  }

  void end_step(const std::vector<HypergradResult>& results) override {
    if (results.empty()) return;
    // Persistent chains: the states of the first task's chains start every task of the next step.
    if (cfg_.persistent && static_cast<int64_t>(results[0].carry.size()) == cfg_.chains) states_ = results[0].carry;
    // Closed forms and chain statistics, averaged over the tasks, for the curve rows.
    last_.clear();
    for (const auto& r : results) {
      for (const auto& [k, v] : r.extras) {
        bool found = false;
        for (auto& [k2, v2] : last_)
          if (k2 == k) v2 += v, found = true;
        if (!found) last_.emplace_back(k, v);
      }
    }
    for (auto& kv : last_) kv.second /= static_cast<double>(results.size());
  }

  Metrics state() const override { return last_; }

  // Persistent chains carry their last states (chain_0 … chain_{C−1}, each (P,)); fresh chains carry nothing.
  // (last_ is only what the curve logs: end_step recomputes it before it is read.)
  EstimatorState save_state() const override {
    EstimatorState s;
    for (size_t c = 0; c < states_.size(); ++c) s.tensors.emplace_back("chain_" + std::to_string(c), states_[c]);
    return s;
  }
  void load_state(const EstimatorState& s) override {
    const auto C = static_cast<size_t>(cfg_.chains);
    bool fits = s.scalars.empty() && (s.tensors.empty() || (cfg_.persistent && s.tensors.size() == C));
    for (size_t c = 0; fits && c < s.tensors.size(); ++c) {
      fits = s.tensors[c].first == "chain_" + std::to_string(c) && s.tensors[c].second.rank() == 1 &&
             s.tensors[c].second.numel() == theta_dim_;
    }
    if (!fits) {
      throw usage_error("sgld: saved state does not fit this estimator (persistent=" +
                        std::string(cfg_.persistent ? "true" : "false") + ", chains=" + std::to_string(C) +
                        ": expects " + (cfg_.persistent ? "0 or " + std::to_string(C) + " chain states of size " +
                                                             std::to_string(theta_dim_) : "none") + ")");
    }
    states_.clear();
    for (const auto& [name, t] : s.tensors) states_.push_back(t);
  }

 private:
  // What every chain of one estimate starts from, computed the same way wherever a chain runs.
  struct Start {
    int64_t live0 = MemoryMeter::live_bytes();
    PeakMeter meter;
    bool warm = false, j0_active = false;
    Tensor theta0;
  };

  Start prepare(const Problem& p, const Tensor& lambda, const Task& task) const {
    Start s;
    s.warm = cfg_.persistent && static_cast<int64_t>(states_.size()) == cfg_.chains;
    s.j0_active = !s.warm && theta0_depends_on_lambda(p, lambda, task);
    s.theta0 = theta0_value(p, lambda, task).reshaped(Shape{p.theta_dim()});
    return s;
  }

  // Chain c of the estimate with the task stream `rng` (its streams: rng.split(c)).
  SgldChainOut run_chain(const Problem& p, const Tensor& lambda, const Task& task, const Rng& rng, const Start& s,
                         int64_t c) const {
    PeakMeter chain_meter;
    const Rng chain_rng = rng.split(static_cast<uint64_t>(c));
    SgldChainOut out;
    if (cfg_.exact_sampler) {
      out = sgld_chain_exact(cfg_, p, lambda, task, chain_rng, *closed_form_);
    } else {
      Tensor start = s.warm ? states_[static_cast<size_t>(c)] : s.theta0;
      if (!s.warm && cfg_.init_spread > 0) {
        Rng spread = chain_rng.split(stream_spread);
        for (int64_t i = 0; i < start.numel(); ++i) start[i] += static_cast<real>(cfg_.init_spread * spread.normal());
      }
      out = sgld_chain_run(cfg_, p, lambda, task, chain_rng, s.j0_active, std::move(start));
    }
    out.peak_bytes = chain_meter.peak();
    return out;
  }

  // The estimate from every chain's output (chain order): the reduction, closed forms and peak bytes.
  HypergradResult finish(const Tensor& lambda, const Task& task, const Start& s, int64_t held, int64_t pre_peak,
                         std::vector<SgldChainOut>& outs) const {
    HypergradResult res;
    PeakMeter post_meter;
    const int64_t chain_peaks = reduce_chains(outs, lambda, res);
    if (closed_form_) add_closed_forms(lambda, task, s.warm, res);
    res.peak_bytes = std::max(pre_peak, held + chain_peaks + post_meter.peak());
    return res;
  }

  // Sums the chains' outputs in chain order into res (hypergradient, outer loss, costs, carried states and the
  // chain statistics). Returns the sum of the chains' peak bytes.
  int64_t reduce_chains(std::vector<SgldChainOut>& outs, const Tensor& lambda, HypergradResult& res) const {
    const int64_t H = lambda.numel();
    const int64_t C = cfg_.chains;
    std::vector<double> g(static_cast<size_t>(H), 0.0), gt(g), lgt(g);
    double loss = 0;
    int64_t n = 0, chain_peaks = 0;
    for (auto& o : outs) {
      for (int64_t h = 0; h < H; ++h) {
        const size_t i = static_cast<size_t>(h);
        g[i] += o.g[i];
        if (cfg_.variant == SgldVariant::cov) gt[i] += o.gt[i], lgt[i] += o.lgt[i];
      }
      loss += o.loss;
      n += o.count;
      res.grad_evals += o.grad_evals;
      res.hvps += o.hvps;
      chain_peaks += o.peak_bytes;
      if (cfg_.persistent) res.carry.push_back(std::move(o.theta_end));
    }
    const double nd = static_cast<double>(n);
    res.grad = Tensor(lambda.shape());
    if (cfg_.variant == SgldVariant::cov) {
      // E[∇_λL_V] − (N/τ)·Cov(L_V, ∇_λL_T), the covariance with Bessel's correction over all C·M samples.
      const double scale = cfg_.data_n / cfg_.tau;
      for (int64_t h = 0; h < H; ++h) {
        const size_t i = static_cast<size_t>(h);
        const double cov = (lgt[i] - loss * gt[i] / nd) / (nd - 1);
        res.grad[h] = static_cast<real>(g[i] / nd - scale * cov);
      }
    } else {
      // Mean over chains of each chain's sample mean (every chain keeps the same number of samples), and
      // its Monte-Carlo standard error from the spread of the chain means.
      for (int64_t h = 0; h < H; ++h) res.grad[h] = static_cast<real>(g[static_cast<size_t>(h)] / nd);
      if (C >= 2) {
        double ss = 0;
        for (const auto& o : outs) {
          for (int64_t h = 0; h < H; ++h) {
            const double d = o.g[static_cast<size_t>(h)] / static_cast<double>(o.count) - res.grad[h];
            ss += d * d;
          }
        }
        res.extras.emplace_back("sgld_chain_se", std::sqrt(ss / static_cast<double>(C * (C - 1))));
      }
    }
    res.outer_loss = loss / nd;
    res.extras.emplace_back("sgld_samples", nd);
    return chain_peaks;
  }

  // The problem's closed forms for this estimate (cf_F, cf_dF, cf_expected, …) beside it.
  void add_closed_forms(const Tensor& lambda, const Task& task, bool warm, HypergradResult& res) const {
    SgldPlan plan;
    plan.variant = cfg_.variant;
    plan.eta = cfg_.eta;
    plan.temperature = cfg_.tau / cfg_.data_n;
    plan.schedule = cfg_.schedule;
    plan.exact_sampler = cfg_.exact_sampler;
    plan.stationary_start = warm;
    for (const auto& [k, v] : closed_form_->sgld_reference(lambda, task, plan)) res.extras.emplace_back("cf_" + k, v);
  }

  SgldConfig cfg_;
  const SgldClosedForm* closed_form_;
  int64_t theta_dim_;
  std::vector<Tensor> states_;  // persistent chains' last states, one per chain
  Metrics last_;
};

OptionSpec real_or_word(std::string key, std::string word, std::string help, double min, bool min_exclusive) {
  OptionSpec s = opt_real(std::move(key), 0, std::move(help), min, 1e300, min_exclusive);
  s.choices = {word};
  s.default_value = std::move(word);
  return s;
}

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::vector<OptionSpec> sgld_options() {
  return {
      opt_choice("variant", "pathwise", sgld_variant_names(),
                 "hypergradient (formulas: lib/hypergrad/sgld.hpp, README 'HPO-SGLD'): pathwise = exact forward recurrence with a dense P×H "
                 "Jacobian; cov = score-function identity; drop-hessian, one-step, two-pass, frozen = first-order "
                 "candidates A, B, C, D"),
      opt_choice("sampler", "sgld", {"sgld", "exact"},
                 "sgld: the chains; exact: i.i.d. draws from p(θ|λ) (problems with a closed-form Gibbs law, "
                 "variant=cov only)"),
      opt_real("tau", 1.0, "temperature τ of p(θ|λ) ∝ exp(−N·L_T/τ); 0 gives gradient descent", 0),
      real_or_word("data_n", "auto",
                   "data scaling N in exp(−N·L_T/τ) and the noise sqrt(2ητ/N); auto: the problem's number of "
                   "training examples when L_T is a mean over them, else 1",
                   0, true),
      real_or_word("eta", "inner", "SGLD step η; inner: the problem's inner_lr", 0, true),
      opt_int("burn_in", 100, "chain steps before the first kept sample", 0),
      opt_int("thin", 1, "chain steps between kept samples", 1),
      opt_int("samples", 100, "kept samples per chain (M)", 1),
      opt_int("chains", 4, "independent chains per estimate (C), run in parallel", 1, 100000),
      opt_bool("persistent", false,
               "warm-start each chain from its state at the end of the previous outer step (dθ/dλ restarts at 0) "
               "instead of from θ₀(λ)"),
      opt_int("window", 0, "reset dθ/dλ to 0 every K chain steps (0: never)", 0),
      opt_int("minibatch", 0, "training examples per SGLD step (0: the full inner loss)", 0),
      opt_real("init_spread", 0.0, "std of a Gaussian offset of each fresh chain's start θ₀ (over-dispersed starts)", 0),
      opt_int("pathwise_max_entries", 10000000, "variant=pathwise: refuse when P·H exceeds this", 1),
  };
}

// Resolves the option words ("inner", "auto") against `p` and validates every combination; throws
// option_error naming the option, the value and what would work instead.
SgldConfig sgld_config(const Options& o, const Problem& p) {
  SgldConfig c;
  c.variant = sgld_variant_from_name(o.get_string("variant"));
  c.exact_sampler = o.get_string("sampler") == "exact";
  c.tau = o.get_real("tau");
  c.data_n = o.is_word("data_n", "auto") ? (p.inner_examples() > 0 ? static_cast<double>(p.inner_examples()) : 1.0)
                                         : o.get_real("data_n");
  c.eta = o.is_word("eta", "inner") ? static_cast<double>(p.inner().lr) : o.get_real("eta");
  c.schedule.burn_in = o.get_int("burn_in");
  c.schedule.thin = o.get_int("thin");
  c.schedule.samples = o.get_int("samples");
  c.schedule.window = o.get_int("window");
  c.chains = o.get_int("chains");
  c.persistent = o.get_bool("persistent");
  c.minibatch = o.get_int("minibatch");
  c.init_spread = o.get_real("init_spread");
  const std::string v = o.get_string("variant");
  const int64_t P = p.theta_dim(), H = p.lambda_dim();

  if (!(c.eta > 0)) throw option_error("option 'eta': the SGLD step must be > 0 (the problem's inner_lr is " + fmt(p.inner().lr) + ")");
  if (c.minibatch > 0) {
    if (p.inner_examples() == 0) {
      throw option_error("option 'minibatch': problem '" + p.name() +
                         "' has no per-example inner loss (its L_T is not a mean over training examples); use minibatch=0");
    }
    if (c.minibatch > p.inner_examples()) {
      throw option_error("option 'minibatch': " + std::to_string(c.minibatch) + " exceeds the " +
                         std::to_string(p.inner_examples()) + " training examples of problem '" + p.name() + "'");
    }
  }
  if (c.exact_sampler) {
    if (!dynamic_cast<const SgldClosedForm*>(&p)) {
      throw option_error("option 'sampler': exact Gibbs draws need a closed-form p(θ|λ), which problem '" + p.name() +
                         "' does not have (gaussian-sgld does); use sampler=sgld");
    }
    if (c.variant != SgldVariant::cov) {
      throw option_error("option 'sampler': exact draws are independent, there is no chain to differentiate, so only "
                         "variant=cov uses them (got variant=" + v + ")");
    }
    if (c.persistent) throw option_error("option 'persistent': there are no chains to keep with sampler=exact");
  }
  switch (c.variant) {
    case SgldVariant::pathwise:
      if (P * H > o.get_int("pathwise_max_entries")) {
        throw option_error("variant=pathwise keeps a dense P×H Jacobian: P = " + std::to_string(P) + ", H = " +
                           std::to_string(H) + " gives " + std::to_string(P * H) +
                           " entries, above pathwise_max_entries = " + std::to_string(o.get_int("pathwise_max_entries")) +
                           "; use variant=two-pass, one-step or cov (O(P + H) memory), or raise pathwise_max_entries");
      }
      break;
    case SgldVariant::cov:
      if (!(c.tau > 0)) throw option_error("variant=cov divides by the temperature: it needs tau > 0 (got tau = " + o.get_string("tau") + ")");
      if (!p.lambda_in_inner_loss()) {
        throw option_error("variant=cov does not apply to problem '" + p.name() +
                           "': λ enters only through θ₀, so p(θ|λ) does not depend on λ; use pathwise or two-pass");
      }
      if (c.chains * c.schedule.samples < 2) {
        throw option_error("variant=cov estimates a covariance: it needs chains·samples ≥ 2 (got " +
                           std::to_string(c.chains * c.schedule.samples) + ")");
      }
      break;
    case SgldVariant::drop_hessian: {
      const bool diag = p.mixed_partial_diagonal() && P == H;
      if (p.lambda_in_inner_loss() && !diag && H != 1) {
        throw option_error("variant=drop-hessian keeps dθ/dλ as a P-vector, which needs a diagonal mixed partial "
                           "∇²_θλ L_T (per-weight L2, proximal meta-learning) or a single hyperparameter; problem '" +
                           p.name() + "' has P = " + std::to_string(P) + ", H = " + std::to_string(H) +
                           " and a dense one: use variant=two-pass (the same estimate in O(P + H) memory)");
      }
      break;
    }
    default: break;
  }
  return c;
}

// Memory: min(C, T) chains run at once, each holding θ, the noise and v = ∇_θL_V (3·P·s), the step's
// linearization with one product (L+), a sample's outer gradient (G), one-step's linearization of the previous
// step (L) and the variant's own vectors (pathwise: J and the next J, 2·P·H; two-pass: W, the prefix and the
// window's start and end states, 4·P; drop-hessian and frozen one P-vector); every chain's sums (H doubles,
// three for cov, and its last state when persistent) wait for the reduction, which adds its own and the result.
MemoryModel sgld_memory(const Options& o, const MemorySizes& z) {
  const std::string v = o.get_string("variant");
  const double C = static_cast<double>(o.get_int("chains")), T = std::min<double>(C, static_cast<double>(z.threads));
  const double s = static_cast<double>(z.real_bytes), P = static_cast<double>(z.P), H = static_cast<double>(z.H);
  const bool persistent = o.get_bool("persistent");
  const double sums = v == "cov" ? 3.0 : 1.0;
  const double own = v == "two-pass" ? 4.0 : v == "drop-hessian" || v == "frozen" ? 1.0 : 0.0;
  double chain = static_cast<double>(z.lin_peak_bytes + z.grad_bytes) + (3.0 + own) * P * s;
  std::string chain_f = "L+ + G + " + fmt(3.0 + own) + "·P·s";
  if (v == "one-step") chain += static_cast<double>(z.lin_bytes), chain_f = "L + " + chain_f;
  if (v == "pathwise") chain += 2.0 * P * H * s, chain_f += " + 2·P·H·s";
  const double held = sums * 8.0 * H + (persistent ? P * s : 0.0);
  const std::string held_f = fmt(sums * 8.0) + "·H" + (persistent ? " + P·s" : "");
  MemoryModel m;
  m.bytes = T * chain + C * held + 3.0 * 8.0 * H + H * s;
  m.formula = fmt(T) + "·(" + chain_f + ") + " + fmt(C) + "·(" + held_f + ") + 24·H + H·s";
  if (v == "pathwise") m.advice = "variant=two-pass, one-step or cov hold O(P + H) per chain";
  else if (T > 1) m.advice = "fewer threads or chains run fewer chains at once";
  return m;
}

std::unique_ptr<Estimator> make_sgld(const Options& o, const Problem& p) {
  return std::make_unique<SgldEstimator>(sgld_config(o, p), p);
}

}  // namespace

MethodInfo sgld_method_info() {
  return {.name = "sgld",
          .description = "HPO-SGLD: SGLD chains on p(θ|λ) ∝ exp(−N·L_T/τ), hypergradient of E_p[L_V] by variant= "
                         "pathwise, cov, drop-hessian, one-step, two-pass or frozen",
          .options = sgld_options(),
          .make = make_sgld,
          .memory = sgld_memory};
}

}  // namespace bilevel
