// The small-product kernels compiled for AVX2 (CMake adds -mavx2 to this file only; chosen at run
// time when the CPU has it). Same source, same results bit for bit as the generic build.
#if defined(__x86_64__) || defined(__i386__)
#define BILEVEL_GEMM_NS avx2
#include "tensor/gemm_kernels.inc"
#endif
