// One SGLD chain of method `sgld` (hypergrad/sgld.hpp has the variants and the random streams).
#include <algorithm>
#include <cstring>
#include <string>

#include "autodiff/functional.hpp"
#include "hypergrad/sgld.hpp"
#include "hypergrad/unroll.hpp"

namespace bilevel {

using namespace ad;

namespace {

void add_to(std::vector<double>& acc, const Tensor& t, double scale = 1.0) {
  for (int64_t i = 0; i < t.numel(); ++i) acc[static_cast<size_t>(i)] += scale * static_cast<double>(t[i]);
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(real)) == 0;
}

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

  SgldChainOut run(Tensor theta) {
    switch (cfg_.variant) {
      case SgldVariant::two_pass: run_two_pass(std::move(theta)); break;
      default: run_single_pass(std::move(theta)); break;
    }
    return std::move(out_);
  }

  // cov on exact Gibbs draws: no chain, `samples` i.i.d. draws.
  SgldChainOut run_exact(const SgldClosedForm& cf, const Rng& chain_rng) {
    Rng draw = chain_rng.split(stream_exact);
    const double temperature = cfg_.tau / cfg_.data_n;
    for (int64_t m = 0; m < cfg_.schedule.samples; ++m) {
      Tensor theta = cf.sample_gibbs(lambda_, task_, temperature, draw);
      Linearization sg = graph_at(theta, -1, false, true);
      cov_sample(theta, sg);
      out_.theta_end = std::move(theta);
    }
    return std::move(out_);
  }

 private:
  // The linearization for the step from θ_t, on the minibatch of step t (a pure function of the chain's
  // stream and t) or the full inner loss (also for t < 0: a state that is not a chain step). +1 grad_eval.
  Linearization graph_at(const Tensor& theta, int64_t t, bool second_order, bool lambda_grad) {
    LinearizeOptions lo;
    lo.create_graph = second_order;
    lo.lambda_grad = lambda_grad;
    std::vector<int64_t> batch;
    if (cfg_.minibatch > 0 && t >= 0) {
      Rng r = batch_root_.split(static_cast<uint64_t>(t));
      batch = sgld_minibatch(p_.inner_examples(), cfg_.minibatch, r);
      lo.batch = &batch;
    }
    ++out_.grad_evals;
    return linearize(p_, theta, lambda_, task_, lo);
  }

  // M_jᵀ w = ∇_λ⟨∇_θL̂_T, w⟩ on a second-order graph (zeros when λ is not in L_T).
  Tensor mixed_t_vec(const Linearization& sg, const Tensor& w) {
    if (!mixed_) return Tensor(lambda_.shape());
    ++out_.hvps;
    return ad::mixed_vjp(sg.grad, sg.lambda, w);
  }

  void step(Tensor& theta, const Linearization& sg) { sgld_step(theta, sg.grad.value(), eta_, noise_std_, noise_); }

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

  void cov_sample(const Tensor& theta, const Linearization& sg) {
    OuterGrad og = sample_outer(theta);
    const Tensor& gt = sg.grad_lambda.value();
    add_to(out_.gt, gt);
    add_to(out_.lgt, gt, og.loss);
  }

  // J_0ᵀv for samples in the first window of a chain that starts from θ₀(λ, task).
  void add_j0_term(const Tensor& v, bool first_window) {
    if (j0_active_ && first_window) add_to(out_.g, theta0_vjp(p_, lambda_, task_, v));
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
      J = j0_active_ ? theta0_jacobian(p_, lambda_, task_)
                     : std::vector<Tensor>(static_cast<size_t>(H_), Tensor(Shape{P_}));
    } else if (v == SgldVariant::drop_hessian) {
      Jd = Tensor(Shape{P_});
    }
    bool first_window = true;
    Linearization prev;  // one-step: the graph at θ_{t−1}
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
      Linearization cur;
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
          Var sh = add(dot(cur.grad, constant(J[static_cast<size_t>(h)])), view(cur.grad_lambda, h, Shape{}));
          next[static_cast<size_t>(h)] = J[static_cast<size_t>(h)];
          axpy(-eta_, grad(sh, {cur.theta})[0].value(), next[static_cast<size_t>(h)]);
          ++out_.hvps;
        }
        J = std::move(next);
      } else if (ahead && v == SgldVariant::pathwise) {
        // λ only in θ₀: J ← (I − ηH_t)J.
        for (int64_t h = 0; h < H_; ++h) {
          Tensor hj = ad::hvp_from_grad(cur.grad, cur.theta, J[static_cast<size_t>(h)]);
          axpy(-eta_, hj, J[static_cast<size_t>(h)]);
          ++out_.hvps;
        }
      } else if (ahead && mixed_ && v == SgldVariant::drop_hessian) {
        if (diag) {
          axpy(-eta_, mixed_t_vec(cur, Tensor(Shape{P_}, real(1))), Jd);  // diag(M) = Mᵀ1
        } else {
          axpy(-eta_, grad(sum(cur.grad_lambda), {cur.theta})[0].value(), Jd);  // M e₁ = ∇_θ ∂L̂_T/∂λ
          ++out_.hvps;
        }
      }
      step(theta, cur);
      if (v == SgldVariant::one_step) prev = second ? cur : Linearization();
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
            Linearization sg = graph_at(theta, j, ahead, false);
            if (ahead) add_to(out_.g, mixed_t_vec(sg, sub(W, prefix)), -cfg_.eta);
            step(theta, sg);
            if (s.retained(j + 1)) {
              HypergradResult cost;
              axpy(real(1), outer_grad(p_, theta, lambda_, task_, cost).d_theta, prefix);
              out_.grad_evals += cost.grad_evals;
            }
          }
          if (!bitwise_equal(theta, theta_end)) {
            throw internal_error("sgld two-pass: the replayed chain left the first pass's trajectory (the inner "
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
  SgldChainOut out_;
};

}  // namespace

SgldChainOut sgld_chain_run(const SgldConfig& cfg, const Problem& p, const Tensor& lambda, const Task& task,
                            const Rng& chain_rng, bool j0_active, Tensor start) {
  return SgldChain(cfg, p, lambda, task, chain_rng, j0_active).run(std::move(start));
}

SgldChainOut sgld_chain_exact(const SgldConfig& cfg, const Problem& p, const Tensor& lambda, const Task& task,
                              const Rng& chain_rng, const SgldClosedForm& closed_form) {
  return SgldChain(cfg, p, lambda, task, chain_rng, false).run_exact(closed_form, chain_rng);
}

}  // namespace bilevel
