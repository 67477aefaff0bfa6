# Writes build_info.cpp (run by CMake at every build, `cmake -P`): configure_file rewrites the file only when the
# revision changed, so an unchanged tree rebuilds nothing and a new commit recompiles this one file.
# In: SRC (source dir), OUT (file to write), VERSION, BUILD_TYPE.
execute_process(COMMAND git rev-parse --short HEAD WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE BILEVEL_GIT_REV OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT BILEVEL_GIT_REV)
  set(BILEVEL_GIT_REV "unknown")
endif()
configure_file(${SRC}/cmake/build_info.cpp.in ${OUT} @ONLY)
