#include "run/distributed.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "base/bytes.hpp"
#include "run/meta_batch.hpp"
#include "run/run_state.hpp"
#include "sys/host.hpp"
#include "sys/mpi.hpp"
#include "sys/process.hpp"
#include "tensor/tensor_bytes.hpp"

namespace bilevel {

namespace mpi = sys::mpi;
using clock_type = std::chrono::steady_clock;

namespace {

// Message tags. setup, result, pong: rank → 0; step, ping, end: 0 → rank.
enum Tag : int { tag_setup = 11, tag_step = 12, tag_result = 13, tag_ping = 14, tag_pong = 15, tag_end = 16 };

constexpr auto poll_pause = std::chrono::microseconds(100);
constexpr auto ping_wait = std::chrono::milliseconds(400);
constexpr auto orphan_wait = std::chrono::seconds(5);  // a rank that got a stop signal and never hears from 0

// How a step's work is cut: `items` items, rank r computes [block(r).first, block(r).second).
struct WorkPlan {
  int64_t tasks = 0, parts = 1;
  bool split = false;  // items are (task, part) pairs, item k = task k / parts, part k % parts
  int64_t items = 0;

  WorkPlan(int64_t tasks_, int64_t parts_, int ranks) : tasks(tasks_), parts(parts_) {
    split = parts > 1 && tasks < ranks;
    items = split ? tasks * parts : tasks;
  }
  std::pair<int64_t, int64_t> block(int r, int ranks) const {
    return {items * r / ranks, items * (r + 1) / ranks};
  }
};

void put_result(ByteWriter& w, const HypergradResult& r) {
  put_tensor(w, r.grad);
  w.put(r.outer_loss);
  w.put(r.grad_evals);
  w.put(r.hvps);
  w.put(r.cost);
  w.put(r.peak_bytes);
  w.put<uint64_t>(r.extras.size());
  for (const auto& [k, v] : r.extras) w.put_string(k), w.put(v);
  w.put<uint64_t>(r.carry.size());
  for (const Tensor& t : r.carry) put_tensor(w, t);
}

HypergradResult get_result(ByteReader& rd) {
  HypergradResult r;
  r.grad = get_tensor(rd);
  r.outer_loss = rd.get<double>();
  r.grad_evals = rd.get<int64_t>();
  r.hvps = rd.get<int64_t>();
  r.cost = rd.get<double>();
  r.peak_bytes = rd.get<int64_t>();
  const auto n_extras = rd.get<uint64_t>();
  BILEVEL_CHECK(n_extras < 100000, "message: too many extras");
  for (uint64_t i = 0; i < n_extras; ++i) {
    std::string k = rd.get_string();
    r.extras.emplace_back(std::move(k), rd.get<double>());
  }
  const auto n_carry = rd.get<uint64_t>();
  BILEVEL_CHECK(n_carry < 1000000, "message: too many carried tensors");
  for (uint64_t i = 0; i < n_carry; ++i) r.carry.push_back(get_tensor(rd));
  return r;
}

void put_state(ByteWriter& w, const EstimatorState& s) {
  w.put<uint64_t>(s.tensors.size());
  for (const auto& [k, t] : s.tensors) w.put_string(k), put_tensor(w, t);
  w.put<uint64_t>(s.scalars.size());
  for (const auto& [k, v] : s.scalars) w.put_string(k), w.put(v);
}

EstimatorState get_state(ByteReader& rd) {
  EstimatorState s;
  const auto nt = rd.get<uint64_t>();
  BILEVEL_CHECK(nt < 1000000, "message: too many state tensors");
  for (uint64_t i = 0; i < nt; ++i) {
    std::string k = rd.get_string();
    s.tensors.emplace_back(std::move(k), get_tensor(rd));
  }
  const auto ns = rd.get<uint64_t>();
  BILEVEL_CHECK(ns < 1000000, "message: too many state scalars");
  for (uint64_t i = 0; i < ns; ++i) {
    std::string k = rd.get_string();
    s.scalars.emplace_back(std::move(k), rd.get<double>());
  }
  return s;
}

std::string error_text(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const internal_error& x) {
    return std::string("internal error: ") + x.what();
  } catch (const std::bad_alloc&) {
    return "out of memory";
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

// Items [first, last) of the plan at λ, each as bytes: a task's encoded result, or a part's bytes.
std::vector<std::string> compute_items(const Problem& problem, const Estimator& estimator, const Tensor& lambda,
                                       uint64_t seed, int64_t step, const WorkPlan& plan, int64_t first, int64_t last) {
  std::vector<std::string> out(static_cast<size_t>(last - first));
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(first, last, 1),
      [&](const tbb::blocked_range<int64_t>& range) {
        for (int64_t k = range.begin(); k != range.end(); ++k) {
          const int64_t task_index = plan.split ? k / plan.parts : k;
          Rng rng(seed, {stream_task, static_cast<uint64_t>(step), static_cast<uint64_t>(task_index)});
          Task task = problem.sample_task(rng);
          std::string& bytes = out[static_cast<size_t>(k - first)];
          if (plan.split) {
            bytes = estimator.estimate_part(problem, lambda, task, rng, k % plan.parts);
          } else {
            ByteWriter w;
            put_result(w, estimator.estimate(problem, lambda, task, rng));
            bytes = w.take();
          }
        }
      },
      tbb::simple_partitioner());
  return out;
}

// Every task's result from every item's bytes (item order).
void assemble(const Problem& problem, const Estimator& estimator, const Tensor& lambda, uint64_t seed, int64_t step,
              const WorkPlan& plan, const std::vector<std::string>& items, std::vector<HypergradResult>& results) {
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, plan.tasks, 1),
      [&](const tbb::blocked_range<int64_t>& range) {
        for (int64_t i = range.begin(); i != range.end(); ++i) {
          if (!plan.split) {
            ByteReader rd(items[static_cast<size_t>(i)]);
            results[static_cast<size_t>(i)] = get_result(rd);
            BILEVEL_CHECK(rd.done(), "message: a task result is longer than its fields");
            continue;
          }
          Rng rng(seed, {stream_task, static_cast<uint64_t>(step), static_cast<uint64_t>(i)});
          Task task = problem.sample_task(rng);
          const auto b = items.begin() + static_cast<std::ptrdiff_t>(i * plan.parts);
          const std::vector<std::string> parts(b, b + static_cast<std::ptrdiff_t>(plan.parts));
          results[static_cast<size_t>(i)] = estimator.combine_parts(problem, lambda, task, rng, parts);
        }
      },
      tbb::simple_partitioner());
}

// A rank's own share of a step, computed on a thread of its own. Shared with that thread, so a share that is
// abandoned (the process is about to end) can keep running without touching freed memory.
struct Share {
  Tensor lambda;
  std::vector<std::string> items;
  double seconds = 0;  // compute time of the share
  std::exception_ptr error;
  std::atomic<bool> done{false};
  std::thread thread;
};

// What rank 0 measured of this session's distributed steps (distributed_stats).
struct Stats {
  int64_t steps = 0, bytes = 0;
  double step_seconds = 0, compute_seconds = 0;
};
Stats g_stats;

std::mutex g_abandoned_mutex;
std::vector<std::shared_ptr<Share>> g_abandoned;

void abandon(const std::shared_ptr<Share>& share) {
  share->thread.detach();
  std::lock_guard<std::mutex> lock(g_abandoned_mutex);
  g_abandoned.push_back(share);
}

std::shared_ptr<Share> start_share(const Problem& problem, const Estimator& estimator, const Tensor& lambda,
                                   uint64_t seed, int64_t step, const WorkPlan& plan, int rank, bool fault_point) {
  auto share = std::make_shared<Share>();
  share->lambda = lambda;
  const auto [first, last] = plan.block(rank, mpi::size());
  // The problem and the estimator outlive an abandoned share: a process that abandons one ends without
  // destroying them (end_process).
  share->thread = std::thread([share, &problem, &estimator, seed, step, plan, first = first, last = last, fault_point] {
    const auto t0 = clock_type::now();
    try {
      if (fault_point) BILEVEL_FAULT_POINT("rank_step");
      share->items = compute_items(problem, estimator, share->lambda, seed, step, plan, first, last);
    } catch (...) {
      share->error = std::current_exception();
    }
    share->seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    share->done.store(true);
  });
  return share;
}

// Where each rank runs (from its setup message): a rank on this host whose process is gone is known lost at
// once, without waiting out a ping (mpirun kills the survivors about a second after a rank dies).
struct RankPlace {
  int64_t pid = 0;
  std::string host;
};
std::vector<RankPlace> g_places;

bool known_dead(int r) {
  if (static_cast<size_t>(r) >= g_places.size()) return false;
  const RankPlace& p = g_places[static_cast<size_t>(r)];
  return p.pid > 0 && p.host == sys::host_name() && !sys::process_exists(static_cast<int>(p.pid));
}

// A rank's setup report: ok (failure empty) or its failure, and where it runs.
std::string setup_message(const std::string& failure) {
  ByteWriter w;
  w.put<uint8_t>(failure.empty() ? 1 : 0);
  w.put_string(failure);
  w.put<int64_t>(static_cast<int64_t>(::getpid()));
  w.put_string(sys::host_name());
  return w.take();
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

// The worker side: everything a rank ≥ 1 keeps while it serves.
struct Server {
  const std::atomic<bool>* stop;
  std::optional<int> end_code;
  std::optional<clock_type::time_point> stop_seen;

  // Answers a ping, notes an end; returns true when the rank should stop what it is doing (end received).
  bool service() {
    while (mpi::try_receive(0, tag_ping)) (void)mpi::send(0, tag_pong, "", [this] { return ended(); });
    return ended();
  }
  bool ended() {
    if (!end_code) {
      if (auto m = mpi::try_receive(0, tag_end)) {
        ByteReader rd(m->bytes);
        end_code = rd.get<int32_t>();
      }
    }
    if (!end_code && stop != nullptr && stop->load()) {
      if (!stop_seen) stop_seen = clock_type::now();
      if (clock_type::now() - *stop_seen > orphan_wait) end_code = 4;  // rank 0 is gone and nobody killed us
    }
    return end_code.has_value();
  }
  bool send_to_root(int tag, const std::string& bytes) {
    return mpi::send(0, tag, bytes, [this] { return service(); });
  }
};

}  // namespace

bool step_work_abandoned() {
  std::lock_guard<std::mutex> lock(g_abandoned_mutex);
  return !g_abandoned.empty();
}

void estimate_meta_batch(const Problem& problem, Estimator& estimator, const Tensor& lambda, uint64_t seed,
                         int64_t step, std::vector<HypergradResult>& results, const std::atomic<bool>* stop) {
  if (!mpi::distributed()) {
    estimator.begin_step(step);
    estimate_tasks(problem, estimator, lambda, seed, step, 0, results);
    return;
  }
  const int ranks = mpi::size();
  const auto t0 = clock_type::now();
  ByteWriter w;
  w.put(step);
  w.put(seed);
  w.put<int64_t>(static_cast<int64_t>(results.size()));
  put_tensor(w, lambda);
  put_state(w, estimator.save_state());  // as between steps: every rank calls begin_step itself
  estimator.begin_step(step);
  const WorkPlan plan(static_cast<int64_t>(results.size()), estimator.parts(), ranks);
  const auto stopping = [stop] { return stop != nullptr && stop->load(); };

  std::shared_ptr<Share> share;
  auto give_up = [&](const std::string& status, const std::string& message) {
    if (share) abandon(share);
    throw step_abandoned(status, message);
  };
  auto on_stop = [&] {
    const std::string lost = lost_ranks();
    give_up(lost.empty() ? "interrupted" : "error", lost);
  };
  for (int r = 1; r < ranks; ++r) {
    if (!mpi::send(r, tag_step, w.bytes(), stopping)) {
      if (stopping()) on_stop();
      give_up("error", "rank " + std::to_string(r) + " cannot be reached");
    }
  }
  share = start_share(problem, estimator, lambda, seed, step, plan, 0, false);

  std::vector<std::string> items(static_cast<size_t>(plan.items));
  double slowest = 0;  // the longest compute time of any rank's share
  int64_t bytes = static_cast<int64_t>(w.bytes().size()) * (ranks - 1);
  int waiting = ranks - 1;
  while (waiting > 0 || !share->done.load()) {
    bool idle = true;
    while (auto m = mpi::try_receive(mpi::any_source, tag_result)) {
      idle = false;
      ByteReader rd(m->bytes);
      BILEVEL_CHECK(rd.get<int64_t>() == step, "rank " + std::to_string(m->source) + " answered another step");
      if (rd.get<uint8_t>() == 0) give_up("error", "rank " + std::to_string(m->source) + ": " + rd.get_string());
      slowest = std::max(slowest, rd.get<double>());
      bytes += static_cast<int64_t>(m->bytes.size());
      const auto [first, last] = plan.block(m->source, ranks);
      BILEVEL_CHECK(rd.get<uint64_t>() == static_cast<uint64_t>(last - first), "rank sent another number of items");
      for (int64_t k = first; k < last; ++k) items[static_cast<size_t>(k)] = rd.get_string();
      --waiting;
    }
    if (stopping()) on_stop();
    if (idle) std::this_thread::sleep_for(poll_pause);
  }
  share->thread.join();
  if (share->error) std::rethrow_exception(share->error);
  const auto [first, last] = plan.block(0, ranks);
  for (int64_t k = first; k < last; ++k) items[static_cast<size_t>(k)] = std::move(share->items[static_cast<size_t>(k - first)]);
  assemble(problem, estimator, lambda, seed, step, plan, items, results);
  g_stats.steps += 1;
  g_stats.bytes += bytes;
  g_stats.step_seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
  g_stats.compute_seconds += std::max(slowest, share->seconds);
}

nlohmann::json distributed_stats() {
  if (!mpi::distributed() || g_stats.steps == 0) return nullptr;
  const auto steps = static_cast<double>(g_stats.steps);
  return {{"ranks", mpi::size()},
          {"steps", g_stats.steps},
          {"step_seconds", g_stats.step_seconds / steps},
          {"compute_seconds", g_stats.compute_seconds / steps},
          {"overhead_seconds", (g_stats.step_seconds - g_stats.compute_seconds) / steps},
          {"bytes", g_stats.bytes / g_stats.steps}};
}

void wait_for_ranks(const std::atomic<bool>* stop) {
  if (!mpi::distributed()) return;
  std::vector<bool> ready(static_cast<size_t>(mpi::size()), false);
  g_places.assign(static_cast<size_t>(mpi::size()), RankPlace{});
  int waiting = mpi::size() - 1;
  while (waiting > 0) {
    while (auto m = mpi::try_receive(mpi::any_source, tag_setup)) {
      ByteReader rd(m->bytes);
      const bool ok = rd.get<uint8_t>() != 0;
      const std::string message = rd.get_string();
      RankPlace& place = g_places[static_cast<size_t>(m->source)];
      place.pid = rd.get<int64_t>();
      place.host = rd.get_string();
      if (!ok) throw option_error("rank " + std::to_string(m->source) + ": " + message);
      ready[static_cast<size_t>(m->source)] = true;
      --waiting;
    }
    if (stop != nullptr && stop->load()) {
      std::vector<int> missing;
      for (int r = 1; r < mpi::size(); ++r)
        if (!ready[static_cast<size_t>(r)]) missing.push_back(r);
      throw io_error("stopped while waiting for " + rank_list(missing) +
                     " to set up (a stop signal, or the rank ended: see mpirun's messages)");
    }
    std::this_thread::sleep_for(poll_pause);
  }
}

std::string lost_ranks() {
  if (!mpi::distributed()) return "";
  const int ranks = mpi::size();
  const auto deadline = clock_type::now() + ping_wait;
  const auto late = [&] { return clock_type::now() > deadline; };
  for (int r = 1; r < ranks; ++r) (void)mpi::send(r, tag_ping, "", late);
  std::vector<bool> alive(static_cast<size_t>(ranks), false), dead(alive);
  int waiting = ranks - 1;
  while (waiting > 0 && !late()) {
    while (auto m = mpi::try_receive(mpi::any_source, tag_pong)) {
      if (!alive[static_cast<size_t>(m->source)]) --waiting;
      alive[static_cast<size_t>(m->source)] = true;
    }
    for (int r = 1; r < ranks; ++r) {
      if (!alive[static_cast<size_t>(r)] && !dead[static_cast<size_t>(r)] && known_dead(r)) {
        dead[static_cast<size_t>(r)] = true;
        --waiting;
      }
    }
    // A rank may be in the middle of sending its step's result: take it, so it can answer.
    while (mpi::try_receive(mpi::any_source, tag_result)) {
    }
    std::this_thread::sleep_for(poll_pause);
  }
  std::vector<int> lost;
  for (int r = 1; r < ranks; ++r)
    if (!alive[static_cast<size_t>(r)]) lost.push_back(r);
  if (lost.empty()) return "";
  return rank_list(lost) + " of " + std::to_string(ranks) + " stopped responding (failed or killed; mpirun's "
         "messages say how)";
}

int serve_train_rank(const ResolvedRun& run, const std::atomic<bool>* stop) {
  const TrainParams& p = run.params;
  tbb::global_control threads_ctl(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(p.threads));
  Server server{stop, std::nullopt, std::nullopt};
  // Built once and never destroyed before the process ends (an abandoned share may still use them).
  static std::unique_ptr<Problem> problem;
  static std::unique_ptr<Estimator> estimator;
  {
    std::string failure;
    try {
      problem = find_problem(p.problem).make(run.problem_opts, static_cast<uint64_t>(run.run_opts.get_int("instance_seed")));
      estimator = make_estimator(find_method(p.method), run.method_opts, *problem);
    } catch (...) {
      failure = error_text(std::current_exception());
      problem.reset();
    }
    (void)server.send_to_root(tag_setup, setup_message(failure));
  }
  std::shared_ptr<Share> share;
  int64_t share_step = 0;
  while (true) {
    bool idle = true;
    if (server.service()) {
      if (share && !share->done.load()) abandon(share);
      return *server.end_code;
    }
    if (!share && problem) {
      if (auto m = mpi::try_receive(0, tag_step)) {
        idle = false;
        ByteReader rd(m->bytes);
        share_step = rd.get<int64_t>();
        const auto seed = rd.get<uint64_t>();
        const auto tasks = rd.get<int64_t>();
        const Tensor lambda = get_tensor(rd);
        const EstimatorState state = get_state(rd);
        try {
          estimator->load_state(state);
          estimator->begin_step(share_step);
          const WorkPlan plan(tasks, estimator->parts(), mpi::size());
          share = start_share(*problem, *estimator, lambda, seed, share_step, plan, mpi::rank(), true);
        } catch (...) {  // reported like a failed estimate
          share = std::make_shared<Share>();
          share->error = std::current_exception();
          share->done.store(true);
        }
      }
    }
    if (share && share->done.load()) {
      idle = false;
      share->thread.join();
      ByteWriter w;
      w.put(share_step);
      if (share->error) {
        w.put<uint8_t>(0);
        w.put_string(error_text(share->error));
      } else {
        w.put<uint8_t>(1);
        w.put(share->seconds);
        w.put<uint64_t>(share->items.size());
        for (const std::string& item : share->items) w.put_string(item);
      }
      share.reset();
      (void)server.send_to_root(tag_result, w.bytes());
    }
    if (idle) std::this_thread::sleep_for(poll_pause);
  }
}

int report_to_rank0(const std::string& text, int code) {
  if (!mpi::distributed() || mpi::rank() == 0) return code;
  const std::string prefix = "error: ";
  const std::string failure = text.rfind(prefix, 0) == 0 ? text.substr(prefix.size()) : text;
  Server server{nullptr, std::nullopt, std::nullopt};
  (void)server.send_to_root(tag_setup, setup_message(failure.empty() ? "failed" : failure));
  const auto deadline = clock_type::now() + std::chrono::seconds(30);
  while (!server.service() && clock_type::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return code;
}

int end_process(int code) {
  if (!mpi::distributed()) {
    if (step_work_abandoned()) mpi::exit_now(code);
    mpi::finalize();  // mpirun -np 1: MPI was started
    return code;
  }
  if (mpi::rank() == 0) {
    ByteWriter w;
    w.put<int32_t>(code);
    const auto deadline = clock_type::now() + std::chrono::seconds(2);
    for (int r = 1; r < mpi::size(); ++r) (void)mpi::send(r, tag_end, w.bytes(), [&] { return clock_type::now() > deadline; });
  }
  if (code != 0 || step_work_abandoned()) mpi::exit_now(code);
  mpi::finalize();
  return code;
}

}  // namespace bilevel
