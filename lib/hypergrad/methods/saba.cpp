// Method `saba`: SABA (Dagréou, Ablin, Vaiter, Moreau, NeurIPS 2022), SOBA (methods/soba.cpp) with SAGA variance
// reduction of its three inner oracles. The n training examples are cut into m = ⌈n/b⌉ fixed blocks of b
// consecutive examples (b = batch_size); block j is drawn with probability n_j/n, and each oracle value φ_j
// (∇_θĝ_j, Ĥ_j v, B̂_jᵀv on block j) is replaced by
//   φ_j − M_j + (1/n) Σ_k n_k M_k,
// unbiased for the full-batch value whatever the memories M_k, which then store φ_j. The memories start at zero
// and persist across outer steps (checkpointed); they hold m·(2P + H) numbers, counted in peak_bytes. The outer
// gradient is full-batch (no variance to reduce). With batch_size = 0 there is one block and SABA is SOBA.
// Oracles per step: as SOBA, 2 gradients and 1 HVP.
#include <algorithm>

#include "hypergrad/single_loop.hpp"

namespace bilevel {

namespace {

enum Slot : size_t { theta_, v_, mem_grad, mem_hv, mem_bv, sum_grad, sum_hv, sum_bv, slots };

class SabaEstimator final : public SingleLoopEstimator {
 public:
  SabaEstimator(const Options& o, const Problem& p, int64_t batch, int64_t n, int64_t blocks)
      : SingleLoopEstimator("saba", {{"theta", Shape{p.theta_dim()}},
                                     {"v", Shape{p.theta_dim()}},
                                     {"memory_grad", Shape{blocks, p.theta_dim()}},
                                     {"memory_hv", Shape{blocks, p.theta_dim()}},
                                     {"memory_bv", Shape{blocks, p.lambda_dim()}},
                                     {"weighted_sum_grad", Shape{p.theta_dim()}},
                                     {"weighted_sum_hv", Shape{p.theta_dim()}},
                                     {"weighted_sum_bv", Shape{p.lambda_dim()}}}),
        batch_(batch),
        n_(n),
        lr_(resolved_theta_lr(o, p)),
        v_lr_(resolved_v_lr(o, lr_)) {}

 protected:
  std::vector<Tensor> step(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng,
                           const std::vector<Tensor>& state, HypergradResult& res) const override {
    const Tensor &theta = state[theta_], &v = state[v_];
    Rng batch_rng = rng.split(0);
    const int64_t j = batch_ == 0 ? 0 : batch_rng.randint(n_) / batch_;
    InnerBatch batch;
    if (batch_ > 0) {
      for (int64_t i = j * batch_; i < std::min(n_, (j + 1) * batch_); ++i) batch.idx.push_back(i);
      batch.weight = static_cast<double>(batch.idx.size()) / static_cast<double>(n_);
    }
    const OuterGrad og = counted_outer_grad(p, theta, lambda, task, res);
    SecondOrder so = batch_second_order(p, theta, lambda, task, v, batch, res);
    const Tensor d_grad = reduced(so.grad, state[mem_grad], state[sum_grad], j);
    const Tensor d_hv = reduced(so.hv, state[mem_hv], state[sum_hv], j);
    const Tensor d_bv = reduced(so.bv, state[mem_bv], state[sum_bv], j);
    std::vector<Tensor> carry = joint_step(theta, v, og, d_grad, d_hv, d_bv, lr_, v_lr_, res);
    carry.push_back(Tensor(Shape{1}, static_cast<real>(j)));
    carry.push_back(std::move(so.grad));
    carry.push_back(std::move(so.hv));
    carry.push_back(std::move(so.bv));
    return carry;
  }

  // carry = {θ', v', j, φ_grad, φ_hv, φ_bv}: the sums gain n_j(φ − M_j), then M_j = φ.
  void absorb(std::vector<Tensor>& state, std::vector<Tensor>&& carry) const override {
    BILEVEL_CHECK(carry.size() == 6, "saba: carry of the wrong size");
    state[theta_] = std::move(carry[0]);
    state[v_] = std::move(carry[1]);
    const int64_t j = static_cast<int64_t>(carry[2][0]);
    const real nj = static_cast<real>(block_size(j));
    for (size_t k = 0; k < 3; ++k) {
      Tensor& mem = state[mem_grad + k];
      Tensor& sum = state[sum_grad + k];
      const Tensor& phi = carry[3 + k];
      const int64_t d = phi.numel();
      real* row = mem.data() + j * d;
      for (int64_t i = 0; i < d; ++i) {
        sum[i] += nj * (phi[i] - row[i]);
        row[i] = phi[i];
      }
    }
  }

 private:
  int64_t block_size(int64_t j) const { return batch_ == 0 ? 1 : std::min(n_, (j + 1) * batch_) - j * batch_; }
  // φ − M_j + Σ_k n_k M_k / n.
  Tensor reduced(const Tensor& phi, const Tensor& mem, const Tensor& sum, int64_t j) const {
    const int64_t d = phi.numel();
    const real* row = mem.data() + j * d;
    const real inv_n = static_cast<real>(1.0 / static_cast<double>(batch_ == 0 ? 1 : n_));
    Tensor out(phi.shape());
    for (int64_t i = 0; i < d; ++i) out[i] = phi[i] - row[i] + sum[i] * inv_n;
    return out;
  }

  int64_t batch_, n_;
  double lr_, v_lr_;
};

}  // namespace

MethodInfo saba_method_info() {
  return {.name = "saba",
          .description = "SABA: SOBA with SAGA variance reduction over per-block memories (memory ∝ examples)",
          .options = {batch_size_option(), theta_lr_option(), v_lr_option(),
                      opt_int("memory_max_entries", 50000000,
                              "refuse when the SAGA memories would hold more numbers than this, ⌈n/b⌉·(2P + H)", 1)},
          .refusal = [](const Problem& p) { return single_loop_refusal(p, "saba"); },
          .make = [](const Options& o, const Problem& p) -> std::unique_ptr<Estimator> {
            const int64_t b = resolved_batch_size(o, p, "saba");
            const int64_t n = b == 0 ? 1 : p.inner_examples();
            const int64_t blocks = b == 0 ? 1 : (n + b - 1) / b;
            const double entries = static_cast<double>(blocks) * static_cast<double>(2 * p.theta_dim() + p.lambda_dim());
            if (entries > static_cast<double>(o.get_int("memory_max_entries"))) {
              throw option_error("method 'saba': " + std::to_string(blocks) + " memory blocks of 2P + H = " +
                                 std::to_string(2 * p.theta_dim() + p.lambda_dim()) + " numbers exceed "
                                 "memory_max_entries = " + std::to_string(o.get_int("memory_max_entries")) +
                                 "; use a larger batch_size, or raise memory_max_entries");
            }
            return std::make_unique<SabaEstimator>(o, p, b, n, blocks);
          }};
}

}  // namespace bilevel
