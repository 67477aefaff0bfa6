#include "hypergrad/memory_model.hpp"

#include <algorithm>
#include <cstdio>

#include "hypergrad/estimator.hpp"
#include "hypergrad/single_loop.hpp"
#include "hypergrad/unroll.hpp"
#include "sys/host.hpp"

namespace bilevel {

namespace {
constexpr uint64_t kMemoryProbeStream = 0x6d656d70726f6265ULL;  // "memprobe": the probe's λ₀ and task
}  // namespace

MemorySizes probe_memory_sizes(const Problem& p, int64_t threads, int64_t meta_batch, bool second_order, int64_t batch,
                               int64_t outer_batch) {
  MemorySizes z;
  z.P = p.theta_dim();
  z.H = p.lambda_dim();
  z.r = p.inner().steps;
  z.n = p.inner_examples();
  z.m = p.outer_examples();
  z.lambda_in_outer = p.lambda_in_outer_loss();
  z.threads = std::max<int64_t>(1, threads);
  z.tasks = std::max<int64_t>(1, std::min(meta_batch, z.threads));
  Rng rng(0, {kMemoryProbeStream});
  const Tensor lambda = p.init_lambda(rng);
  const Task task = p.sample_task(rng);
  const Tensor theta = theta0_value(p, lambda, task).reshaped(Shape{z.P});
  HypergradResult cost;
  std::vector<int64_t> rows;
  if (batch > 0 && z.n > 0)
    for (int64_t i = 0; i < std::min(batch, z.n); ++i) rows.push_back(i);
  const std::vector<int64_t>* minibatch = rows.empty() ? nullptr : &rows;
  {
    PeakMeter meter;
    const Tensor g = minibatch ? linearize(p, theta, lambda, task, {.create_graph = false, .batch = minibatch}).grad.value()
                               : inner_grad(p, theta, lambda, task, cost);
    z.grad_bytes = meter.peak();
  }
  {
    PeakMeter meter;
    const OuterGrad og = counted_outer_grad(p, theta, lambda, task, cost,
                                            block_batch(z.m, outer_batch > 0 && z.m > 0 ? std::min(outer_batch, z.m) : 0, 0));
    z.outer_grad_bytes = meter.peak();
  }
  if (second_order) {
    PeakMeter meter;
    const int64_t before = MemoryMeter::live_bytes();
    const Linearization lin = linearize(p, theta, lambda, task, {.batch = minibatch});
    z.lin_bytes = MemoryMeter::live_bytes() - before;
    Tensor v(Shape{z.P}, real(1));
    Tensor g_lambda(Shape{z.H});
    adjoint_step(lin, p.inner().lr, v, g_lambda, cost);
    z.lin_peak_bytes = meter.peak();
  }
  return z;
}

double unroll_base_bytes(const MemorySizes& z) {
  return static_cast<double>(z.real_bytes) * (3.0 * static_cast<double>(z.P) + 2.0 * static_cast<double>(z.H));
}

MemoryModel method_memory(const MethodInfo& method, const Options& opts, const MemorySizes& z) {
  if (!method.memory) return {};
  MemoryModel m = method.memory(opts, z);
  if (z.tasks > 1) {
    m.bytes *= static_cast<double>(z.tasks);
    m.formula = std::to_string(z.tasks) + "·(" + m.formula + ")";
  }
  m.bytes += 4.0 * static_cast<double>(z.real_bytes) * static_cast<double>(z.H);
  m.formula += " + 4·H·s";
  return m;
}

nlohmann::json check_method_memory(const MethodInfo& method, const Options& method_opts, const Problem& problem,
                                   int64_t threads, int64_t meta_batch, double limit_gib) {
  if (limit_gib == 0 || !method.memory) return nullptr;
  const double held = static_cast<double>(std::max<int64_t>(0, sys::current_rss_bytes()));  // before the probe
  // The second-order probe (a linearization and a product, L+ bytes) only for a model that depends on L or L+:
  // for fo it would hold more than the run itself and raise the run's peak RSS.
  // A method with minibatch oracles (the stochastic solvers' batch_size) is probed on a minibatch of that size.
  const int64_t batch = method_opts.has("batch_size") ? method_opts.get_int("batch_size") : 0;
  const int64_t outer_batch = method_opts.has("outer_batch_size") ? method_opts.get_int("outer_batch_size") : 0;
  MemorySizes z = probe_memory_sizes(problem, threads, meta_batch, false, batch, outer_batch);
  MemorySizes z1 = z;
  z1.lin_bytes = z1.lin_peak_bytes = int64_t{1} << 40;
  if (method_memory(method, method_opts, z1).bytes != method_memory(method, method_opts, z).bytes) {
    z = probe_memory_sizes(problem, threads, meta_batch, true, batch, outer_batch);
  }
  const MemoryModel model = method_memory(method, method_opts, z);
  double needed = model.bytes, limit = 0;
  std::string source;
  if (limit_gib < 0) {
    const int64_t avail = sys::available_memory_bytes();
    limit = avail < 0 ? 1e300 : static_cast<double>(avail);
    source = "the memory available now (MemAvailable " + bytes_text(limit) + ")";
  } else {
    needed += held;
    limit = limit_gib * 1024.0 * 1024.0 * 1024.0;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", limit_gib);
    source = std::string("max_memory = ") + buf + " GiB (with the " + bytes_text(held) + " the process holds now)";
  }
  const std::string why = memory_refusal(method.name, model, z, needed, limit, source);
  if (!why.empty()) throw option_error(why);
  return {{"bytes", model.bytes}, {"formula", model.formula}, {"P", z.P}, {"H", z.H}, {"r", z.r}, {"n", z.n}, {"m", z.m},
          {"G", z.grad_bytes}, {"F", z.outer_grad_bytes}, {"L", z.lin_bytes}, {"L_plus", z.lin_peak_bytes}, {"threads", z.threads},
          {"tasks_at_once", z.tasks},
          // The memory free at the start is a fact of the machine, not of the run: "available", so that a rerun
          // gives the same result.json (timing fields aside).
          {"limit", limit_gib < 0 ? nlohmann::json("available") : nlohmann::json(limit)}};
}

std::string bytes_text(double b) {
  char buf[64];
  if (b < 1024) {
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  } else if (b < 1024.0 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024);
  } else if (b < 1024.0 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  }
  return buf;
}

std::string memory_refusal(const std::string& method, const MemoryModel& model, const MemorySizes& z,
                           double needed_bytes, double limit_bytes, const std::string& limit_source) {
  if (model.formula.empty() || needed_bytes <= limit_bytes) return "";
  std::string msg = "method '" + method + "' would need about " + bytes_text(needed_bytes) + ", above " +
                    limit_source + ": its memory model " + model.formula + " = " + bytes_text(model.bytes) +
                    " with P = " + std::to_string(z.P) + ", H = " + std::to_string(z.H) + ", r = " +
                    std::to_string(z.r) +
                    (z.n > 0 || z.m > 0 ? ", n = " + std::to_string(z.n) + ", m = " + std::to_string(z.m) : "") +
                    ", s = " + std::to_string(z.real_bytes) + " B, G = " +
                    bytes_text(static_cast<double>(z.grad_bytes)) + ", F = " +
                    bytes_text(static_cast<double>(z.outer_grad_bytes)) + ", L = " +
                    bytes_text(static_cast<double>(z.lin_bytes)) + ", L+ = " +
                    bytes_text(static_cast<double>(z.lin_peak_bytes)) + " (README 'Scale' and hypergrad/memory_model.hpp define them)";
  if (!model.advice.empty()) msg += "; " + model.advice;
  return msg + "; or set max_memory (GiB, 0 = no check)";
}

}  // namespace bilevel
