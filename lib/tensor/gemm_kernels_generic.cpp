// The small-product kernels for the baseline instruction set (SSE2 on x86-64).
#define BILEVEL_GEMM_NS generic
#include "tensor/gemm_kernels.inc"
