#pragma once
// Process control: starting a program with an argument vector (never through a shell), waiting for it,
// signalling it, and catching the stop signals (SIGINT, SIGTERM, SIGHUP) of this process.
#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bilevel::sys {

struct SpawnOptions {
  std::filesystem::path cwd;     // working directory of the child; empty: this process's
  std::filesystem::path output;  // stdout and stderr go to this file (created, truncated); empty: inherited
  bool stdin_null = false;       // stdin from /dev/null instead of this process's
  bool die_with_parent = false;  // the child is SIGKILLed when this process dies (PR_SET_PDEATHSIG)
};

// Starts `program` (a path: no PATH search, no shell) with `argv` (argv[0] included). In the child, SIGINT,
// SIGTERM, SIGHUP and SIGCHLD get their default actions back before exec; if exec fails the child writes
// "cannot execute PROGRAM" to its stderr and exits 127 (126 if it cannot enter `cwd`). Returns the pid;
// throws io_error if the output file cannot be created or fork fails.
int spawn_process(const std::string& program, const std::vector<std::string>& argv, const SpawnOptions& options = {});

// How a child ended, as waitpid reported it (or that waitpid itself failed: its fate is then unknown).
struct ExitStatus {
  int wait_status = 0;
  int wait_errno = 0;  // nonzero: waitpid failed with this error
  bool success() const;      // exited with code 0
  std::string text() const;  // "exit code 3", "killed by signal 9 (Killed)", "lost track of the process: …"
};
// The child's status if it has ended (reaping it), std::nullopt while it runs.
std::optional<ExitStatus> poll_exit(int pid);
// Blocks until the child ends (retrying on EINTR).
ExitStatus wait_exit(int pid);

// kill(pid, sig); a process that is already gone is not an error.
void send_signal(int pid, int sig);
// Whether a process with this pid exists (on this host).
bool process_exists(int pid);

// Full path of `program` found on PATH (an executable regular file), or "" if it is not there.
std::string find_on_path(const std::string& program);

// `arg` as a POSIX shell reads it back as one word: unchanged if it holds only safe characters, else in single
// quotes (with ' written as '\''). For showing command lines to people; this program never runs a shell.
std::string shell_quote(const std::string& arg);

// While an instance lives, SIGINT, SIGTERM and SIGHUP do not kill this process: each counts as a request to stop,
// and wakes wait(). With `watch_children`, SIGCHLD wakes wait() too (a self-pipe, so a signal that arrives
// between checking and blocking is not lost, whichever thread it lands on). The previous handlers are
// restored on destruction. At most one instance exists at a time (an internal error otherwise).
class StopSignals {
 public:
  explicit StopSignals(bool watch_children = false);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  int count() const;                        // stop signals received so far
  const std::atomic<bool>& requested() const;  // true once count() > 0
  void wait(int ms);                        // until a watched signal arrives or `ms` pass

 private:
  bool watch_children_;
};

}  // namespace bilevel::sys
