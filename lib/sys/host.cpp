#include "sys/host.hpp"

#include <sched.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>

namespace bilevel::sys {

std::string host_name() {
  char buf[256] = "";
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "host";
  return buf;
}

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

int64_t peak_rss_bytes() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

namespace {
// The value of line `key` (in kB) of a /proc file such as /proc/meminfo, in bytes; −1 when absent.
int64_t proc_kb_field(const char* path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0 || line.size() <= key.size() || line[key.size()] != ':') continue;
    try {
      return static_cast<int64_t>(std::stoll(line.substr(key.size() + 1))) * 1024;
    } catch (const std::exception&) {
      return -1;
    }
  }
  return -1;
}
}  // namespace

int64_t current_rss_bytes() { return proc_kb_field("/proc/self/status", "VmRSS"); }
int64_t available_memory_bytes() { return proc_kb_field("/proc/meminfo", "MemAvailable"); }

std::string utc_now_text() {
  const std::time_t t = std::time(nullptr);
  std::tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int terminal_columns(int fd, int fallback) {
  struct winsize ws {};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return fallback;
}

}  // namespace bilevel::sys
