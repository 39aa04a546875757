// The one dispatch point: a table of kernel variants per ISA level, chosen by active_isa().
// Internal to src/kernels/cpu.
#pragma once

#include <cstdint>

#include "core/linear_scratch.h"
#include "kernels/cpu/kernels.h"
#include "mlxcel/estimate.h"

namespace mlxcel::kernels {

// Activation rows quantized for affine weights: int8 per group (float scale d), plus per group
// the exact Σx (bias term) and Σq (the AVX2 8-bit kernel works on q-128 and adds 128·Σq back).
// Pointers into the caller's scratch; q has row stride q_stride bytes, the others `groups`.
struct QuantAct {
  int8_t* q = nullptr;
  float* d = nullptr;
  float* sx = nullptr;
  int32_t* sq = nullptr;
  uint64_t n = 0, cols = 0, groups = 0, q_stride = 0;
  uint32_t group = 0;
};

struct DenseArgs {
  const Weight* w;
  const float* x;
  uint64_t x_stride, n;
  float* y;
  uint64_t y_stride;
  bool accumulate;
  const uint16_t* xb = nullptr;  // x packed as bf16 by pack_x_bf16, when the level has it
};

struct AffineArgs {
  const Weight* w;
  const QuantAct* a;
  float* y;
  uint64_t y_stride;
  bool accumulate;
};

// Attention limits shared by attention() and the variant files: head dims up to
// kAttnMaxHeadDim (tiles on the worker's stack), and attn_block_tile's block of query rows.
inline constexpr uint64_t kAttnMaxHeadDim = 512;
inline constexpr uint64_t kAttnBlockRows = 16;

struct KernelTable {
  Isa isa;
  // Quantizes activation rows [m0, m1) of x into a (layout this ISA's affine kernels read).
  void (*quantize_act)(const float* x, uint64_t x_stride, const QuantAct& a, uint32_t bits,
                       uint64_t m0, uint64_t m1);
  // y rows [r0, r1) of the weight for all n activation rows (weights streamed once).
  void (*dense_rows)(const DenseArgs& args, uint64_t r0, uint64_t r1);
  void (*affine_rows)(const AffineArgs& args, uint64_t r0, uint64_t r1);
  // Blocked GEMM for large n (nullptr: not available at this level). Same contract as the row
  // kernels; `panel` is this thread's scratch of gemm_panel_bytes(w) bytes.
  void (*affine_gemm)(const AffineArgs& args, uint64_t r0, uint64_t r1, void* panel);
  void (*quantize_act_gemm)(const float* x, uint64_t x_stride, const QuantAct& a, uint32_t bits,
                            uint64_t m0, uint64_t m1);
  void (*dense_gemm)(const DenseArgs& args, uint64_t r0, uint64_t r1, void* panel);
  // BF16 weights at large n (nullptr: use dense_gemm): x rows [m0, m1) of the padded count
  // packed to bf16 pairs for dense_gemm_bf16, which then reads args.xb.
  void (*pack_x_bf16)(const float* x, uint64_t x_stride, uint64_t n, uint64_t cols, uint16_t* xb,
                      uint64_t m0, uint64_t m1);
  void (*dense_gemm_bf16)(const DenseArgs& args, uint64_t r0, uint64_t r1, void* panel);
  // Element-wise ops (n floats).
  void (*silu_mul)(const float* g, const float* u, float* o, uint64_t n);
  void (*gelu_tanh_mul)(const float* g, const float* u, float* o, uint64_t n);
  void (*softmax_row)(float* x, uint64_t n);
  float (*dot)(const float* a, const float* b, uint64_t n);
  void (*axpy)(float a, const float* x, float* y, uint64_t n);  // y += a*x
  // dst[n] = src[n] widened from F16 (is_f16) or BF16.
  void (*widen_row)(const uint16_t* src, bool is_f16, float* dst, uint64_t n);
  // Attention tiles. kv_dequant: n cache rows (row_bytes apart) of d values -> out[n][d].
  void (*kv_dequant)(KvCacheType t, const uint8_t* rows, uint64_t row_bytes, uint64_t n,
                     uint64_t d, float* out);
  // s[g*T + j] = scale * q_g · k_j for G query rows (q_stride apart) and T key rows (k_stride).
  void (*attn_scores)(const float* q, uint64_t q_stride, uint32_t G, const float* k,
                      uint64_t k_stride, uint64_t T, uint64_t d, float scale, float* s);
  // o_g += Σ_j p[g*T + j] * v_j for G output rows (o_stride apart), T value rows (v_stride).
  void (*attn_pv)(const float* p, uint64_t T, uint32_t G, const float* v, uint64_t v_stride,
                  uint64_t dv, float* o, uint64_t o_stride);
  // x[i] = exp(x[i] - mx) for n values; returns their sum.
  float (*exp_sum)(float* x, uint64_t n, float mx);
  // attn_scores / attn_pv reading the K / V rows straight from an F16 or BF16 cache (row_bytes
  // apart; d and dv multiples of 16), each row widened once for several query heads. nullptr on
  // levels without them (scalar: attention then widens tiles with kv_dequant).
  void (*attn_scores_half)(const float* q, uint64_t q_stride, uint32_t G, const uint8_t* k,
                           uint64_t k_row_bytes, uint64_t T, uint64_t d, float scale, float* s,
                           bool bf16);
  void (*attn_pv_half)(const float* p, uint64_t T, uint32_t G, const uint8_t* v,
                       uint64_t v_row_bytes, uint64_t dv, float* o, uint64_t o_stride, bool bf16);
  // One tile of n keys for a block of kAttnBlockRows = 16 query rows (row r: query r / G of the
  // block, head r % G; G divides 16): qt[c*16 + r] = scale * q_r[c] (64-byte aligned). K and V
  // rows of kind 0 (F32), 1 (F16) or 2 (BF16), k_row / v_row bytes apart; d and dv multiples of
  // 16, at most kAttnMaxHeadDim. Scores come out
  // key-major (16 rows per key, no horizontal sums), the online-softmax state m[16], l[16] is
  // updated, and output row r at o + (r / G) * o_stride + (r % G) * dv is rescaled and
  // accumulated. sT: n x 16 floats of scratch. nullptr on levels without it (scalar).
  void (*attn_block_tile)(const float* qt, const uint8_t* k, uint64_t k_row, int k_kind, const uint8_t* v,
                          uint64_t v_row, int v_kind, uint64_t n, uint64_t d, uint64_t dv, float* m, float* l,
                          float* o, uint64_t o_stride, uint32_t G, float* sT);
};

const KernelTable& kernel_table();  // for active_isa()

// Per-level tables, defined in the variant files (nullptr-free for the levels they return).
const KernelTable& scalar_table();
const KernelTable& avx2_table();
const KernelTable& avx512_table();
const KernelTable& avx512bf16_table();

// Panel sizes, gemm_min_rows and kGemmRowPad: core/linear_scratch.h (shared with the memory plan).

}  // namespace mlxcel::kernels
