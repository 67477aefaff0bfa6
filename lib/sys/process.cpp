#include "sys/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "base/errors.hpp"

namespace bilevel::sys {

namespace fs = std::filesystem;

namespace {

// Everything the child needs, prepared before fork: after fork only async-signal-safe calls are allowed.
struct ChildPlan {
  std::vector<char*> argv;
  const char* program = nullptr;
  const char* cwd = nullptr;
  int output_fd = -1, null_fd = -1;
  bool die_with_parent = false;
  pid_t parent = 0;
  std::string exec_failed, cwd_failed;  // messages written to the child's stderr
};

[[noreturn]] void child_fail(const std::string& msg, int code) {
  (void)!::write(2, msg.data(), msg.size());
  ::_exit(code);
}

[[noreturn]] void run_child(const ChildPlan& c) {
  if (c.die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != c.parent) ::_exit(127);  // the parent died before prctl took effect
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::sigaction(sig, &dfl, nullptr);
  if (c.null_fd >= 0) ::dup2(c.null_fd, 0);
  if (c.output_fd >= 0) {
    ::dup2(c.output_fd, 1);
    ::dup2(c.output_fd, 2);
  }
  if (c.cwd != nullptr && ::chdir(c.cwd) != 0) child_fail(c.cwd_failed, 126);
  ::execv(c.program, c.argv.data());
  child_fail(c.exec_failed, 127);
}

}  // namespace

int spawn_process(const std::string& program, const std::vector<std::string>& argv, const SpawnOptions& options) {
  BILEVEL_CHECK(!argv.empty(), "spawn_process: empty argv");
  ChildPlan c;
  for (const auto& s : argv) c.argv.push_back(const_cast<char*>(s.c_str()));
  c.argv.push_back(nullptr);
  c.program = program.c_str();
  const std::string cwd = options.cwd.string();
  if (!cwd.empty()) c.cwd = cwd.c_str();
  c.die_with_parent = options.die_with_parent;
  c.parent = ::getpid();
  c.exec_failed = "cannot execute " + program + "\n";
  c.cwd_failed = "cannot enter directory " + cwd + "\n";
  if (!options.output.empty()) {
    c.output_fd = ::open(options.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (c.output_fd < 0) throw io_error("cannot write " + options.output.string() + ": " + std::strerror(errno));
  }
  if (options.stdin_null) c.null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = ::fork();
  if (pid == 0) run_child(c);
  const int fork_errno = errno;
  if (c.output_fd >= 0) ::close(c.output_fd);
  if (c.null_fd >= 0) ::close(c.null_fd);
  if (pid < 0) throw io_error("cannot start " + program + ": fork failed: " + std::strerror(fork_errno));
  return pid;
}

bool ExitStatus::success() const { return wait_errno == 0 && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }

std::string ExitStatus::text() const {
  if (wait_errno != 0) return std::string("lost track of the process: ") + std::strerror(wait_errno);
  if (WIFEXITED(wait_status)) return "exit code " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    const char* name = ::strsignal(WTERMSIG(wait_status));
    return "killed by signal " + std::to_string(WTERMSIG(wait_status)) + (name ? std::string(" (") + name + ")" : "");
  }
  return "ended (status " + std::to_string(wait_status) + ")";
}

std::optional<ExitStatus> poll_exit(int pid) {
  ExitStatus s;
  const pid_t w = ::waitpid(pid, &s.wait_status, WNOHANG);
  if (w == 0) return std::nullopt;
  if (w < 0) s.wait_errno = errno;
  return s;
}

ExitStatus wait_exit(int pid) {
  ExitStatus s;
  while (::waitpid(pid, &s.wait_status, 0) < 0) {
    if (errno == EINTR) continue;
    s.wait_errno = errno;
    break;
  }
  return s;
}

void send_signal(int pid, int sig) { ::kill(pid, sig); }

bool process_exists(int pid) { return !(::kill(pid, 0) != 0 && errno == ESRCH); }

std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    const fs::path p = (dir.empty() ? fs::path(".") : fs::path(dir)) / program;
    std::error_code ec;
    if (::access(p.c_str(), X_OK) == 0 && fs::is_regular_file(p, ec)) return p.string();
  }
  return "";
}

std::string shell_quote(const std::string& arg) {
  bool plain = !arg.empty();
  for (char c : arg) plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("._+-=/,:@%", c));
  if (plain) return arg;
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// ---------------------------------------------------------------------------------------------------------
// Stop signals. The handler may run on any thread: it only touches lock-free atomics and write(2).

namespace {

int g_wake_pipe[2] = {-1, -1};
std::atomic<int> g_stop_count{0};
std::atomic<bool> g_stop_requested{false};
std::atomic<bool> g_active{false};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free,
              "the signal handler needs lock-free atomics");
struct sigaction g_old_int {}, g_old_term {}, g_old_hup {}, g_old_chld {};

extern "C" void on_watched_signal(int sig) {
  const int saved = errno;
  if (sig != SIGCHLD) {
    g_stop_count.fetch_add(1);
    g_stop_requested.store(true);
  }
  const char c = 0;
  if (g_wake_pipe[1] >= 0) (void)!::write(g_wake_pipe[1], &c, 1);
  errno = saved;
}

}  // namespace

StopSignals::StopSignals(bool watch_children) : watch_children_(watch_children) {
  BILEVEL_CHECK(!g_active.exchange(true), "StopSignals: a second instance while one is active");
  if (::pipe2(g_wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    g_active.store(false);
    throw io_error(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  g_stop_count.store(0);
  g_stop_requested.store(false);
  struct sigaction sa {};
  sa.sa_handler = on_watched_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &g_old_int);
  ::sigaction(SIGTERM, &sa, &g_old_term);
  ::sigaction(SIGHUP, &sa, &g_old_hup);  // a closed terminal: stop as for SIGTERM, keeping the result
  if (watch_children_) {
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    ::sigaction(SIGCHLD, &sa, &g_old_chld);
  }
}

StopSignals::~StopSignals() {
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
  ::sigaction(SIGHUP, &g_old_hup, nullptr);
  if (watch_children_) ::sigaction(SIGCHLD, &g_old_chld, nullptr);
  ::close(g_wake_pipe[0]);
  ::close(g_wake_pipe[1]);
  g_wake_pipe[0] = g_wake_pipe[1] = -1;
  g_active.store(false);
}

int StopSignals::count() const { return g_stop_count.load(); }

const std::atomic<bool>& StopSignals::requested() const { return g_stop_requested; }

void StopSignals::wait(int ms) {
  struct pollfd pfd {g_wake_pipe[0], POLLIN, 0};
  ::poll(&pfd, 1, ms);
  char buf[64];
  while (::read(g_wake_pipe[0], buf, sizeof buf) > 0) {
  }
}

}  // namespace bilevel::sys
