#pragma once
// Whose fault an error is decides how it ends the program (app/main.cpp is the only place that maps them):
//
//   usage_error     the user can fix it: an unknown name or key, a malformed or out-of-range value, an
//                   unreadable or corrupt input file, a missing dataset. Exit code 2, a one-line message that
//                   names the offending token and what would be valid, and nothing written.
//   io_error        the environment failed a write or a read the program depended on (disk full, permission
//                   revoked mid-run): exit code 1, the message names the file and the OS error.
//   numerical_error the computation failed for numerical reasons at the current iterate: exit code 1.
//   internal_error  a precondition inside the library failed: a bug, never the user's mistake. Exit code 1,
//                   "internal error: …" with the source location.
//
// Library code throws usage errors only at its boundaries (options, files, names); everything it checks
// about its own callers is an internal error (BILEVEL_CHECK).
#include <stdexcept>
#include <string>

namespace bilevel {

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Bad option: unknown key, malformed or out-of-range value, unknown problem or method name.
struct option_error : usage_error {
  using usage_error::usage_error;
};

struct io_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A computation that cannot continue for numerical reasons (a matrix that lost positive definiteness at the
// current λ, a non-finite value where one is required): exit code 1 with the message, status "error" in a run.
struct numerical_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct internal_error : std::logic_error {
  using std::logic_error::logic_error;
};

// Throws internal_error("<file>:<line>: <message>"). Out of line so the check itself stays one branch.
[[noreturn]] void throw_internal_error(const char* file, int line, const std::string& message);

// Test hook for the error paths (call it as BILEVEL_FAULT_POINT("name")): when the environment variable
// BILEVEL_FAULT equals `point`, fails there as a
// library bug would (internal_error). Used by the CLI tests to check that a bug exits 1 with "internal error"
// and leaves a run directory with status "error"; costs one getenv per call, so only call it per outer step.
void fault_point(const char* point, const char* file, int line);

}  // namespace bilevel

// Always-on precondition check for library internals (shapes, indices, states callers guarantee).
// `msg` is only evaluated when the check fails, so it may build a string.
#define BILEVEL_FAULT_POINT(point) ::bilevel::fault_point(point, __FILE__, __LINE__)

#define BILEVEL_CHECK(cond, msg)                                        \
  do {                                                                  \
    if (!(cond)) ::bilevel::throw_internal_error(__FILE__, __LINE__, msg); \
  } while (0)
