// Batch normalisation with batch statistics as fused ops: the standardisation x ↦ x̂ and its backward rules,
// each one pass to reduce and one to write, instead of a composite of ~9 element-wise passes per direction.
//
// Layout: channels last, x of shape (..., C) read as (M, C), M = numel / C; every statistic is per channel over
// the M rows. Notation per channel (vectors over the rows): ā = mean(a), ã = a − ā, ⟨a⟩ = mean(a ⊙ x̂),
// cov(a, b) = mean(ã ⊙ b̃); r = (σ² + eps)^(-1/2) with σ² the biased variance, x̂ = (x − x̄)·r.
//
// Derivation. ∇ₓ r = −(r²/M) x̂, so the Jacobian of x ↦ x̂ is J = r(I − 11ᵀ/M − x̂x̂ᵀ/M), which is symmetric:
//   backward   B(g) = Jᵀg = r(g̃ − ⟨g⟩ x̂)                                       standardize_backward
// and B is its own adjoint in g. With ∇ₓ⟨a⟩ = B(a)/M, the derivative in x of ⟨h, B(g)⟩ = M·r·(cov(h, g) − ⟨h⟩⟨g⟩):
//   BB(h, g) = ∇ₓ⟨h, B(g)⟩ = −r²[(cov(h, g) − 3⟨h⟩⟨g⟩) x̂ + ⟨g⟩ h̃ + ⟨h⟩ g̃]          standardize_backward2
// symmetric in h and g, linear in each; ⟨k, BB(h, g)⟩ = −M r² S(h, g, k) with
//   S = cov(h, g)K + cov(k, h)Q + cov(k, g)P − 3PQK,   P = ⟨h⟩, Q = ⟨g⟩, K = ⟨k⟩,
// symmetric in all three, so ∂/∂h ⟨k, BB(h, g)⟩ = BB(k, g) and ∂/∂g = BB(h, k). Its derivative in x (third order
// of the standardisation, needed only when a second-order quantity is differentiated again) is composed of
// differentiable ops, so any order works:
//   ∇ₓ⟨k, BB(h, g)⟩ = r³[(3S − 6PQK) x̂ − A k̃ − A' g̃ − A'' h̃],
//   A = cov(h, g) − 3PQ,  A' = cov(k, h) − 3PK,  A'' = cov(k, g) − 3QK.
// The per-channel sums are accumulated in double, in row order (one thread per op: the same bits for any
// thread count).
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "autodiff/ops.hpp"
#include "tensor/simd.hpp"

namespace bilevel::ad {

namespace {

// (M, C) view of a channels-last tensor.
struct Channels {
  int64_t m, c;
};

Channels channels_of(const Shape& s, const char* op) {
  if (s.rank < 2 || s[s.rank - 1] < 1 || s.numel() < 1) {
    throw internal_error(std::string(op) + ": expects a non-empty input of rank ≥ 2 (..., C), got " + s.str());
  }
  const int64_t c = s[s.rank - 1];
  return {s.numel() / c, c};
}

void check_same_shape(const Var& a, const Var& b, const char* op) {
  if (a.shape() != b.shape()) {
    throw internal_error(std::string(op) + ": shapes " + a.shape().str() + " and " + b.shape().str() + " differ");
  }
}

// What batch_standardize keeps: r per channel and eps (the third-order rule recomputes r from x with ops).
struct StandardizeSaved {
  std::shared_ptr<const std::vector<real>> rstd;
  real eps;
};
// The backward ops read x̂ (the value of the batch_standardize node) and r (its saved state) through this.
struct XhatSaved {
  Var xhat;
};

Var standardize_backward(const Var& g, const Var& x, const Var& xhat);
Var standardize_backward2(const Var& h, const Var& g, const Var& x, const Var& xhat);
Var standardize_backward2_dx(const Var& h, const Var& g, const Var& k, const Var& x, const Var& xhat);

constexpr Op<StandardizeSaved> standardize_op(
    {.name = "batch_standardize", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
       gi[0] = standardize_backward(g, o.node()->inputs[0], o);
     }});

// B(g) at x: inputs {g, x}. ∂/∂g = B(·) (self-adjoint), ∂/∂x = BB.
constexpr Op<XhatSaved> standardize_backward_op(
    {.name = "batch_standardize_backward", .backward = [](const Var& o, const Var& h, InputGrads& gi) {
       const Var& xhat = standardize_backward_op.saved(o).xhat;
       const auto& ins = o.node()->inputs;
       if (gi.needed(0)) gi[0] = standardize_backward(h, ins[1], xhat);
       if (gi.needed(1)) gi[1] = standardize_backward2(h, ins[0], ins[1], xhat);
     }});

// BB(h, g) at x: inputs {h, g, x}.
constexpr Op<XhatSaved> standardize_backward2_op(
    {.name = "batch_standardize_backward2", .backward = [](const Var& o, const Var& k, InputGrads& gi) {
       const Var& xhat = standardize_backward2_op.saved(o).xhat;
       const auto& ins = o.node()->inputs;
       if (gi.needed(0)) gi[0] = standardize_backward2(k, ins[1], ins[2], xhat);
       if (gi.needed(1)) gi[1] = standardize_backward2(ins[0], k, ins[2], xhat);
       if (gi.needed(2)) gi[2] = standardize_backward2_dx(ins[0], ins[1], k, ins[2], xhat);
     }});

const std::vector<real>& rstd_of(const Var& xhat) {
  if (xhat.node()->op != &standardize_op) throw internal_error("batch_standardize: x̂ is not a standardize node");
  return *standardize_op.saved(xhat).rstd;
}

Var standardize_backward(const Var& g, const Var& x, const Var& xhat) {
  // g, x: (..., C) → (..., C): r(g̃ − ⟨g⟩ x̂).
  check_same_shape(g, x, "batch_standardize_backward");
  const Channels d = channels_of(x.shape(), "batch_standardize_backward");
  const std::vector<real>& r = rstd_of(xhat);
  const real* pg = g.value().data();
  const real* px = xhat.value().data();
  std::vector<double> sg(static_cast<size_t>(d.c)), sgx(static_cast<size_t>(d.c));
  simd_dispatch([&, psg = sg.data(), psgx = sgx.data()]() BILEVEL_SIMD_BODY {
    for (int64_t i = 0; i < d.m; ++i) {
      const real* gi = pg + i * d.c;
      const real* xi = px + i * d.c;
      for (int64_t j = 0; j < d.c; ++j) {
        psg[j] += static_cast<double>(gi[j]);
        psgx[j] += static_cast<double>(gi[j]) * static_cast<double>(xi[j]);
      }
    }
  });
  // out = a·g + b·x̂ + c per channel.
  std::vector<real> a(static_cast<size_t>(d.c)), b(a.size()), c0(a.size());
  const double inv_m = 1.0 / static_cast<double>(d.m);
  for (size_t j = 0; j < a.size(); ++j) {
    const double rj = static_cast<double>(r[j]);
    a[j] = static_cast<real>(rj);
    b[j] = static_cast<real>(-rj * sgx[j] * inv_m);
    c0[j] = static_cast<real>(-rj * sg[j] * inv_m);
  }
  Tensor out = Tensor::uninitialized(x.shape());
  simd_dispatch([&, po = out.data(), pa = a.data(), pb = b.data(), pc = c0.data()]() BILEVEL_SIMD_BODY {
    for (int64_t i = 0; i < d.m; ++i) {
      const real* gi = pg + i * d.c;
      const real* xi = px + i * d.c;
      real* oi = po + i * d.c;
      for (int64_t j = 0; j < d.c; ++j) oi[j] = pa[j] * gi[j] + pb[j] * xi[j] + pc[j];
    }
  });
  return make_op(standardize_backward_op, std::move(out), {g, x}, XhatSaved{xhat});
}

Var standardize_backward2(const Var& h, const Var& g, const Var& x, const Var& xhat) {
  // h, g, x: (..., C) → (..., C): −r²[(cov(h, g) − 3PQ) x̂ + Q h̃ + P g̃], P = ⟨h⟩, Q = ⟨g⟩.
  check_same_shape(h, x, "batch_standardize_backward2");
  check_same_shape(g, x, "batch_standardize_backward2");
  const Channels d = channels_of(x.shape(), "batch_standardize_backward2");
  const std::vector<real>& r = rstd_of(xhat);
  const real* ph = h.value().data();
  const real* pg = g.value().data();
  const real* px = xhat.value().data();
  const size_t nc = static_cast<size_t>(d.c);
  std::vector<double> sh(nc), sg(nc), shx(nc), sgx(nc), shg(nc);
  simd_dispatch([&, psh = sh.data(), psg = sg.data(), pshx = shx.data(), psgx = sgx.data(),
                 pshg = shg.data()]() BILEVEL_SIMD_BODY {
    for (int64_t i = 0; i < d.m; ++i) {
      const real* hi = ph + i * d.c;
      const real* gi = pg + i * d.c;
      const real* xi = px + i * d.c;
      for (int64_t j = 0; j < d.c; ++j) {
        const double hv = static_cast<double>(hi[j]), gv = static_cast<double>(gi[j]), xv = static_cast<double>(xi[j]);
        psh[j] += hv;
        psg[j] += gv;
        pshx[j] += hv * xv;
        psgx[j] += gv * xv;
        pshg[j] += hv * gv;
      }
    }
  });
  // out = ax·x̂ + ah·h + ag·g + c per channel.
  std::vector<real> ax(nc), ah(nc), ag(nc), c0(nc);
  const double inv_m = 1.0 / static_cast<double>(d.m);
  for (size_t k = 0; k < nc; ++k) {
    const double r2 = static_cast<double>(r[k]) * static_cast<double>(r[k]);
    const double hbar = sh[k] * inv_m, gbar = sg[k] * inv_m, p = shx[k] * inv_m, q = sgx[k] * inv_m;
    const double cov = shg[k] * inv_m - hbar * gbar;
    ax[k] = static_cast<real>(-r2 * (cov - 3 * p * q));
    ah[k] = static_cast<real>(-r2 * q);
    ag[k] = static_cast<real>(-r2 * p);
    c0[k] = static_cast<real>(r2 * (q * hbar + p * gbar));
  }
  Tensor out = Tensor::uninitialized(x.shape());
  simd_dispatch([&, po = out.data(), pax = ax.data(), pah = ah.data(), pag = ag.data(),
                 pc = c0.data()]() BILEVEL_SIMD_BODY {
    for (int64_t i = 0; i < d.m; ++i) {
      const real* hi = ph + i * d.c;
      const real* gi = pg + i * d.c;
      const real* xi = px + i * d.c;
      real* oi = po + i * d.c;
      for (int64_t j = 0; j < d.c; ++j) oi[j] = pax[j] * xi[j] + pah[j] * hi[j] + pag[j] * gi[j] + pc[j];
    }
  });
  return make_op(standardize_backward2_op, std::move(out), {h, g, x}, XhatSaved{xhat});
}

// ∇ₓ⟨k, BB(h, g)⟩ (third order), composed of differentiable ops on (M, C) matrices; see the file comment.
Var standardize_backward2_dx(const Var& h, const Var& g, const Var& k, const Var& x, const Var& xhat) {
  const Channels d = channels_of(x.shape(), "batch_standardize_backward2");
  const Shape mc{d.m, d.c};
  auto col_mean = [](const Var& a) { return mean(a, 0, true); };  // (M, C) → (1, C)
  auto centered = [&](const Var& a) { return sub(a, col_mean(a)); };
  const Var h2 = reshape(h, mc), g2 = reshape(g, mc), k2 = reshape(k, mc), xh = reshape(xhat, mc);
  const Var hc = centered(h2), gc = centered(g2), kc = centered(k2);
  const Var xc = centered(reshape(x, mc));
  const real eps = standardize_op.saved(xhat).eps;
  const Var r = pow(add_scalar(col_mean(square(xc)), eps), real(-0.5));  // (1, C), as a function of x
  const Var p = col_mean(mul(h2, xh)), q = col_mean(mul(g2, xh)), kk = col_mean(mul(k2, xh));
  const Var cov_hg = col_mean(mul(hc, gc)), cov_kh = col_mean(mul(kc, hc)), cov_kg = col_mean(mul(kc, gc));
  const Var pqk = mul(mul(p, q), kk);
  const Var s = sub(add(add(mul(cov_hg, kk), mul(cov_kh, q)), mul(cov_kg, p)), scale(pqk, 3));
  const Var a0 = sub(cov_hg, scale(mul(p, q), 3));
  const Var a1 = sub(cov_kh, scale(mul(p, kk), 3));
  const Var a2 = sub(cov_kg, scale(mul(q, kk), 3));
  const Var coef_x = sub(scale(s, 3), scale(pqk, 6));
  const Var inner = sub(sub(sub(mul(coef_x, xh), mul(a0, kc)), mul(a1, gc)), mul(a2, hc));
  return reshape(mul(mul(mul(r, r), r), inner), x.shape());
}

}  // namespace

Var batch_standardize(const Var& x, real eps) {
  // x: (..., C) → (..., C), each channel standardised over all other axes with its batch mean and biased
  // variance: x̂ = (x − x̄)/sqrt(σ² + eps).
  const Channels d = channels_of(x.shape(), "batch_standardize");
  if (!(eps > 0)) throw internal_error("batch_standardize: eps must be > 0, got " + std::to_string(eps));
  const size_t nc = static_cast<size_t>(d.c);
  const real* px = x.value().data();
  std::vector<double> s(nc), s2(nc);
  std::vector<real> mu(nc);
  simd_dispatch([&, ps = s.data(), ps2 = s2.data(), pmu = mu.data()]() BILEVEL_SIMD_BODY {
    for (int64_t i = 0; i < d.m; ++i) {
      const real* xi = px + i * d.c;
      for (int64_t j = 0; j < d.c; ++j) ps[j] += static_cast<double>(xi[j]);
    }
    for (int64_t k = 0; k < d.c; ++k) pmu[k] = static_cast<real>(ps[k] / static_cast<double>(d.m));
    for (int64_t i = 0; i < d.m; ++i) {
      const real* xi = px + i * d.c;
      for (int64_t j = 0; j < d.c; ++j) {
        const double e = static_cast<double>(xi[j] - pmu[j]);
        ps2[j] += e * e;
      }
    }
  });
  auto rstd = std::make_shared<std::vector<real>>(nc);
  for (size_t k = 0; k < nc; ++k) {
    (*rstd)[k] = static_cast<real>(1.0 / std::sqrt(s2[k] / static_cast<double>(d.m) + static_cast<double>(eps)));
  }
  Tensor y = Tensor::uninitialized(x.shape());
  simd_dispatch([&, py = y.data(), pr = rstd->data(), pmu = mu.data()]() BILEVEL_SIMD_BODY {
    for (int64_t i = 0; i < d.m; ++i) {
      const real* xi = px + i * d.c;
      real* yi = py + i * d.c;
      for (int64_t j = 0; j < d.c; ++j) yi[j] = (xi[j] - pmu[j]) * pr[j];
    }
  });
  return make_op(standardize_op, std::move(y), {x}, StandardizeSaved{std::move(rstd), eps});
}

// ---- per-channel affine map and ReLU in one pass ------------------------------------------------------
// y = max(0, z·γ + β) per channel (batch norm's scale and shift, then the ReLU): one pass instead of three (mul,
// add, relu), and one node instead of three. With m = [y > 0] (the ReLU's subgradient 0 at 0, as relu):
//   ∂/∂z = (g⊙m)·γ,  ∂/∂γ = Σ_rows (g⊙m)⊙z,  ∂/∂β = Σ_rows g⊙m.
// These are ops of the masked family below, each one pass over its inputs with no intermediate tensors. m is
// piecewise constant (no derivative in z, γ, β) and every member is linear in each input, so the derivatives of
// every order stay in the family. u, w are (M, C) like y, v is (C) broadcast over the rows:
//   masked_scale(u, v) = (u⊙m)·v           ∂/∂u = masked_scale(k, v),  ∂/∂v = masked_dot(u, k)
//   masked_dot(u, w)   = Σ_rows (u⊙m)⊙w    ∂/∂u = masked_scale(w, k),  ∂/∂w = masked_scale(u, k)
//   masked_sum(u)      = Σ_rows u⊙m         ∂/∂u = masked_bcast(k)
//   masked_bcast(v)    = m·v                ∂/∂v = masked_sum(k)
// Sums over the rows are in float, in row order (the same bits as mul then sum_to for C > 1).
namespace {
struct MaskSaved {
  Var y;  // the scale_shift_relu node whose positive elements pass
};
// 1 if y > 0 else 0, from bits (the compiler turns a comparison that selects 1 or 0 into a branch per element).
BILEVEL_SIMD_BODY inline real positive_mask(real y) {
#ifdef BILEVEL_DOUBLE
  return std::bit_cast<real>(uint64_t{0x3ff0000000000000ull} & (uint64_t{0} - static_cast<uint64_t>(y > 0)));
#else
  return std::bit_cast<real>(uint32_t{0x3f800000u} & (uint32_t{0} - static_cast<uint32_t>(y > 0)));
#endif
}

Var masked_scale(const Var& u, const Var& v, const Var& y);
Var masked_dot(const Var& u, const Var& w, const Var& y);
Var masked_sum(const Var& u, const Var& y);
Var masked_bcast(const Var& v, const Var& y);

const Var& mask_of(const Var& o);
constexpr Op<MaskSaved> masked_scale_op({.name = "masked_scale", .backward = [](const Var& o, const Var& k, InputGrads& gi) {
                                           const auto& ins = o.node()->inputs;
                                           if (gi.needed(0)) gi[0] = masked_scale(k, ins[1], mask_of(o));
                                           if (gi.needed(1)) gi[1] = masked_dot(ins[0], k, mask_of(o));
                                         }});
constexpr Op<MaskSaved> masked_dot_op({.name = "masked_dot", .backward = [](const Var& o, const Var& k, InputGrads& gi) {
                                         const auto& ins = o.node()->inputs;
                                         if (gi.needed(0)) gi[0] = masked_scale(ins[1], k, mask_of(o));
                                         if (gi.needed(1)) gi[1] = masked_scale(ins[0], k, mask_of(o));
                                       }});
constexpr Op<MaskSaved> masked_sum_op({.name = "masked_sum", .backward = [](const Var& o, const Var& k, InputGrads& gi) {
                                         gi[0] = masked_bcast(k, mask_of(o));
                                       }});
constexpr Op<MaskSaved> masked_bcast_op({.name = "masked_bcast", .backward = [](const Var& o, const Var& k, InputGrads& gi) {
                                           gi[0] = masked_sum(k, mask_of(o));
                                         }});
const Var& mask_of(const Var& o) {
  const OpDef* op = o.node()->op;
  if (op == &masked_scale_op) return masked_scale_op.saved(o).y;
  if (op == &masked_dot_op) return masked_dot_op.saved(o).y;
  if (op == &masked_sum_op) return masked_sum_op.saved(o).y;
  return masked_bcast_op.saved(o).y;
}

void check_masked(const Var& y, const Var* rows, const Var* channels, const char* op) {
  const Channels d = channels_of(y.shape(), op);
  if ((rows && rows->shape() != y.shape()) || (channels && channels->shape() != Shape{d.c})) {
    throw internal_error(std::string(op) + ": operands " + (rows ? rows->shape().str() : std::string()) + " " +
                         (channels ? channels->shape().str() : std::string()) + " for a mask of shape " +
                         y.shape().str());
  }
}

Var masked_scale(const Var& u, const Var& v, const Var& y) {
  check_masked(y, &u, &v, "masked_scale");
  const Channels d = channels_of(y.shape(), "masked_scale");
  Tensor out = Tensor::uninitialized(y.shape());
  simd_dispatch([&, pu = u.value().data(), pv = v.value().data(), py = y.value().data(), po = out.data()]()
                    BILEVEL_SIMD_BODY {
                      for (int64_t i = 0; i < d.m; ++i) {
                        const int64_t r = i * d.c;
                        for (int64_t j = 0; j < d.c; ++j) po[r + j] = pu[r + j] * positive_mask(py[r + j]) * pv[j];
                      }
                    });
  return make_op(masked_scale_op, std::move(out), {u, v}, MaskSaved{y});
}

Var masked_dot(const Var& u, const Var& w, const Var& y) {
  check_masked(y, &u, nullptr, "masked_dot");
  check_masked(y, &w, nullptr, "masked_dot");
  const Channels d = channels_of(y.shape(), "masked_dot");
  Tensor out(Shape{d.c});
  simd_dispatch([&, pu = u.value().data(), pw = w.value().data(), py = y.value().data(), po = out.data()]()
                    BILEVEL_SIMD_BODY {
                      for (int64_t i = 0; i < d.m; ++i) {
                        const int64_t r = i * d.c;
                        for (int64_t j = 0; j < d.c; ++j) po[j] += pu[r + j] * positive_mask(py[r + j]) * pw[r + j];
                      }
                    });
  return make_op(masked_dot_op, std::move(out), {u, w}, MaskSaved{y});
}

Var masked_sum(const Var& u, const Var& y) {
  check_masked(y, &u, nullptr, "masked_sum");
  const Channels d = channels_of(y.shape(), "masked_sum");
  Tensor out(Shape{d.c});
  simd_dispatch([&, pu = u.value().data(), py = y.value().data(), po = out.data()]() BILEVEL_SIMD_BODY {
    for (int64_t i = 0; i < d.m; ++i) {
      const int64_t r = i * d.c;
      for (int64_t j = 0; j < d.c; ++j) po[j] += pu[r + j] * positive_mask(py[r + j]);
    }
  });
  return make_op(masked_sum_op, std::move(out), {u}, MaskSaved{y});
}

Var masked_bcast(const Var& v, const Var& y) {
  check_masked(y, nullptr, &v, "masked_bcast");
  const Channels d = channels_of(y.shape(), "masked_bcast");
  Tensor out = Tensor::uninitialized(y.shape());
  simd_dispatch([&, pv = v.value().data(), py = y.value().data(), po = out.data()]() BILEVEL_SIMD_BODY {
    for (int64_t i = 0; i < d.m; ++i) {
      const int64_t r = i * d.c;
      for (int64_t j = 0; j < d.c; ++j) po[r + j] = positive_mask(py[r + j]) * pv[j];
    }
  });
  return make_op(masked_bcast_op, std::move(out), {v}, MaskSaved{y});
}

// Without a graph (grad disabled: a first-order sweep), the three gradients in one pass over g, with the same
// bits as the three ops: nothing is recorded, so no node needs its own value.
void scale_shift_relu_backward_values(const Var& o, const Var& g, InputGrads& gi) {
  const auto& ins = o.node()->inputs;
  const Channels d = channels_of(o.shape(), "scale_shift_relu");
  const bool want_z = gi.needed(0), want_gamma = gi.needed(1), want_beta = gi.needed(2);
  Tensor gz = want_z ? Tensor::uninitialized(o.shape()) : Tensor();
  Tensor ggamma = want_gamma ? Tensor(Shape{d.c}) : Tensor();
  Tensor gbeta = want_beta ? Tensor(Shape{d.c}) : Tensor();
  const real* __restrict pg = g.value().data();
  const real* __restrict py = o.value().data();
  const real* __restrict pz = ins[0].value().data();
  const real* __restrict pgam = ins[1].value().data();
  real* __restrict pgz = gz.data();
  real* __restrict pgg = ggamma.data();
  real* __restrict pgb = gbeta.data();
  std::vector<real> gm_row(static_cast<size_t>(d.c));
  simd_dispatch([&, gm = gm_row.data(), c = d.c]() BILEVEL_SIMD_BODY {
    for (int64_t i = 0; i < d.m; ++i) {
      const real* g_row = pg + i * c;
      const real* y_row = py + i * c;
      for (int64_t j = 0; j < c; ++j) gm[j] = g_row[j] * positive_mask(y_row[j]);
      if (want_z)
        for (int64_t j = 0; j < c; ++j) pgz[i * c + j] = gm[j] * pgam[j];
      if (want_gamma)
        for (int64_t j = 0; j < c; ++j) pgg[j] += gm[j] * pz[i * c + j];
      if (want_beta)
        for (int64_t j = 0; j < c; ++j) pgb[j] += gm[j];
    }
  });
  if (want_z) gi[0] = constant(std::move(gz));
  if (want_gamma) gi[1] = constant(std::move(ggamma));
  if (want_beta) gi[2] = constant(std::move(gbeta));
}

constexpr Op<> scale_shift_relu_op(
    {.name = "scale_shift_relu", .backward = [](const Var& o, const Var& g, InputGrads& gi) {
       if (!grad_enabled()) return scale_shift_relu_backward_values(o, g, gi);
       const auto& ins = o.node()->inputs;
       if (gi.needed(0)) gi[0] = masked_scale(g, ins[1], o);
       if (gi.needed(1)) gi[1] = masked_dot(g, ins[0], o);
       if (gi.needed(2)) gi[2] = masked_sum(g, o);
     }});
}  // namespace

Var scale_shift_relu(const Var& z, const Var& gamma, const Var& beta) {
  const Channels d = channels_of(z.shape(), "scale_shift_relu");
  if (gamma.shape() != Shape{d.c} || beta.shape() != Shape{d.c}) {
    throw internal_error("scale_shift_relu: gamma " + gamma.shape().str() + " and beta " + beta.shape().str() +
                         " must both be (" + std::to_string(d.c) + ",) for input " + z.shape().str());
  }
  Tensor y = Tensor::uninitialized(z.shape());
  const real* __restrict pz = z.value().data();
  const real* __restrict pg = gamma.value().data();
  const real* __restrict pb = beta.value().data();
  real* __restrict py = y.data();
  simd_dispatch([&]() BILEVEL_SIMD_BODY {
    for (int64_t i = 0; i < d.m; ++i) {
      const real* zi = pz + i * d.c;
      real* yi = py + i * d.c;
      for (int64_t j = 0; j < d.c; ++j) {
        const real u = zi[j] * pg[j];  // rounded as mul then add (no contraction: the composite's bits)
        const real v = u + pb[j];
        yi[j] = std::max(real(0), v);  // v > 0 ? v : 0, as relu (NaN → 0)
      }
    }
  });
  return make_op(scale_shift_relu_op, std::move(y), {z, gamma, beta});
}

Var batch_norm_relu(const Var& x, const Var& gamma, const Var& beta, real eps) {
  return scale_shift_relu(batch_standardize(x, eps), gamma, beta);
}

}  // namespace bilevel::ad
