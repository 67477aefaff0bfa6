// Method `saba`: SABA (Dagréou, Ablin, Vaiter, Moreau, NeurIPS 2022), SOBA (methods/soba.cpp) with SAGA variance
// reduction of its oracles. The n training examples are cut into m = ⌈n/b⌉ fixed blocks of b consecutive
// examples (b = batch_size); block j is drawn with probability n_j/n, and each oracle value φ_j (∇_θĝ_j, Ĥ_j v,
// B̂_jᵀv on block j) is replaced by
//   φ_j − M_j + (1/n) Σ_k n_k M_k,
// unbiased for the full-batch value whatever the memories M_k, which then store φ_j. With outer minibatches
// (outer_batch_size = b' > 0) the outer gradient (∇_θf, and ∇_λf when λ is in L_V) is reduced the same way over
// ⌈m'/b'⌉ blocks of the m' outer examples. The memories start at zero and persist across outer steps
// (checkpointed); they hold ⌈n/b⌉·(2P + H) (+ ⌈m'/b'⌉·(P + H_f), H_f = H when λ is in L_V, else 0) numbers,
// counted in peak_bytes and in the memory model. With batch_size = 0 there is one block and SABA is SOBA.
// Oracles per step: as SOBA, 2 gradients and 1 HVP.
#include <algorithm>

#include "hypergrad/memory_model.hpp"
#include "hypergrad/single_loop.hpp"

namespace bilevel {

namespace {

enum Slot : size_t { theta_, v_, mem_grad, mem_hv, mem_bv, sum_grad, sum_hv, sum_bv, mem_outer, sum_outer };

// The numbers of blocks: ⌈count/size⌉, 1 for the full loss.
int64_t blocks_of(int64_t count, int64_t size) { return size == 0 ? 1 : (count + size - 1) / size; }

// What the memories hold, in numbers (the `memory_max_entries` check and the memory model).
struct SabaSizes {
  int64_t batch, n, blocks;              // inner
  int64_t outer_batch, m, outer_blocks;  // outer (outer_batch = 0: none)
  int64_t outer_width;                   // P + H_f
  double entries(int64_t P, int64_t H) const {
    return static_cast<double>(blocks) * static_cast<double>(2 * P + H) +
           (outer_batch > 0 ? static_cast<double>(outer_blocks) * static_cast<double>(outer_width) : 0.0);
  }
};

SabaSizes saba_sizes(const Options& o, const Problem& p) {
  SabaSizes z;
  z.batch = resolved_batch_size(o, p, "saba");
  z.n = z.batch == 0 ? 1 : p.inner_examples();
  z.blocks = blocks_of(z.n, z.batch);
  z.outer_batch = resolved_outer_batch_size(o, p, "saba");
  z.m = z.outer_batch == 0 ? 1 : p.outer_examples();
  z.outer_blocks = blocks_of(z.m, z.outer_batch);
  z.outer_width = p.theta_dim() + (p.lambda_in_outer_loss() ? p.lambda_dim() : 0);
  return z;
}

std::vector<std::pair<std::string, Shape>> saba_layout(const Problem& p, const SabaSizes& z) {
  const int64_t P = p.theta_dim(), H = p.lambda_dim();
  std::vector<std::pair<std::string, Shape>> l = {{"theta", Shape{P}},
                                                  {"v", Shape{P}},
                                                  {"memory_grad", Shape{z.blocks, P}},
                                                  {"memory_hv", Shape{z.blocks, P}},
                                                  {"memory_bv", Shape{z.blocks, H}},
                                                  {"weighted_sum_grad", Shape{P}},
                                                  {"weighted_sum_hv", Shape{P}},
                                                  {"weighted_sum_bv", Shape{H}}};
  if (z.outer_batch > 0) {
    l.emplace_back("memory_outer", Shape{z.outer_blocks, z.outer_width});
    l.emplace_back("weighted_sum_outer", Shape{z.outer_width});
  }
  return l;
}

class SabaEstimator final : public SingleLoopEstimator {
 public:
  SabaEstimator(const Options& o, const Problem& p, const SabaSizes& z)
      : SingleLoopEstimator("saba", saba_layout(p, z)),
        z_(z),
        P_(p.theta_dim()),
        lr_(resolved_theta_lr(o, p)),
        v_lr_(resolved_v_lr(o, lr_)) {}

 protected:
  std::vector<Tensor> step(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng,
                           const std::vector<Tensor>& state, HypergradResult& res) const override {
    const Tensor &theta = state[theta_], &v = state[v_];
    Rng batch_rng = rng.split(0);
    const int64_t j = z_.batch == 0 ? 0 : batch_rng.randint(z_.n) / z_.batch;
    const InnerBatch batch = block_batch(z_.n, z_.batch, j);
    Rng outer_rng = rng.split(1);
    const int64_t jo = z_.outer_batch == 0 ? 0 : outer_rng.randint(z_.m) / z_.outer_batch;
    OuterGrad og = counted_outer_grad(p, theta, lambda, task, res, block_batch(z_.m, z_.outer_batch, jo));
    Tensor phi_outer;
    if (z_.outer_batch > 0) {
      // φ = [∇_θf, ∇_λf (when λ is in L_V)] on block jo, reduced against the outer memories.
      phi_outer = Tensor(Shape{z_.outer_width});
      for (int64_t i = 0; i < P_; ++i) phi_outer[i] = og.d_theta[i];
      for (int64_t i = P_; i < z_.outer_width; ++i) phi_outer[i] = og.d_lambda[i - P_];
      const Tensor d = reduced(phi_outer, state[mem_outer], state[sum_outer], jo, z_.m);
      for (int64_t i = 0; i < P_; ++i) og.d_theta[i] = d[i];
      for (int64_t i = P_; i < z_.outer_width; ++i) og.d_lambda[i - P_] = d[i];
    }
    SecondOrder so = batch_second_order(p, theta, lambda, task, v, batch, res);
    const Tensor d_grad = reduced(so.grad, state[mem_grad], state[sum_grad], j, z_.n);
    const Tensor d_hv = reduced(so.hv, state[mem_hv], state[sum_hv], j, z_.n);
    const Tensor d_bv = reduced(so.bv, state[mem_bv], state[sum_bv], j, z_.n);
    std::vector<Tensor> carry = joint_step(theta, v, og, d_grad, d_hv, d_bv, lr_, v_lr_, res);
    carry.push_back(Tensor(Shape{1}, static_cast<real>(j)));
    carry.push_back(std::move(so.grad));
    carry.push_back(std::move(so.hv));
    carry.push_back(std::move(so.bv));
    if (z_.outer_batch > 0) {
      carry.push_back(Tensor(Shape{1}, static_cast<real>(jo)));
      carry.push_back(std::move(phi_outer));
    }
    return carry;
  }

  // carry = {θ', v', j, φ_grad, φ_hv, φ_bv [, j', φ_outer]}: the sums gain n_j(φ − M_j), then M_j = φ.
  void absorb(std::vector<Tensor>& state, std::vector<Tensor>&& carry) const override {
    BILEVEL_CHECK(carry.size() == (z_.outer_batch > 0 ? 8u : 6u), "saba: carry of the wrong size");
    state[theta_] = std::move(carry[0]);
    state[v_] = std::move(carry[1]);
    const int64_t j = static_cast<int64_t>(carry[2][0]);
    for (size_t k = 0; k < 3; ++k)
      remember(state[mem_grad + k], state[sum_grad + k], carry[3 + k], j, block_size(z_.n, z_.batch, j));
    if (z_.outer_batch > 0) {
      const int64_t jo = static_cast<int64_t>(carry[6][0]);
      remember(state[mem_outer], state[sum_outer], carry[7], jo, block_size(z_.m, z_.outer_batch, jo));
    }
  }

 private:
  static int64_t block_size(int64_t count, int64_t size, int64_t j) {
    return size == 0 ? 1 : std::min(count, (j + 1) * size) - j * size;
  }
  // sum += n_j(φ − M_j); M_j = φ.
  static void remember(Tensor& mem, Tensor& sum, const Tensor& phi, int64_t j, int64_t nj_count) {
    const real nj = static_cast<real>(nj_count);
    const int64_t d = phi.numel();
    real* row = mem.data() + j * d;
    for (int64_t i = 0; i < d; ++i) {
      sum[i] += nj * (phi[i] - row[i]);
      row[i] = phi[i];
    }
  }
  // φ − M_j + Σ_k n_k M_k / count (count = 1 for the full loss: n_0 = 1 then).
  static Tensor reduced(const Tensor& phi, const Tensor& mem, const Tensor& sum, int64_t j, int64_t count) {
    const int64_t d = phi.numel();
    const real* row = mem.data() + j * d;
    const real inv_n = static_cast<real>(1.0 / static_cast<double>(count));
    Tensor out(phi.shape());
    for (int64_t i = 0; i < d; ++i) out[i] = phi[i] - row[i] + sum[i] * inv_n;
    return out;
  }

  SabaSizes z_;
  int64_t P_;
  double lr_, v_lr_;
};

}  // namespace

MethodInfo saba_method_info() {
  return {.name = "saba",
          .description = "SABA: SOBA with SAGA variance reduction over per-block memories (memory ∝ examples)",
          .options = {batch_size_option(), outer_batch_size_option(), theta_lr_option(), v_lr_option(),
                      opt_int("memory_max_entries", 50000000,
                              "refuse when the SAGA memories would hold more numbers than this, ⌈n/b⌉·(2P + H) "
                              "(+ ⌈m/b'⌉·(P + H_f) with outer minibatches)",
                              1)},
          .refusal = [](const Problem& p) { return single_loop_refusal(p, "saba"); },
          .make = [](const Options& o, const Problem& p) -> std::unique_ptr<Estimator> {
            const SabaSizes z = saba_sizes(o, p);
            const double entries = z.entries(p.theta_dim(), p.lambda_dim());
            if (entries > static_cast<double>(o.get_int("memory_max_entries"))) {
              throw option_error("method 'saba': " + std::to_string(z.blocks) + " memory blocks of 2P + H = " +
                                 std::to_string(2 * p.theta_dim() + p.lambda_dim()) + " numbers" +
                                 (z.outer_batch > 0 ? " and " + std::to_string(z.outer_blocks) +
                                                          " outer blocks of " + std::to_string(z.outer_width)
                                                    : std::string()) +
                                 " exceed memory_max_entries = " + std::to_string(o.get_int("memory_max_entries")) +
                                 "; use a larger batch_size, or raise memory_max_entries");
            }
            return std::make_unique<SabaEstimator>(o, p, z);
          },
          // As SOBA's (6P + 3H and one second-order oracle), plus the reduced directions and the carry's φ (5P +
          // 3H), plus the memories and their sums, (⌈n/b⌉ + 1)·(2P + H) and with outer minibatches
          // (⌈m/b'⌉ + 1)·(P + H_f) numbers.
          .memory = [](const Options& o, const MemorySizes& z) {
            const int64_t b = o.get_int("batch_size"), bo = o.get_int("outer_batch_size");
            const double blocks = b == 0 || z.n == 0 ? 1.0 : static_cast<double>(blocks_of(z.n, b));
            const double width = static_cast<double>(2 * z.P + z.H);
            double numbers = (blocks + 1) * width;
            std::string formula = "(⌈n/b⌉ + 1)·(2P + H)";
            if (bo > 0 && z.m > 0) {
              const double ow = static_cast<double>(z.P + (z.lambda_in_outer ? z.H : 0));
              numbers += (static_cast<double>(blocks_of(z.m, bo)) + 1) * ow;
              formula += std::string(" + (⌈m/b'⌉ + 1)·(P") + (z.lambda_in_outer ? " + H)" : ")");
            }
            return single_loop_memory(z, true, 11, 6, numbers, formula);
          }};
}

}  // namespace bilevel
