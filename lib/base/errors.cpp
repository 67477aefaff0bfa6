#include "base/errors.hpp"

#include <cstdlib>
#include <cstring>

namespace bilevel {

void throw_internal_error(const char* file, int line, const std::string& message) {
  // Keep the path relative to the source tree: "lib/…" reads better than the build machine's absolute path.
  const char* rel = std::strstr(file, "lib/");
  throw internal_error(std::string(rel ? rel : file) + ":" + std::to_string(line) + ": " + message);
}

void fault_point(const char* point, const char* file, int line) {
  const char* want = std::getenv("BILEVEL_FAULT");
  if (want != nullptr && std::strcmp(want, point) == 0) {
    throw_internal_error(file, line, std::string("fault injected at '") + point + "' (BILEVEL_FAULT)");
  }
}

}  // namespace bilevel
