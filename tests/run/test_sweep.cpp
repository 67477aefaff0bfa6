// Sweeps: spec expansion and names, bad specs, shards, the child-process runner (with a stand-in train
// binary, so outcomes such as a crash are under the test's control), resume and stop.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "run/sweep.hpp"
#include "run/sweep_index.hpp"
#include "sys/files.hpp"
#include "scratch_dir.hpp"

using namespace bilevel;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> names_of(const SweepSpec& s) {
  std::vector<std::string> out;
  for (const auto& r : s.runs) out.push_back(r.name);
  return out;
}

std::string value_of(const SweepRun& r, const std::string& key) {
  for (const auto& [k, v] : r.assignments)
    if (k == key) return v;
  return "(unset)";
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
}

// Stand-in for `bilevel-opt train`: the seed decides the outcome. 1: ok; 2: diverged (exit 4); 3: killed by
// SIGKILL before writing a result; 4: runs until SIGTERM, then writes "interrupted". Every launch appends
// the run directory to LAUNCHES.
fs::path write_fake_train(const fs::path& dir) {
  const fs::path exe = dir / "fake-train.sh";
  write_text(exe, R"(#!/bin/sh
out=""; seed=""
while [ $# -gt 0 ]; do
  case "$1" in --out) out="$2"; shift ;; --seed) seed="$2"; shift ;; esac
  shift
done
echo "$out" >> ")" + (dir / "launches.txt").string() + R"("
echo '{"problem":"fake"}' > "$out/config.json"
case "$seed" in
  1) printf '{"step":0}\n{"step":3}\n' > "$out/curve.jsonl"
     echo '{"status":"ok","wall_seconds":0.01,"steps":3,"curve_rows":2}' > "$out/result.json"; exit 0 ;;
  2) echo '{"status":"diverged","message":"non-finite at step 3"}' > "$out/result.json"; exit 4 ;;
  3) echo "about to crash" >&2; kill -9 $$ ;;
  4) trap 'echo "{\"status\":\"interrupted\"}" > "$out/result.json"; exit 4' TERM
     sleep 20 & wait $! ;;
esac
)");
  fs::permissions(exe, fs::perms::owner_all);
  return exe;
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

}  // namespace

TEST_SUITE("run") {
  TEST_CASE("sweep spec: lists expand as a cartesian product named by the options that vary") {
    const SweepSpec s = sweep_spec_parse(R"(
problem = "ufo-counterexample"
seeds = 2
method = ["fo", "ufo"]
steps = 10
inner_steps = [5, 10]
[run]
log_every = 2
)",
                                         "t.toml");
    // File order for the axes, the seeds last (they vary fastest and end the name).
    CHECK(names_of(s) == std::vector<std::string>{
                             "method=fo,inner_steps=5,seed=1", "method=fo,inner_steps=5,seed=2",
                             "method=fo,inner_steps=10,seed=1", "method=fo,inner_steps=10,seed=2",
                             "method=ufo,inner_steps=5,seed=1", "method=ufo,inner_steps=5,seed=2",
                             "method=ufo,inner_steps=10,seed=1", "method=ufo,inner_steps=10,seed=2"});
    CHECK(s.axes == std::vector<std::string>{"method", "inner_steps", "seed"});
    CHECK(s.runs[5].index == 5);
    CHECK(value_of(s.runs[5], "log_every") == "2");
    CHECK(value_of(s.runs[5], "steps") == "10");
    const TrainParams p = sweep_run_params(s, s.runs[5]);
    CHECK(p.problem == "ufo-counterexample");
    CHECK(p.method == "ufo");
    CHECK(p.seed == 2);
    CHECK(p.steps == 10);
    CHECK(std::set<std::string>(p.sets.begin(), p.sets.end()) == std::set<std::string>{"inner_steps=5", "log_every=2"});
    const auto argv = sweep_train_argv(s, s.runs[5], "EXE", "OUT/r", 3);
    const std::vector<std::string> tail = {"--threads", "3", "--out", "OUT/r", "--quiet", "--force"};
    CHECK(argv[0] == "EXE");
    CHECK(argv[1] == "train");
    CHECK(std::vector<std::string>(argv.end() - 6, argv.end()) == tail);
    CHECK_NOTHROW(sweep_spec_validate(s));
  }

  TEST_CASE("sweep spec: zipped options vary together and \"\" leaves an option out") {
    const SweepSpec s = sweep_spec_parse(R"(
problem = "ufo-counterexample"
steps = 5
seed = [3, 4]
[zip]
method = ["fo", "ufo", "ufo"]
q = ["", 0.1, "adaptive"]
)",
                                         "z.toml");
    CHECK(names_of(s) == std::vector<std::string>{"method=fo,seed=3", "method=fo,seed=4", "method=ufo,q=0.1,seed=3",
                                                  "method=ufo,q=0.1,seed=4", "method=ufo,q=adaptive,seed=3",
                                                  "method=ufo,q=adaptive,seed=4"});
    CHECK(value_of(s.runs[0], "q") == "(unset)");
    CHECK(value_of(s.runs[2], "q") == "0.1");
    CHECK_NOTHROW(sweep_spec_validate(s));
    // Several zip groups, a value that does not vary stays out of the name, a single run is called "run".
    const SweepSpec t = sweep_spec_parse(R"(
problem = "quadratic"
method = ["exact"]
[[zip]]
inner_steps = [5, 10]
inner_lr = [0.05, 0.02]
[[zip]]
outer_lr = [0.5, 1.0]
schedule = ["inv", "inv"]
)",
                                         "z2.toml");
    CHECK(names_of(t) == std::vector<std::string>{"inner_steps=5,inner_lr=0.05,outer_lr=0.5",
                                                  "inner_steps=5,inner_lr=0.05,outer_lr=1",
                                                  "inner_steps=10,inner_lr=0.02,outer_lr=0.5",
                                                  "inner_steps=10,inner_lr=0.02,outer_lr=1"});
    CHECK(value_of(t.runs[0], "schedule") == "inv");
    CHECK(names_of(sweep_spec_parse("problem = \"quadratic\"\nmethod = \"fo\"\n", "one.toml")) ==
          std::vector<std::string>{"run"});
  }

  TEST_CASE("sweep spec: bad specs are refused with the key and the reason") {
    auto refused = [](const std::string& text, const char* needle) {
      CHECK_THROWS_WITH_AS(sweep_spec_parse(text, "bad.toml"), doctest::Contains(needle), option_error);
    };
    refused("problem = [\n", "invalid TOML");
    refused("method = []\n", "empty list");
    refused("seed = 1\nseeds = [2, 3]\n", "'seed' is given twice");
    refused("q = 0.1\n[set]\nq = 0.2\n", "'q' is given twice");
    refused("method = [\"fo\"]\n[zip]\nmethod = [\"ufo\"]\n", "'method' is given twice");
    refused("[zip]\nmethod = [\"fo\", \"ufo\"]\nq = [0.1]\n", "different lengths");
    refused("[zip]\nmethod = \"fo\"\n", "must be lists");
    refused("[optimizer]\nlr = 1\n", "unknown table [optimizer]");
    refused("threads = [1, 2]\n", "'threads'");
    refused("seeds = 0\n", "'seeds'");
    refused("x = [[1, 2]]\n", "list of lists");
    refused("method = [\"a/b\", \"a_b\"]\n", "same directory name");
    // Values a spec can hold but train refuses are caught before anything runs, naming the run.
    const SweepSpec s = sweep_spec_parse("problem = \"quadratic\"\nmethod = [\"fo\", \"ufo\"]\nq = 0.5\n", "v.toml");
    CHECK_THROWS_WITH_AS(sweep_spec_validate(s), doctest::Contains("run 'method=fo'"), option_error);
    const SweepSpec u = sweep_spec_parse("problem = \"quadratic\"\nmethod = \"fo\"\nbogus = [1, 2]\n", "u.toml");
    CHECK_THROWS_WITH_AS(sweep_spec_validate(u), doctest::Contains("unknown option 'bogus'"), option_error);
  }

  TEST_CASE("a config file and a sweep spec give every value the same text and the same resolved config") {
    // Both read TOML through one function (base/config.hpp): floats as the shortest text that reads back exactly.
    const fs::path tmp = testing::scratch_dir("sweep_config_text");
    const std::string body = "problem = \"quadratic\"\nmethod = \"ufo\"\nsteps = 3\n"
                             "[problem_options]\ninner_lr = 0.030000000000000002\ncond = 7.5e0\nnoise = 1e-3\n"
                             "[method_options]\nq = 0.1\n[run]\nouter_lr = 0.2\nadam_eps = 1e-10\n";
    write_text(tmp / "run.toml", body);
    const auto from_config = read_config_file((tmp / "run.toml").string());
    const SweepSpec spec = sweep_spec_parse(body, (tmp / "spec.toml").string());
    REQUIRE(spec.runs.size() == 1);
    for (const char* key : {"inner_lr", "cond", "noise", "q", "outer_lr", "adam_eps", "steps"}) {
      CAPTURE(key);
      CHECK(from_config.at(key) == value_of(spec.runs[0], key));
    }
    CHECK(from_config.at("inner_lr") == "0.030000000000000002");
    CHECK(from_config.at("cond") == "7.5");
    CHECK(from_config.at("adam_eps") == "1e-10");
    TrainParams p;
    p.config_file = (tmp / "run.toml").string();
    p.out_dir = "unused";
    nlohmann::json direct = resolve_run(p).config;
    direct.erase("config_file");
    CHECK(direct == sweep_spec_configs(spec).front());
    fs::remove_all(tmp);
  }

  TEST_CASE("sweep shards are disjoint and together cover the sweep") {
    CHECK_THROWS_AS(sweep_shard_parse("3/2"), option_error);
    CHECK_THROWS_AS(sweep_shard_parse("0/2"), option_error);
    CHECK_THROWS_AS(sweep_shard_parse("1-2"), option_error);
    CHECK_THROWS_AS(sweep_shard_parse("1/2x"), option_error);
    CHECK(sweep_shard_parse("2/8").index == 2);
    CHECK(sweep_shard_parse("2/8").count == 8);
    for (int n = 1; n <= 5; ++n) {
      std::vector<int> owners(17, 0);
      for (int i = 1; i <= n; ++i)
        for (size_t r = 0; r < owners.size(); ++r) owners[r] += sweep_shard_has({i, n}, r);
      for (int c : owners) CHECK(c == 1);
    }
  }

  TEST_CASE("a sweep records ok, diverged and crashed runs, goes on, and resumes only what is not ok") {
    const fs::path tmp = testing::scratch_dir("sweep_runner");
    const fs::path exe = write_fake_train(tmp);
    write_text(tmp / "spec.toml", "problem = \"ufo-counterexample\"\nmethod = \"fo\"\nsteps = 3\nseed = [1, 2, 3]\n");
    SweepParams p;
    p.spec_file = (tmp / "spec.toml").string();
    p.out_dir = (tmp / "out").string();
    p.jobs = 2;
    p.threads = 4;
    p.train_exe = exe.string();
    p.progress = false;
    const SweepOutcome o = run_sweep(p);
    CHECK(o.threads_per_run == 2);
    CHECK(o.launched == 3);
    CHECK(o.finished.at("ok") == 1);
    CHECK(o.finished.at("diverged") == 1);
    CHECK(o.finished.at("failed") == 1);
    CHECK_FALSE(o.stopped);
    const auto idx = sys::read_json(tmp / "out" / "index.json");
    REQUIRE(idx["runs"].size() == 3);
    CHECK(idx["runs"][0]["name"] == "seed=1");
    CHECK(idx["runs"][0]["status"] == "ok");
    CHECK(idx["runs"][1]["status"] == "diverged");
    CHECK(idx["runs"][1]["note"] == "non-finite at step 3");
    CHECK(idx["runs"][2]["status"] == "failed");
    CHECK(idx["runs"][2]["note"].get<std::string>().find("signal 9") != std::string::npos);
    CHECK(idx["runs"][2]["note"].get<std::string>().find("about to crash") != std::string::npos);
    CHECK(fs::exists(tmp / "out" / "index.md"));
    CHECK(read_lines(tmp / "launches.txt").size() == 3);

    // Without --resume an existing sweep is refused; with it, only the runs that are not ok run again.
    CHECK_THROWS_WITH_AS(run_sweep(p), doctest::Contains("--resume"), option_error);
    p.resume = true;
    // The fake's ok run has a config.json that is not what the spec gives: resume refuses to reuse it.
    CHECK_THROWS_WITH_AS(run_sweep(p), doctest::Contains("other options"), option_error);
    const SweepSpec spec = sweep_spec_read(p.spec_file);
    TrainParams tp = sweep_run_params(spec, spec.runs[0]);
    tp.out_dir = "unused";
    sys::write_json_atomic(tmp / "out" / "runs" / "seed=1" / "config.json", resolve_run(tp).config);
    const auto before = fs::last_write_time(tmp / "out" / "runs" / "seed=1" / "result.json");
    const SweepOutcome again = run_sweep(p);
    CHECK(again.skipped == 1);
    CHECK(again.launched == 2);
    CHECK(fs::last_write_time(tmp / "out" / "runs" / "seed=1" / "result.json") == before);
    const auto launches = read_lines(tmp / "launches.txt");
    REQUIRE(launches.size() == 5);
    CHECK(launches[3].find("seed=1") == std::string::npos);
    CHECK(launches[4].find("seed=1") == std::string::npos);

    // A result whose curve does not match it (cut by a full disk, spliced by a second writer) is not trusted:
    // the run is done again.
    write_text(tmp / "out" / "runs" / "seed=1" / "curve.jsonl", "{\"step\":0}\n{\"step\":2}\n");
    CHECK(sweep_run_state(tmp / "out" / "runs" / "seed=1") == "incomplete");
    const SweepOutcome third = run_sweep(p);
    CHECK(third.skipped == 0);
    CHECK(third.launched == 3);

    // --dry-run lists and writes nothing.
    p.dry_run = true;
    p.out_dir = (tmp / "dry").string();
    const SweepOutcome dry = run_sweep(p);
    CHECK(dry.listing.find("seed=2\tpending\tbilevel-opt train") != std::string::npos);
    CHECK_FALSE(fs::exists(tmp / "dry"));
    fs::remove_all(tmp);
  }

  TEST_CASE("a stopped sweep launches nothing more and asks the runs in flight to stop") {
    const fs::path tmp = testing::scratch_dir("sweep_stop");
    const fs::path exe = write_fake_train(tmp);
    write_text(tmp / "spec.toml", "problem = \"ufo-counterexample\"\nmethod = \"fo\"\n"
                                  "[zip]\ninner_steps = [1, 2, 3]\nseed = [4, 4, 1]\n");
    SweepParams p;
    p.spec_file = (tmp / "spec.toml").string();
    p.out_dir = (tmp / "out").string();
    p.jobs = 2;
    p.train_exe = exe.string();
    p.progress = false;
    std::atomic<bool> stop{false};
    std::thread stopper([&] {
      // Wait until both long runs have started, then stop.
      for (int i = 0; i < 500 && read_lines(tmp / "launches.txt").size() < 2; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      stop.store(true);
    });
    const auto t0 = std::chrono::steady_clock::now();
    const SweepOutcome o = run_sweep(p, &stop);
    stopper.join();
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
    CHECK(o.stopped);
    CHECK(o.launched == 2);
    CHECK(o.finished.at("interrupted") == 2);
    CHECK(o.not_started == 1);
    const auto idx = sys::read_json(tmp / "out" / "index.json");
    CHECK(idx["counts"]["interrupted"] == 2);
    CHECK(idx["counts"]["pending"] == 1);
    fs::remove_all(tmp);
  }
}
