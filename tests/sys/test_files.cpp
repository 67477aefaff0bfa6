// sys/files: atomic writes, checked appends, reads that name the file, stale temporary files.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>

#include <filesystem>
#include <fstream>
#include <string>

#include "base/errors.hpp"
#include "sys/files.hpp"
#include "sys/host.hpp"
#include "sys/process.hpp"
#include "scratch_dir.hpp"

using namespace bilevel;
namespace fs = std::filesystem;

namespace {

// The message of the E that f throws ("" if it throws nothing; another exception type fails the test).
template <class E, class F>
std::string thrown(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

size_t entries(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_SUITE("sys") {
  TEST_CASE("write_file_atomic replaces the file whole and leaves no temporary behind") {
    const fs::path d = testing::scratch_dir("sys_atomic");
    sys::write_file_atomic(d / "a.json", "first");
    sys::write_file_atomic(d / "a.json", std::string("second\0with a zero byte", 23));
    CHECK(sys::read_file(d / "a.json") == std::string("second\0with a zero byte", 23));
    CHECK(entries(d) == 1);
    sys::write_json_atomic(d / "b.json", {{"x", 1}});
    CHECK(sys::read_json(d / "b.json")["x"] == 1);
    CHECK(sys::read_file(d / "b.json").back() == '\n');
    fs::remove_all(d);
  }

  TEST_CASE("a write that cannot happen throws io_error naming the file and the OS error") {
    const fs::path d = testing::scratch_dir("sys_fail");
    const std::string no_dir = thrown<io_error>([&] { sys::write_file_atomic(d / "missing-dir" / "x.json", "x"); });
    CHECK(has(no_dir, (d / "missing-dir").string()));
    CHECK(has(no_dir, "No such file or directory"));
    // A disk that fills up (the BILEVEL_FAULT hook): each append is checked, none is lost silently.
    ::setenv("BILEVEL_FAULT", "write:full.jsonl@2", 1);
    sys::OutputFile full(d / "full.jsonl");
    CHECK_NOTHROW(full.append("row 1\n"));
    const std::string no_space = thrown<io_error>([&] { full.append("row 2\n"); });
    ::unsetenv("BILEVEL_FAULT");
    CHECK(has(no_space, (d / "full.jsonl").string()));
    CHECK(has(no_space, "No space left"));
    full.close();
    CHECK(sys::read_file(d / "full.jsonl") == "row 1\n");
    ::setenv("BILEVEL_FAULT", "write:whole.json", 1);
    const std::string atomic = thrown<io_error>([&] { sys::write_file_atomic(d / "whole.json", "{}"); });
    ::unsetenv("BILEVEL_FAULT");
    CHECK(has(atomic, "whole.json"));
    CHECK(has(atomic, "No space left"));
    CHECK_FALSE(fs::exists(d / "whole.json"));
    CHECK(entries(d) == 1);  // no temporary left behind
    sys::OutputFile log(d / "curve.jsonl");
    log.append("a\n");
    log.append("b\n");
    log.close();
    CHECK(sys::read_file(d / "curve.jsonl") == "a\nb\n");
    CHECK_THROWS_AS(log.append("late\n"), internal_error);
    fs::remove_all(d);
  }

  TEST_CASE("reads of user files name the file; a corrupt JSON says so") {
    const fs::path d = testing::scratch_dir("sys_read");
    CHECK_THROWS_WITH_AS(sys::read_file(d / "none.json"), doctest::Contains("none.json"), usage_error);
    std::ofstream(d / "bad.json") << "{\"a\": ";
    CHECK_THROWS_WITH_AS(sys::read_json(d / "bad.json"), doctest::Contains("corrupt JSON in"), usage_error);
    std::ofstream(d / "huge.json") << "{\"a\": 1e400}";  // beyond double range: nlohmann's out_of_range
    CHECK_THROWS_WITH_AS(sys::read_json(d / "huge.json"), doctest::Contains("corrupt JSON in"), usage_error);
    std::ofstream(d / "file") << "x";
    const std::string not_dir = thrown<option_error>([&] { sys::ensure_writable_dir(d / "file" / "run", "--out"); });
    CHECK(has(not_dir, "--out '" + (d / "file" / "run").string() + "'"));
    CHECK(has(not_dir, "cannot create directory"));
    CHECK_NOTHROW(sys::ensure_writable_dir(d / "new" / "deeper"));
    CHECK(fs::is_directory(d / "new" / "deeper"));
    fs::remove_all(d);
  }

  TEST_CASE("remove_stale_temps removes leftovers of dead writers of this host only") {
    const fs::path d = testing::scratch_dir("sys_stale");
    std::string host = sys::host_name();
    for (char& c : host)
      if (c == '/' || c == '.') c = '_';
    const int dead = sys::spawn_process("/bin/true", {"true"});
    REQUIRE(sys::wait_exit(dead).success());
    const fs::path mine = d / (".index.json.tmp." + host + "." + std::to_string(::getpid()));
    const fs::path gone = d / (".index.json.tmp." + host + "." + std::to_string(dead));
    const fs::path other_host = d / (".index.json.tmp.some-other-host." + std::to_string(dead));
    for (const auto& p : {mine, gone, other_host}) std::ofstream(p) << "x";
    sys::remove_stale_temps(d);
    CHECK(fs::exists(mine));
    CHECK_FALSE(fs::exists(gone));
    CHECK(fs::exists(other_host));
    fs::remove_all(d);
  }

  TEST_CASE("host facts") {
    CHECK_FALSE(sys::host_name().empty());
    CHECK(sys::available_cpus() >= 1);
    CHECK(sys::peak_rss_bytes() > 0);
    const std::string now = sys::utc_now_text();
    REQUIRE(now.size() == 20);
    CHECK(now[4] == '-');
    CHECK(now[10] == 'T');
    CHECK(now.back() == 'Z');
  }
  TEST_CASE("writes never replace or follow what is not a regular file") {
    const fs::path d = testing::scratch_dir("sys_special");
    REQUIRE(::mkfifo((d / "fifo").c_str(), 0644) == 0);
    fs::create_directory(d / "dir");
    std::ofstream(d / "target") << "keep";
    fs::create_symlink(d / "target", d / "link");
    fs::create_symlink("/dev/null", d / "null");
    for (const char* name : {"fifo", "dir", "link", "null"}) {
      CAPTURE(name);
      const std::string atomic = thrown<usage_error>([&] { sys::write_file_atomic(d / name, "x"); });
      CHECK(has(atomic, "not a regular file"));
      CHECK_THROWS_AS(sys::OutputFile(d / name), usage_error);
      CHECK_THROWS_AS(sys::OutputFile(d / name, 0), usage_error);
      const std::string early = thrown<option_error>([&] { sys::check_output_target((d / name).string(), "--out"); });
      CHECK(has(early, "--out '" + (d / name).string() + "'"));
    }
    CHECK_THROWS_AS(sys::write_file_atomic("/dev/null", "x"), usage_error);
    CHECK_THROWS_AS(sys::check_output_target("/dev/null", "--out"), option_error);
    CHECK(fs::is_fifo(d / "fifo"));
    CHECK(fs::is_symlink(d / "link"));
    CHECK(sys::read_file(d / "target") == "keep");  // the link was not followed
    CHECK(fs::is_character_file("/dev/null"));
    CHECK_NOTHROW(sys::check_output_target("-", "--out"));
    CHECK_NOTHROW(sys::check_output_target((d / "new.json").string(), "--out"));
    CHECK_THROWS_WITH_AS(sys::check_output_target((d / "missing" / "x.json").string(), "--out"),
                         doctest::Contains("does not exist"), option_error);
    CHECK_THROWS_WITH_AS(sys::check_output_target((d / std::string(300, 'a')).string(), "--out"),
                         doctest::Contains("longer than"), option_error);
    fs::remove_all(d);
  }

  TEST_CASE("a directory lock admits one exclusive holder, names it, and dies with it") {
    const fs::path d = testing::scratch_dir("sys_lock");
    {
      const sys::DirLock held(d, "sweep", "--out");
      CHECK(sys::DirLock::held_by_other(d));
      std::string holder;
      CHECK(sys::DirLock::held_by_other(d, &holder));
      CHECK(has(holder, "sweep (pid " + std::to_string(::getpid())));
      const std::string refused = thrown<option_error>([&] { sys::DirLock second(d, "train", "--out"); });
      CHECK(has(refused, "--out '" + d.string() + "' is in use by sweep (pid " + std::to_string(::getpid())));
      CHECK_THROWS_AS(sys::DirLock(d, "x", "--out", sys::DirLock::Mode::shared), option_error);
    }
    CHECK_FALSE(sys::DirLock::held_by_other(d));
    {
      const sys::DirLock a(d, "shard 1", "--out", sys::DirLock::Mode::shared);
      const sys::DirLock b(d, "shard 2", "--out", sys::DirLock::Mode::shared);
      CHECK_THROWS_WITH_AS(sys::DirLock(d, "sweep", "--out"), doctest::Contains("is in use by"), option_error);
    }
    // A holder that is killed leaves no stale lock.
    // The holder is one process: a shell opens the lock file as fd 9, `flock 9` locks that open file (and exits),
    // and the shell becomes `sleep` keeping fd 9. Once /proc says it is `sleep`, no other process holds the lock
    // (with `flock -o FILE sleep`, a forked child could still hold it for a moment after its parent was killed).
    const std::string lock_file = (d / ".lock").string();
    const int pid =
        sys::spawn_process("/bin/sh", {"sh", "-c", "exec 9>>\"$0\" && flock 9 && exec sleep 60", lock_file});
    const auto holder_is_sleep = [&] {
      std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
      std::string name;
      return std::getline(comm, name) && name == "sleep";
    };
    for (int i = 0; i < 3000 && !holder_is_sleep(); ++i) ::usleep(10000);  // up to 30 s on a loaded machine
    REQUIRE(holder_is_sleep());
    CHECK(sys::DirLock::held_by_other(d));
    sys::send_signal(pid, SIGKILL);
    sys::wait_exit(pid);
    CHECK_NOTHROW(sys::DirLock(d, "train", "--out"));
    fs::remove_all(d);
  }
}
