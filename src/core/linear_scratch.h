// Scratch bytes of the CPU linear kernels (y = x · W^T), defined once for both users: the kernels
// (src/kernels/cpu/linear.cpp lays its scratch out this way and asks for this many bytes) and the
// memory plan (src/estimate/plan.cpp sizes the workspace's matmul_scratch buffer with it), so the
// runtime can allocate exactly the plan. Pure arithmetic, overflow-checked; it lives in core
// because estimate must not depend on kernels.
//
// Layout for n rows of x against a weight with `cols` input features, threads T:
//   64 B slack to align the caller's pointer, then
//   MLX affine weights (packed codes, DType::U32): x quantized to int8 with rows padded to
//     kGemmRowPad, plus three f32 arrays per group (scale, Σx, Σq); from gemm_min_rows on,
//     one packed weight panel per thread (kAffinePanelRows rows of u8 codes + f32 scale and
//     bias per group);
//   F16 / BF16 weights, from gemm_min_rows on: x rounded to bf16 (rows padded to
//     kGemmRowPad) plus one f32 panel of kDensePanelRows widened weight rows per thread;
//   F32 weights: nothing (row kernels and sgemm read x and W in place).
// Every piece starts on a kLinearScratchAlign boundary.
#pragma once

#include <cstdint>

#include "mlxcel/dtype.h"

namespace mlxcel {

inline constexpr uint64_t kLinearScratchAlign = 64;
// n (rows of x) from which linear() uses the GEMM kernels instead of the row kernels: 8 for
// float weights, 32 for 4-bit and 16 for other affine weights (DType::U32; bits is ignored for
// the other dtypes). The affine GEMM unpacks each 32-row weight panel before use, which a few
// rows do not repay: measured on the 2-core EPYC (2026-11-26), an 8192 x 2048 matvec with 2
// threads, the row kernels loading each weight once for up to 4 rows of x: 8-bit at 12 rows
// 0.74 ms in the row kernels vs 1.12 in the GEMM; 4-bit at 16 rows 0.75 vs 0.98, at 24 1.07 vs
// 1.20, at 32 1.36 vs 1.32 (docs/kernels.md).
uint64_t gemm_min_rows(DType weight_dtype, uint32_t bits);
// Rows of x the GEMM quantizer and the bf16 packer pad to (a whole number of micro-tiles).
inline constexpr uint64_t kGemmRowPad = 16;
// Weight rows per panel of the affine int8 GEMM (two zmm of int32 lanes).
inline constexpr uint64_t kAffinePanelRows = 32;
// Weight rows per panel that the f16/bf16 GEMM widens to f32.
inline constexpr uint64_t kDensePanelRows = 64;

// Per-thread panel of the affine GEMM: kAffinePanelRows x cols u8 codes and two f32 arrays
// (scale, bias) of kAffinePanelRows per group. Groups are cols / group rounded up (the kernels
// accept whole groups only). ConfigError when group is 0 or the size overflows 64 bits.
uint64_t affine_gemm_panel_bytes(uint64_t cols, uint32_t group);

// Per-thread panel of the f16/bf16 GEMM: kDensePanelRows x cols f32. ConfigError on overflow.
uint64_t dense_gemm_panel_bytes(uint64_t cols);

// Quantized activations of n rows for an affine weight: int8 codes of n padded to kGemmRowPad
// rows, then the three f32 per-group arrays, each aligned to kLinearScratchAlign.
uint64_t affine_act_bytes(uint64_t cols, uint32_t group, uint64_t n);

// Total scratch for one linear call. weight_dtype: F32, F16, BF16, or U32 for MLX affine packed
// codes (the safetensors dtype MLX stores them as; group_size must then be non-zero; bits picks
// the GEMM threshold). threads 0 counts as 1. ConfigError for another dtype, a zero group or
// 64-bit overflow.
uint64_t linear_kernel_scratch_bytes(DType weight_dtype, uint64_t cols, uint32_t group_size,
                                     uint32_t bits, uint64_t n, uint64_t threads);

}  // namespace mlxcel
