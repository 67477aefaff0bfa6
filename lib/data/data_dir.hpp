#pragma once
// Where datasets live and how errors about them read.
//
// The data directory is, in order: an explicit option (`--data-dir`, problem option `data_dir`), else the
// environment variable BILEVEL_DATA, else ./data. `make data` (datasets/fetch.sh) fills it.
#include <string>

#include "base/errors.hpp"

namespace bilevel::data {

// A dataset file that is missing, truncated, corrupt or not what the manifest pins. The message names
// the file, what was expected (size, magic, dimensions, checksum) and the command that fetches it.
// A usage error: like other unusable input it exits with code 2.
struct data_error : usage_error {
  using usage_error::usage_error;
};

// Text from a data file as a message shows it: at most `max_bytes` bytes (then "…"), control characters as
// '?', so a hostile field or name cannot make a message span lines or grow without bound.
std::string printable(const std::string& text, size_t max_bytes = 40);

// option if non-empty, else $BILEVEL_DATA if set and non-empty, else "data".
std::string resolve_data_dir(const std::string& option = "");

// The command that (re)fetches and verifies the data into `data_dir`, for error messages:
// "make data" for the default directory, "make data DATA_DIR=<dir>" otherwise, and the script form.
std::string fetch_command(const std::string& data_dir);

}  // namespace bilevel::data
