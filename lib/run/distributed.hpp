#pragma once
// `train` across processes: `mpirun -np N bilevel-opt train …` (sys/mpi.hpp is the transport).
//
// Rank 0 runs the outer loop exactly as one process does and owns the run directory and the outer optimizer;
// ranks 1…N−1 write nothing and serve its steps. Each outer step rank 0 sends λ, the step and the estimator's
// state (as saved between steps); the step's work items are split into N contiguous blocks, one per rank;
// every rank estimates its block (with its own oneTBB threads) and rank 0 gathers the items and rebuilds each
// task's result in task order. The items are the meta-batch's tasks, or, when there are fewer tasks than ranks
// and the estimator splits (Estimator::parts: sgld's chains), the (task, part) pairs. Every item is a pure
// function of (seed, step, task[, part]) and λ, results travel with their exact bits, and the reduction is the
// one of one process (reduce_meta_batch), so the run's files are bit-identical for any ranks × threads.
//
// Faults: a rank whose estimate fails sends its message and rank 0 ends the run with status "error" naming
// it. A rank that dies makes mpirun stop the others with SIGTERM (and SIGKILL a moment later): rank 0 then
// pings every rank, and a rank that does not answer within 0.4 s ends the run as an error naming it; when all
// answer, the stop was asked for and the run ends "interrupted" with a checkpoint of the last finished step.
// Computation runs on a thread of its own on every rank, so the polling thread answers at once even mid-step;
// a step abandoned that way is left running and the process ends with mpi::exit_now.
#include <atomic>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "hypergrad/estimator.hpp"
#include "run/train_config.hpp"

namespace bilevel {

// A distributed step that cannot finish: status "interrupted" (a stop signal, every rank alive) or "error"
// (what() names the rank that failed or was lost).
struct step_abandoned : std::runtime_error {
  std::string status;
  step_abandoned(std::string st, const std::string& message) : std::runtime_error(message), status(std::move(st)) {}
};

// Outer step `step` at λ: estimator.begin_step(step), then every task's result into `results` (meta-batch
// size, task order). One process: estimate_tasks. Rank 0 of several: as above; throws step_abandoned, or
// rethrows what its own share threw. `stop` (may be null) is watched while the ranks work.
void estimate_meta_batch(const Problem& problem, Estimator& estimator, const Tensor& lambda, uint64_t seed,
                         int64_t step, std::vector<HypergradResult>& results, const std::atomic<bool>* stop);

// Rank 0 of several, after its steps: per outer step of this session, the mean wall time of the distributed
// estimate (`step_seconds`: sending λ and the state, every rank's share, gathering, rebuilding the results),
// of the slowest rank's share (`compute_seconds`), their difference (`overhead_seconds`: communication and
// waiting), and the bytes rank 0 sent and received; null in one process. result.json's "distributed" (timing:
// it varies from run to run like "seconds").
nlohmann::json distributed_stats();

// Rank 0, before its run writes anything: waits until every other rank has built the problem and the
// estimator. Throws option_error "rank R: …" for a rank that could not, io_error when a stop signal comes
// first. No-op in one process.
void wait_for_ranks(const std::atomic<bool>* stop);

// Rank 0 after a stop signal: "" when every rank answers a ping in time, else a message naming the lost ranks.
std::string lost_ranks();

// Ranks 1…N−1 of `train`: build the problem and the estimator, report to rank 0 and serve its steps until it
// ends the run; returns the exit code rank 0 ended with (the run's messages are rank 0's to print).
int serve_train_rank(const ResolvedRun& run, const std::atomic<bool>* stop);

// Whether this process left a distributed step's computation running (after step_abandoned): what it uses
// must then live until the process ends.
bool step_work_abandoned();

// A rank ≥ 1 whose command failed before serving (bad options, unreadable files): sends `text` to rank 0, which
// reports it as this rank's setup failure (or has failed the same way and ends the job), waits until rank 0 ends
// the run (at most 30 s), and returns `code`.
int report_to_rank0(const std::string& text, int code);

// How a process of a (possibly distributed) program ends with `code`: in one process, returns it. Rank 0
// tells the other ranks to end with it; ranks finalize MPI after a successful run, and otherwise (or when a
// step was abandoned) end at once (mpi::exit_now).
int end_process(int code);

}  // namespace bilevel
