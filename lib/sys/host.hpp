#pragma once
// Facts about this machine and process: host name, usable CPUs, peak memory, the wall-clock date.
#include <cstdint>
#include <string>

namespace bilevel::sys {

// gethostname(), or "host" if it fails or is empty.
std::string host_name();
// CPUs this process may run on (its affinity mask), at least 1.
int available_cpus();
// Peak resident set size of this process, in bytes.
int64_t peak_rss_bytes();
// Resident set size of this process now (VmRSS), in bytes; −1 when /proc does not say.
int64_t current_rss_bytes();
// Memory the system can still give without swapping (MemAvailable of /proc/meminfo), in bytes; −1 when unknown.
int64_t available_memory_bytes();
// The current UTC time as ISO 8601, "2026-01-31T12:00:00Z".
std::string utc_now_text();
// Columns of the terminal on file descriptor `fd`, or `fallback` when it is not a terminal or does not say.
int terminal_columns(int fd, int fallback);

}  // namespace bilevel::sys
