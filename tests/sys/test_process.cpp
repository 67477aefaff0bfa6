// sys/process: argv reaches the program untouched (no shell), output, working directory, exit statuses,
// signals, PATH lookup, shell quoting for display.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <string>
#include <thread>

#include "base/errors.hpp"
#include "sys/files.hpp"
#include "sys/process.hpp"
#include "scratch_dir.hpp"

using namespace bilevel;
namespace fs = std::filesystem;

TEST_SUITE("sys") {
  TEST_CASE("spawn_process passes argv as data, redirects output, sets the working directory") {
    const fs::path d = testing::scratch_dir("proc_spawn");
    const std::string hostile = "a b; touch " + (d / "pwned").string() + " $(id) 'q' \"x\"\n";
    sys::SpawnOptions opts;
    opts.output = d / "out.txt";
    opts.stdin_null = true;
    CHECK(sys::wait_exit(sys::spawn_process("/bin/echo", {"echo", hostile}, opts)).success());
    CHECK(sys::read_file(d / "out.txt") == hostile + "\n");
    CHECK_FALSE(fs::exists(d / "pwned"));

    opts.cwd = d;
    opts.output = d / "pwd.txt";
    CHECK(sys::wait_exit(sys::spawn_process("/bin/pwd", {"pwd", "-P"}, opts)).success());
    CHECK(sys::read_file(d / "pwd.txt") == fs::canonical(d).string() + "\n");
    fs::remove_all(d);
  }

  TEST_CASE("exit statuses: code, signal, exec failure") {
    const fs::path d = testing::scratch_dir("proc_status");
    sys::SpawnOptions opts;
    opts.output = d / "log";
    const sys::ExitStatus three = sys::wait_exit(sys::spawn_process("/bin/sh", {"sh", "-c", "exit 3"}, opts));
    CHECK_FALSE(three.success());
    CHECK(three.text() == "exit code 3");

    const int pid = sys::spawn_process("/bin/sleep", {"sleep", "30"}, opts);
    CHECK_FALSE(sys::poll_exit(pid).has_value());  // still running
    CHECK(sys::process_exists(pid));
    sys::send_signal(pid, SIGKILL);
    CHECK(sys::wait_exit(pid).text().find("killed by signal 9") == 0);

    const sys::ExitStatus missing =
        sys::wait_exit(sys::spawn_process((d / "no-such-program").string(), {"no-such-program"}, opts));
    CHECK(missing.text() == "exit code 127");
    CHECK(sys::read_file(d / "log").find("cannot execute") != std::string::npos);
    sys::SpawnOptions bad_log;
    bad_log.output = d / "no-dir" / "log";
    CHECK_THROWS_AS(sys::spawn_process("/bin/true", {"true"}, bad_log), io_error);
    fs::remove_all(d);
  }

  TEST_CASE("StopSignals counts SIGINT/SIGTERM instead of dying, wakes wait(), and is one at a time") {
    sys::StopSignals signals(/*watch_children=*/true);
    CHECK(signals.count() == 0);
    CHECK_FALSE(signals.requested().load());
    CHECK_THROWS_AS(sys::StopSignals(), internal_error);
    ::raise(SIGTERM);
    ::raise(SIGINT);
    CHECK(signals.count() == 2);
    CHECK(signals.requested().load());
    // A child's exit wakes wait() long before its timeout.
    const int pid = sys::spawn_process("/bin/true", {"true"});
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 50 && !sys::poll_exit(pid); ++i) signals.wait(10000);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  }

  TEST_CASE("find_on_path and shell_quote") {
    CHECK_FALSE(sys::find_on_path("sh").empty());
    CHECK(sys::find_on_path("no-such-program-bilevel").empty());
    CHECK(sys::shell_quote("--set") == "--set");
    CHECK(sys::shell_quote("q=0.1") == "q=0.1");
    CHECK(sys::shell_quote("a b") == "'a b'");
    CHECK(sys::shell_quote("it's") == "'it'\\''s'");
    CHECK(sys::shell_quote("") == "''");
    CHECK(sys::shell_quote("$(x)") == "'$(x)'");
  }
}
