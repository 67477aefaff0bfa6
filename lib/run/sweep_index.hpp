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

// State of a run directory on disk: "pending" (no directory), "incomplete" (no readable result.json), or
// result.json's status (ok | diverged | interrupted | error).
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
  // write is a warning on stderr, not the end of the sweep.
  void write();

 private:
  std::map<std::string, size_t> counts() const;  // status → runs

  const SweepSpec& spec_;
  std::filesystem::path out_;
  std::vector<IndexEntry> entries_;
};

// "" if `have` (a finished run's config.json) was made with the options that decide a run's result as
// `want` (the config the spec gives now) has them; else the first difference, as text.
std::string sweep_config_difference(const nlohmann::json& want, const nlohmann::json& have);

}  // namespace bilevel
