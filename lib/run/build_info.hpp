#pragma once
// Version, git revision and build type of this binary, recorded in every config.json and printed by --version.
// Defined in a file CMake generates, so a new revision recompiles one file, not the library.
namespace bilevel {
extern const char* const build_version;
extern const char* const build_git_revision;
extern const char* const build_type;
}  // namespace bilevel
