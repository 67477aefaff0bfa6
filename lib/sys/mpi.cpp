#include "sys/mpi.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "base/errors.hpp"

#ifdef BILEVEL_WITH_MPI
#include <mpi.h>
#endif

namespace bilevel::sys::mpi {

namespace {

// The world size an MPI launcher announced in the environment (0: not launched by one).
long launcher_world_size() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v != '\0') return std::strtol(v, nullptr, 10);
  }
  return std::getenv("PMIX_RANK") != nullptr ? 1 : 0;
}

int g_rank = 0;
int g_size = 1;
[[maybe_unused]] bool g_started = false;

}  // namespace

int rank() { return g_rank; }
int size() { return g_size; }

[[noreturn]] void exit_now(int code) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  ::_exit(code);
}

#ifdef BILEVEL_WITH_MPI

bool compiled() { return true; }

void init(int& argc, char**& argv) {
  if (g_started || launcher_world_size() == 0) return;
  int provided = 0;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    throw io_error("MPI_Init_thread failed");
  }
  g_started = true;
  // Errors come back as return codes: a lost peer is something to report, not a reason to abort silently.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
}

std::optional<Message> try_receive(int source, int tag) {
  if (!g_started) return std::nullopt;
  int flag = 0;
  MPI_Status st;
  if (MPI_Iprobe(source == any_source ? MPI_ANY_SOURCE : source, tag, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS ||
      flag == 0) {
    return std::nullopt;
  }
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  Message m{st.MPI_SOURCE, st.MPI_TAG, std::string(static_cast<size_t>(count), '\0')};
  if (MPI_Recv(m.bytes.data(), count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE) !=
      MPI_SUCCESS) {
    return std::nullopt;
  }
  return m;
}

bool send(int dest, int tag, std::string_view bytes, const std::function<bool()>& give_up) {
  BILEVEL_CHECK(g_started && dest >= 0 && dest < g_size, "mpi::send to rank " + std::to_string(dest));
  BILEVEL_CHECK(bytes.size() <= static_cast<size_t>(INT32_MAX), "mpi::send: message too large");
  // Kept alive until the send completes; leaked when the caller gives up (the process is about to end then).
  auto buffer = std::make_unique<std::string>(bytes);
  MPI_Request req;
  if (MPI_Isend(buffer->data(), static_cast<int>(buffer->size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD, &req) !=
      MPI_SUCCESS) {
    return false;
  }
  while (true) {
    int done = 0;
    if (MPI_Test(&req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return false;
    if (done) return true;
    if (give_up && give_up()) {
      (void)buffer.release();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

void finalize() {
  if (!g_started) return;
  g_started = false;
  MPI_Finalize();
}

#else  // built without MPI

bool compiled() { return false; }

void init(int&, char**&) {
  if (launcher_world_size() > 1) {
    throw usage_error("this bilevel-opt was built without MPI (CMake BILEVEL_MPI=OFF or Open MPI not found), so it "
                      "cannot run as one of several ranks; build it with MPI (make mpi: build/mpi/bilevel-opt) or run "
                      "it without mpirun");
  }
}

std::optional<Message> try_receive(int, int) { return std::nullopt; }

bool send(int dest, int, std::string_view, const std::function<bool()>&) {
  BILEVEL_CHECK(false, "mpi::send to rank " + std::to_string(dest) + " in a build without MPI");
}

void finalize() {}

#endif

}  // namespace bilevel::sys::mpi
