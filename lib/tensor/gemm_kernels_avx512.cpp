// The small-product kernels compiled for AVX-512F (CMake adds -mavx512f to this file only; chosen at
// run time when the CPU has it): 64-byte rows vectors and 2×4 dots tiles. Same results bit for bit as
// the generic and AVX2 builds.
#if defined(__x86_64__) || defined(__i386__)
#define BILEVEL_GEMM_NS avx512
#define BILEVEL_GEMM_ROW_BYTES 64
#define BILEVEL_GEMM_DOT_ROWS 2
#include "tensor/gemm_kernels.inc"
#endif
