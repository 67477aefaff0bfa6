#pragma once
// The index of a sweep: the state of every run, kept in OUT/index.json (for programs) and OUT/index.md (for
// people) and rewritten atomically whenever a run changes state. Runs of other shards are read from their
// directories, so any shard's index shows the whole sweep as far as this machine can tell.
#include <cstddef>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "run/sweep_spec.hpp"

namespace bilevel {

// State of a run directory on disk: "pending" (no directory), "incomplete" (no readable result.json, or an "ok"
// one whose curve.jsonl does not match it: curve_mismatch), or result.json's status (ok | diverged | interrupted
// | error).
std::string sweep_run_state(const std::filesystem::path& run_dir);

struct IndexEntry {
  std::string status = "pending";  // pending | running | ok | diverged | interrupted | error | failed | incomplete
  double seconds = -1;             // wall seconds of the run, if known
  std::string note;                // message, exit status
  bool in_shard = false;           // this process runs it (else it is re-read from disk before each write)
};

class SweepIndex {
 public:
  SweepIndex(const SweepSpec& spec, const std::filesystem::path& out);

  IndexEntry& at(size_t i) { return entries_[i]; }
  // Sets entry i from its run directory (status, wall seconds and message of result.json).
  void read_from_disk(size_t i);
  void read_all_from_disk();

  nlohmann::json to_json(const std::string& updated) const;
  std::string to_markdown(const std::string& updated) const;
  // Rewrites index.json and index.md (atomically), re-reading the runs of other shards first. A failure to
  // write is a warning on stderr and does not stop the runs in flight; the first one is kept in write_error()
  // and makes the sweep fail at its end.
  void write();
  // write() when it is due: at most once per second, and never more often than 20 times the last write's own
  // duration, so a 100 000-run sweep spends a bounded share of its time rewriting a large index (each run's
  // result.json is the record; the index may lag it by that much until the sweep's final write()).
  void update();
  const std::string& write_error() const { return write_error_; }

 private:
  std::map<std::string, size_t> counts() const;  // status → runs

  const SweepSpec& spec_;
  std::filesystem::path out_;
  std::vector<IndexEntry> entries_;
  std::string write_error_;
  double last_write_ = -1e300, last_write_seconds_ = 0;  // steady-clock seconds
};

// "" if `have` (a finished run's config.json) was made with the options that decide a run's result as
// `want` (the config the spec gives now) has them; else the first difference, as text.
std::string sweep_config_difference(const nlohmann::json& want, const nlohmann::json& have);

}  // namespace bilevel
