// Run directories as `compare` and `sweep --resume` read them: the input is split at 0x01 bytes into
// config.json, result.json and curve.jsonl of one run (a second run gets the same files), written to a scratch
// directory and read back through compare (grouping, summaries, curves, every table format) and the sweep's
// resume check (sweep_run_state, curve_mismatch). Every refusal is a usage_error naming a file; anything
// else escapes as a crash.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "fuzz_input.hpp"
#include "run/compare_curves.hpp"
#include "run/compare_runs.hpp"
#include "run/compare_stats.hpp"
#include "run/compare_table.hpp"
#include "run/sweep_index.hpp"

using namespace bilevel;
namespace fs = std::filesystem;

namespace {

const fs::path& scratch() {
  static const fs::path dir = fs::temp_directory_path() / ("bilevel_fuzz_run_dir_" + std::to_string(::getpid()));
  return dir;
}

void write(const fs::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void read_back(const fs::path& root) {
  const Comparison c = compare_build(compare_find_runs({root.string()}), {"method", "seed"});
  for (const char* format : {"markdown", "csv", "json"}) {
    (void)compare_table(c, format, false, true);
    (void)compare_table(c, format, true, false);
    (void)compare_per_run(c, format);
  }
  for (const auto& metric : compare_logged_metrics(c)) {
    for (const char* x : {"step", "cost", "seconds"}) {
      const CompareCurves curves = compare_curves(c, metric, x, 7);
      for (const auto& b : curves.bands) {
        BILEVEL_FUZZ_CHECK(b.x.size() == b.median.size() && b.x.size() == b.q25.size() && b.x.size() == b.q75.size());
      }
      (void)compare_curves_csv(curves);
    }
    break;  // one metric: the curves of each are read the same way
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = fuzz::bytes_of(data, size);
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= bytes.size() && parts.size() < 3; ++i) {
    if (i == bytes.size() || bytes[i] == '\x01') {
      parts.push_back(bytes.substr(start, i - start));
      start = i + 1;
    }
  }
  const fs::path root = scratch();
  std::error_code ec;
  fs::remove_all(root, ec);
  const char* names[] = {"config.json", "result.json", "curve.jsonl"};
  for (const char* run : {"a", "b"}) {
    fs::create_directories(root / run);
    for (size_t k = 0; k < parts.size(); ++k) write(root / run / names[k], parts[k]);
  }
  const std::string state = sweep_run_state(root / "a");
  BILEVEL_FUZZ_CHECK(!state.empty());
  try {
    const nlohmann::json result = nlohmann::json::parse(parts.size() > 1 ? parts[1] : std::string_view("{}"));
    (void)curve_mismatch(root / "a", result);
  } catch (const nlohmann::json::exception&) {
  }
  try {
    read_back(root);
  } catch (const usage_error&) {
  }
  return 0;
}
