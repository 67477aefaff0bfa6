// Method `sgld` (see sgld.hpp for the variants and the random streams).
#include "hypergrad/sgld.hpp"

#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "hypergrad/unroll.hpp"

namespace bilevel {

using namespace ad;

namespace {

// Child streams of one chain's Rng.
enum ChainStream : uint64_t { stream_noise = 0, stream_batch = 1, stream_exact = 2, stream_spread = 3 };

// What one chain hands back: sums over its kept samples, its last state and its costs.
struct ChainOut {
  std::vector<double> g;    // Σ_k per-sample hypergradient (H); cov: Σ_k ∇_λL_V
  std::vector<double> gt;   // cov: Σ_k ∇_λL_T
  std::vector<double> lgt;  // cov: Σ_k L_V·∇_λL_T
  double loss = 0.0;        // Σ_k L_V
  int64_t count = 0;
  Tensor theta_end;
  int64_t grad_evals = 0, hvps = 0, peak_bytes = 0;
};

void add_to(std::vector<double>& acc, const Tensor& t, double scale = 1.0) {
  for (int64_t i = 0; i < t.numel(); ++i) acc[static_cast<size_t>(i)] += scale * static_cast<double>(t[i]);
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(real)) == 0;
}

// The graph of ∇_θL̂_T at one chain state: the θ and λ leaves, the θ-gradient (differentiable when a
// second-order product follows) and, when asked for, the λ-gradient.
struct StepGraph {
  Var th, la, g_theta, g_lambda;
};

// One chain of one estimate. Not shared between threads.
class SgldChain {
 public:
  SgldChain(const SgldConfig& cfg, const Problem& p, const Tensor& lambda, const Task& task, const Rng& chain_rng,
            bool j0_active)
      : cfg_(cfg),
        p_(p),
        lambda_(lambda),
        task_(task),
        noise_(chain_rng.split(stream_noise)),
        batch_root_(chain_rng.split(stream_batch)),
        P_(p.theta_dim()),
        H_(p.lambda_dim()),
        mixed_(p.lambda_in_inner_loss()),
        j0_active_(j0_active),
        eta_(static_cast<real>(cfg.eta)),
        noise_std_(static_cast<real>(sgld_noise_std(cfg.eta, cfg.tau, cfg.data_n))) {
    out_.g.assign(static_cast<size_t>(H_), 0.0);
    if (cfg.variant == SgldVariant::cov) {
      out_.gt.assign(static_cast<size_t>(H_), 0.0);
      out_.lgt.assign(static_cast<size_t>(H_), 0.0);
    }
  }

  ChainOut run(Tensor theta) {
    switch (cfg_.variant) {
      case SgldVariant::two_pass: run_two_pass(std::move(theta)); break;
      default: run_single_pass(std::move(theta)); break;
    }
    return std::move(out_);
  }

  // cov on exact Gibbs draws: no chain, `samples` i.i.d. draws.
  ChainOut run_exact(const SgldClosedForm& cf, const Rng& chain_rng) {
    Rng draw = chain_rng.split(stream_exact);
    const double temperature = cfg_.tau / cfg_.data_n;
    for (int64_t m = 0; m < cfg_.schedule.samples; ++m) {
      Tensor theta = cf.sample_gibbs(lambda_, task_, temperature, draw);
      StepGraph sg = graph_at(theta, -1, false, true);
      cov_sample(theta, sg);
      out_.theta_end = std::move(theta);
    }
    return std::move(out_);
  }

 private:
  // L̂_T for the step from θ_t: the minibatch of step t (a pure function of the chain's stream and t),
  // or the full inner loss (also for t < 0: a state that is not a chain step).
  Var inner_at(const Var& th, const Var& la, int64_t t) {
    if (cfg_.minibatch == 0 || t < 0) return p_.inner_loss(th, la, task_);
    Rng r = batch_root_.split(static_cast<uint64_t>(t));
    return p_.inner_loss_batch(th, la, task_, sgld_minibatch(p_.inner_examples(), cfg_.minibatch, r));
  }

  StepGraph graph_at(const Tensor& theta, int64_t t, bool second_order, bool lambda_grad) {
    StepGraph sg;
    const bool la_leaf = mixed_ && (second_order || lambda_grad);
    sg.th = leaf(theta);
    sg.la = leaf(lambda_, la_leaf);
    Var loss = inner_at(sg.th, sg.la, t);
    ++out_.grad_evals;
    if (la_leaf && lambda_grad) {
      auto g = grad(loss, {sg.th, sg.la}, second_order);
      sg.g_theta = g[0];
      sg.g_lambda = g[1];
    } else {
      sg.g_theta = grad(loss, {sg.th}, second_order)[0];
    }
    return sg;
  }

  // M_jᵀ w = ∇_λ⟨∇_θL̂_T, w⟩ on a second-order graph (zeros when λ is not in L_T).
  Tensor mixed_t_vec(const StepGraph& sg, const Tensor& w) {
    if (!mixed_) return Tensor(lambda_.shape());
    ++out_.hvps;
    return grad(dot(sg.g_theta, constant(w)), {sg.la})[0].value();
  }

  void step(Tensor& theta, const StepGraph& sg) { sgld_step(theta, sg.g_theta.value(), eta_, noise_std_, noise_); }

  // Outer gradient at a kept sample; adds ∇_λL_V and L_V to the sums.
  OuterGrad sample_outer(const Tensor& theta) {
    HypergradResult cost;
    OuterGrad og = outer_grad(p_, theta, lambda_, task_, cost);
    out_.grad_evals += cost.grad_evals;
    out_.loss += og.loss;
    ++out_.count;
    add_to(out_.g, og.d_lambda);
    return og;
  }

  void cov_sample(const Tensor& theta, const StepGraph& sg) {
    OuterGrad og = sample_outer(theta);
    const Tensor& gt = sg.g_lambda.value();
    add_to(out_.gt, gt);
    add_to(out_.lgt, gt, og.loss);
  }

  // J_0ᵀv for samples in the first window of a chain that starts from θ₀(λ, task).
  void add_j0_term(const Tensor& v, bool first_window) {
    if (j0_active_ && first_window) add_to(out_.g, theta0_vjp(p_, lambda_, task_, v));
  }

  void init_pathwise_j0(std::vector<Tensor>& J) {
    if (!j0_active_) return;
    if (p_.theta0_is_lambda()) {
      for (int64_t h = 0; h < H_; ++h) J[static_cast<size_t>(h)][h] = real(1);
      return;
    }
    // Column h of dθ₀/dλ by double backward: w(u) = (dθ₀/dλ)ᵀu is linear in u, ∇_u⟨w(u), e_h⟩ = (dθ₀/dλ)e_h.
    for (int64_t h = 0; h < H_; ++h) {
      Var la = leaf(lambda_);
      Var t0 = p_.theta0(la, task_);
      Var u = leaf(Tensor(t0.shape()));
      Var w = grad({t0}, {u}, {la}, true)[0];
      Tensor e(lambda_.shape());
      e[h] = real(1);
      J[static_cast<size_t>(h)] = grad(dot(w, constant(e)), {u})[0].value().reshaped(Shape{P_});
    }
  }

  // pathwise, cov, drop-hessian, one-step, frozen: one run of the chain.
  void run_single_pass(Tensor theta) {
    const SgldSchedule& s = cfg_.schedule;
    const SgldVariant v = cfg_.variant;
    const int64_t T = s.total_steps();
    const bool diag = p_.mixed_partial_diagonal() && P_ == H_;
    std::vector<Tensor> J;  // pathwise: H columns of (P,)
    Tensor Jd;              // drop-hessian: −η Σ M_j as a P-vector (diagonal of J, or its one column when H = 1)
    if (v == SgldVariant::pathwise) {
      J.assign(static_cast<size_t>(H_), Tensor(Shape{P_}));
      init_pathwise_j0(J);
    } else if (v == SgldVariant::drop_hessian) {
      Jd = Tensor(Shape{P_});
    }
    bool first_window = true;
    StepGraph prev;  // one-step: the graph at θ_{t−1}
    for (int64_t t = 0; t <= T; ++t) {
      const bool last = t == T;
      const bool sample = s.retained(t);
      const bool ahead = !last && s.sample_ahead(t);
      bool second = false, lambda_grad = false;
      switch (v) {
        case SgldVariant::pathwise: second = ahead, lambda_grad = ahead; break;
        case SgldVariant::drop_hessian: second = ahead, lambda_grad = ahead && !diag; break;
        case SgldVariant::one_step: second = !last && s.retained(t + 1); break;
        case SgldVariant::frozen: second = sample; break;
        case SgldVariant::cov: lambda_grad = sample; break;
        case SgldVariant::two_pass: break;
      }
      StepGraph cur;
      if (!last || second || lambda_grad) cur = graph_at(theta, t, second, lambda_grad);

      if (sample) {
        if (v == SgldVariant::cov) {
          cov_sample(theta, cur);
        } else {
          const OuterGrad og = sample_outer(theta);
          const Tensor& vk = og.d_theta;
          if (v != SgldVariant::pathwise) add_j0_term(vk, first_window);  // pathwise has J_0 inside J
          switch (v) {
            case SgldVariant::pathwise:
              for (int64_t h = 0; h < H_; ++h) out_.g[static_cast<size_t>(h)] += dot(J[static_cast<size_t>(h)], vk);
              break;
            case SgldVariant::drop_hessian:
              if (diag) {
                for (int64_t i = 0; i < P_; ++i)
                  out_.g[static_cast<size_t>(i)] += static_cast<double>(Jd[i]) * static_cast<double>(vk[i]);
              } else if (H_ == 1) {
                out_.g[0] += dot(Jd, vk);
              }
              break;
            case SgldVariant::one_step: add_to(out_.g, mixed_t_vec(prev, vk), -cfg_.eta); break;
            case SgldVariant::frozen:
              add_to(out_.g, mixed_t_vec(cur, vk), -cfg_.eta * static_cast<double>(s.steps_since_reset(t)));
              break;
            default: break;
          }
        }
      }
      if (last) break;
      if (s.reset_at(t)) {
        first_window = false;
        for (auto& col : J) col.fill(real(0));
        if (Jd.numel() > 0) Jd.fill(real(0));
      }
      if (ahead && mixed_ && v == SgldVariant::pathwise) {
        // Column h of H_tJ + M_t: ∇_θ[⟨∇_θL̂_T, J_h⟩ + ∂L̂_T/∂λ_h] (H symmetric), then J_h −= η·that.
        std::vector<Tensor> next(static_cast<size_t>(H_));
        for (int64_t h = 0; h < H_; ++h) {
          Var sh = add(dot(cur.g_theta, constant(J[static_cast<size_t>(h)])), view(cur.g_lambda, h, Shape{}));
          next[static_cast<size_t>(h)] = J[static_cast<size_t>(h)];
          axpy(-eta_, grad(sh, {cur.th})[0].value(), next[static_cast<size_t>(h)]);
          ++out_.hvps;
        }
        J = std::move(next);
      } else if (ahead && v == SgldVariant::pathwise) {
        // λ only in θ₀: J ← (I − ηH_t)J.
        for (int64_t h = 0; h < H_; ++h) {
          Tensor hj = grad(dot(cur.g_theta, constant(J[static_cast<size_t>(h)])), {cur.th})[0].value();
          axpy(-eta_, hj, J[static_cast<size_t>(h)]);
          ++out_.hvps;
        }
      } else if (ahead && mixed_ && v == SgldVariant::drop_hessian) {
        if (diag) {
          axpy(-eta_, mixed_t_vec(cur, Tensor(Shape{P_}, real(1))), Jd);  // diag(M) = Mᵀ1
        } else {
          axpy(-eta_, grad(sum(cur.g_lambda), {cur.th})[0].value(), Jd);  // M e₁ = ∇_θ ∂L̂_T/∂λ
          ++out_.hvps;
        }
      }
      step(theta, cur);
      if (v == SgldVariant::one_step) prev = second ? cur : StepGraph();
    }
    out_.theta_end = std::move(theta);
  }

  // two-pass: each window (or the whole chain) twice with the same streams. Pass 1 sums the kept
  // samples' v_k into W (and their direct terms); pass 2 replays the window from its saved start
  // and adds −η M_jᵀ(W − prefix_j) at each step j.
  void run_two_pass(Tensor theta) {
    const SgldSchedule& s = cfg_.schedule;
    const int64_t T = s.total_steps();
    for (int64_t start = 0; start < T;) {
      const int64_t end = s.window > 0 ? std::min(T, start + s.window) : T;
      const Tensor theta_start = theta;
      const Rng noise_start = noise_;
      Tensor W(Shape{P_});
      bool any = false;
      for (int64_t t = start; t < end; ++t) {
        step(theta, graph_at(theta, t, false, false));
        if (s.retained(t + 1)) {
          axpy(real(1), sample_outer(theta).d_theta, W);
          any = true;
        }
      }
      if (any) {
        add_j0_term(W, start == 0);
        if (mixed_) {
          const Tensor theta_end = theta;
          const Rng noise_end = noise_;
          theta = theta_start;
          noise_ = noise_start;
          Tensor prefix(Shape{P_});
          for (int64_t j = start; j < end; ++j) {
            const bool ahead = s.sample_ahead(j);
            StepGraph sg = graph_at(theta, j, ahead, false);
            if (ahead) add_to(out_.g, mixed_t_vec(sg, sub(W, prefix)), -cfg_.eta);
            step(theta, sg);
            if (s.retained(j + 1)) {
              HypergradResult cost;
              axpy(real(1), outer_grad(p_, theta, lambda_, task_, cost).d_theta, prefix);
              out_.grad_evals += cost.grad_evals;
            }
          }
          if (!bitwise_equal(theta, theta_end)) {
            throw std::logic_error("sgld two-pass: the replayed chain left the first pass's trajectory (the inner "
                                   "loss of problem '" + p_.name() + "' is not bit-reproducible)");
          }
          noise_ = noise_end;
        }
      }
      start = end;
    }
    out_.theta_end = std::move(theta);
  }

  const SgldConfig& cfg_;
  const Problem& p_;
  const Tensor& lambda_;
  const Task& task_;
  Rng noise_;
  const Rng batch_root_;
  const int64_t P_, H_;
  const bool mixed_;
  const bool j0_active_;
  const real eta_, noise_std_;
  ChainOut out_;
};

bool theta0_depends_on_lambda(const Problem& p, const Tensor& lambda, const Task& task) {
  if (p.theta0_is_lambda()) return true;
  Var la = leaf(lambda);
  return p.theta0(la, task).requires_grad();
}

class SgldEstimator final : public Estimator {
 public:
  SgldEstimator(const SgldConfig& cfg, const Problem& p)
      : cfg_(cfg), closed_form_(dynamic_cast<const SgldClosedForm*>(&p)) {}

  HypergradResult estimate(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng) const override {
    HypergradResult res;
    const int64_t live0 = MemoryMeter::live_bytes();
    PeakMeter meter;
    const int64_t C = cfg_.chains, H = p.lambda_dim();
    const bool warm = cfg_.persistent && static_cast<int64_t>(states_.size()) == C;
    const bool j0_active = !warm && theta0_depends_on_lambda(p, lambda, task);
    const Tensor theta0 = theta0_value(p, lambda, task).reshaped(Shape{p.theta_dim()});
    std::vector<ChainOut> outs(static_cast<size_t>(C));
    const int64_t held = MemoryMeter::live_bytes() - live0;
    const int64_t pre_peak = meter.peak();

    auto run_chain = [&](int64_t c) {
      PeakMeter chain_meter;
      const Rng chain_rng = rng.split(static_cast<uint64_t>(c));
      SgldChain chain(cfg_, p, lambda, task, chain_rng, j0_active);
      ChainOut out;
      if (cfg_.exact_sampler) {
        out = chain.run_exact(*closed_form_, chain_rng);
      } else {
        Tensor start = warm ? states_[static_cast<size_t>(c)] : theta0;
        if (!warm && cfg_.init_spread > 0) {
          Rng spread = chain_rng.split(stream_spread);
          for (int64_t i = 0; i < start.numel(); ++i) start[i] += static_cast<real>(cfg_.init_spread * spread.normal());
        }
        out = chain.run(std::move(start));
      }
      out.peak_bytes = chain_meter.peak();
      outs[static_cast<size_t>(c)] = std::move(out);
    };
    // Isolated, so that a thread waiting for these chains does not pick up another task's estimate
    // (which would interleave two estimates' memory meters on one thread).
    tbb::this_task_arena::isolate([&] {
      tbb::parallel_for(
          tbb::blocked_range<int64_t>(0, C, 1),
          [&](const tbb::blocked_range<int64_t>& r) {
            for (int64_t c = r.begin(); c != r.end(); ++c) run_chain(c);
          },
          tbb::simple_partitioner());
    });

    // Reduce in chain order.
    PeakMeter post_meter;
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
    if (closed_form_) {
      SgldPlan plan;
      plan.variant = cfg_.variant;
      plan.eta = cfg_.eta;
      plan.temperature = cfg_.tau / cfg_.data_n;
      plan.schedule = cfg_.schedule;
      plan.exact_sampler = cfg_.exact_sampler;
      plan.stationary_start = warm;
      for (const auto& [k, v] : closed_form_->sgld_reference(lambda, task, plan)) res.extras.emplace_back("cf_" + k, v);
    }
    res.peak_bytes = std::max(pre_peak, held + chain_peaks + post_meter.peak());
    return res;
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

 private:
  SgldConfig cfg_;
  const SgldClosedForm* closed_form_;
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

}  // namespace

std::vector<OptionSpec> sgld_option_specs() {
  return {
      opt_choice("variant", "pathwise", sgld_variant_names(),
                 "hypergradient (reference/hpo-sgld.md §3.3): pathwise = exact forward recurrence with a dense P×H "
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

std::unique_ptr<Estimator> make_sgld_estimator(const SgldConfig& cfg, const Problem& p) {
  return std::make_unique<SgldEstimator>(cfg, p);
}

MethodInfo sgld_method_info() {
  MethodInfo m;
  m.name = "sgld";
  m.description =
      "HPO-SGLD: SGLD chains on p(θ|λ) ∝ exp(−N·L_T/τ), hypergradient of E_p[L_V] by variant= pathwise, cov, "
      "drop-hessian, one-step, two-pass or frozen";
  m.options = sgld_option_specs();
  m.make = [](const Options& o, const Problem& p, const Options&) { return make_sgld_estimator(sgld_config(o, p), p); };
  return m;
}

}  // namespace bilevel
