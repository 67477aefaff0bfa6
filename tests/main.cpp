#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "tensor/tensor.hpp"

int main(int argc, char** argv) {
  bilevel::blas_set_single_threaded();
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  return ctx.run();
}
