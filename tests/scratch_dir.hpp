#pragma once
// A scratch directory for tests that write files: <temp>/bilevel_test_<name>_<pid>, removed first if an
// earlier run left it, and created unless `create` is false (for tests of code that must create it).
#include <unistd.h>

#include <filesystem>
#include <string>

namespace bilevel::testing {

inline std::filesystem::path scratch_dir(const std::string& name, bool create = true) {
  const std::filesystem::path d =
      std::filesystem::temp_directory_path() / ("bilevel_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  if (create) std::filesystem::create_directories(d);
  return d;
}

}  // namespace bilevel::testing
