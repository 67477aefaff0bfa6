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
// The current UTC time as ISO 8601, "2026-01-31T12:00:00Z".
std::string utc_now_text();
// Columns of the terminal on file descriptor `fd`, or `fallback` when it is not a terminal or does not say.
int terminal_columns(int fd, int fallback);

}  // namespace bilevel::sys
