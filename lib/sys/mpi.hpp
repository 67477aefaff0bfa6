#pragma once
// The message layer of runs that span processes (`mpirun -np N bilevel-opt train …`): Open MPI when the binary
// was built with it (CMake BILEVEL_MPI) and launched by mpirun, else one process of one rank. Everything that
// talks MPI goes through here; run/distributed.hpp builds the run's protocol on top.
//
// Only the thread that called init() may call the functions below (MPI_THREAD_FUNNELED): computation runs on
// other threads while this one polls, so a rank stays responsive (pings, stop signals) during a long step.
// Every wait is a poll: a send or receive never blocks without looking at a caller's give-up condition, so a
// lost peer cannot hang the program.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace bilevel::sys::mpi {

// Whether this binary was built with MPI.
bool compiled();

// Starts MPI when this process was launched by an MPI launcher (mpirun/mpiexec, or srun with PMI/PMIx);
// otherwise this process is rank 0 of 1 and nothing else happens. A binary built without MPI that finds itself
// launched as one of several ranks throws usage_error (it would run the whole experiment once per rank).
void init(int& argc, char**& argv);

int rank();  // 0 when not distributed
int size();  // 1 when not distributed
inline bool distributed() { return size() > 1; }

struct Message {
  int source = 0;
  int tag = 0;
  std::string bytes;
};

constexpr int any_source = -1;

// A message with `tag` from `source` (any_source: any rank) if one has arrived, without blocking.
std::optional<Message> try_receive(int source, int tag);

// Sends `bytes` to rank `dest`, polling until it is on its way; returns false when `give_up` (may be empty)
// says so first or MPI reports the peer unreachable. The bytes are copied: the caller's buffer is free at once.
bool send(int dest, int tag, std::string_view bytes, const std::function<bool()>& give_up = {});

// Ends MPI normally (every rank must call it) and leaves the process running; a no-op when not distributed.
void finalize();

// Ends this process at once with `code` after flushing stdout and stderr, without MPI_Finalize: for a rank
// whose peers may be gone or busy (mpirun then ends the job). Work still running on other threads is dropped.
[[noreturn]] void exit_now(int code);

}  // namespace bilevel::sys::mpi
