// Helpers shared by the kernel variant files (internal).
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/half.h"

namespace mlxcel::kernels {

// 0 = F32, 1 = F16, 2 = BF16 (for load_as_f32).
inline int float_kind(DType t) { return t == DType::F32 ? 0 : (t == DType::F16 ? 1 : 2); }

// Row r of an affine weight: its packed codes (row_bytes each), scales and biases (groups of
// scale_bytes each).
struct AffineRow {
  const uint8_t *codes, *scales, *biases;
};
inline AffineRow affine_row(const Weight& w, uint64_t r, uint64_t row_bytes, uint64_t groups,
                            uint64_t scale_bytes) {
  return {static_cast<const uint8_t*>(w.data) + r * row_bytes,
          static_cast<const uint8_t*>(w.scales) + r * groups * scale_bytes,
          static_cast<const uint8_t*>(w.biases) + r * groups * scale_bytes};
}

// Row m of quantized activations: int8 codes, and per group d, Σx and Σq.
struct ActRow {
  const int8_t* q;
  const float *d, *sx;
  const int32_t* sq;
};
inline ActRow act_row(const QuantAct& a, uint64_t m) {
  return {a.q + m * a.q_stride, a.d + m * a.groups, a.sx + m * a.groups, a.sq + m * a.groups};
}

// The multi-row kernels over weight rows [r0, r1) and n activation rows: blocks of 16 weight
// rows, each run by fn(std::integral_constant<int, M>{}, rb, re, m0) for every group of M = MaxM
// activation rows (and one last group of the 1..MaxM-1 left) while it is still in L1/L2; the
// kernels take M as a template argument.
template <int M, class F>
inline void last_row_group(uint64_t left, uint64_t rb, uint64_t re, uint64_t m0, F& fn) {
  if constexpr (M > 0) {
    if (left == M) fn(std::integral_constant<int, M>{}, rb, re, m0);
    else last_row_group<M - 1>(left, rb, re, m0, fn);
  }
}
template <int MaxM, class F>
inline void by_row_blocks(uint64_t r0, uint64_t r1, uint64_t n, F&& fn) {
  constexpr uint64_t kRowBlock = 16;
  for (uint64_t rb = r0; rb < r1; rb += kRowBlock) {
    const uint64_t re = rb + kRowBlock < r1 ? rb + kRowBlock : r1;
    uint64_t m = 0;
    for (; m + MaxM <= n; m += MaxM) fn(std::integral_constant<int, MaxM>{}, rb, re, m);
    last_row_group<MaxM - 1>(n - m, rb, re, m, fn);
  }
}

// e^x in the SIMD kernels (exp16, exp8): x clamped to [kLo, kHi] (below kLo gives 0), n =
// round(x·log2 e), r = x − n·ln 2 in two parts (Cody-Waite), e^r by a degree-6 polynomial in
// Horner form from kPoly[0] down to r²·(...) + r + 1, then scaled by 2^n; ~2 ulp.
namespace exp_approx {
inline constexpr float kHi = 88.7f, kLo = -87.3f;
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
inline constexpr float kPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                   4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
}  // namespace exp_approx

// Runs fn(std::integral_constant<int, H>{}, g0) over G query heads in groups of 4, then 2, then 1
// (the attention tile kernels load each K/V row once per group).
template <class F>
inline void by_head_groups(uint32_t G, F&& fn) {
  uint32_t g = 0;
  for (; g + 4 <= G; g += 4) fn(std::integral_constant<int, 4>{}, g);
  if (g + 2 <= G) {
    fn(std::integral_constant<int, 2>{}, g);
    g += 2;
  }
  if (g < G) fn(std::integral_constant<int, 1>{}, g);
}

// Runs fn(std::integral_constant<int, KIND>{}) for a K/V row kind 0 (F32), 1 (F16) or 2 (BF16).
template <class F>
inline void with_row_kind(int kind, F&& fn) {
  if (kind == 0) fn(std::integral_constant<int, 0>{});
  else if (kind == 1) fn(std::integral_constant<int, 1>{});
  else fn(std::integral_constant<int, 2>{});
}

// Pointers kr[0..N) to key rows 0..n-1 (n <= N; k_row bytes apart) of kind KIND as f32: F32 rows
// in place, F16/BF16 rows widened by widen(src, dst) into buf + j * buf_stride; rows from n on
// repeat row 0 (their results are dropped).
template <int KIND, int N, class Widen>
inline void f32_key_rows(const uint8_t* k, uint64_t k_row, uint64_t n, float* buf, uint64_t buf_stride,
                         const float* kr[N], Widen&& widen) {
  for (int j = 0; j < N; ++j) {
    const uint8_t* src = k + static_cast<uint64_t>(j) * k_row;
    if (static_cast<uint64_t>(j) >= n) {
      kr[j] = kr[0];
    } else if constexpr (KIND == 0) {
      kr[j] = reinterpret_cast<const float*>(src);
    } else {
      widen(src, buf + j * buf_stride);
      kr[j] = buf + j * buf_stride;
    }
  }
}

// Bytes per element of K/V rows of kind 0 (F32), 1 (F16) or 2 (BF16).
template <int KIND>
constexpr uint64_t kv_elem_bytes() {
  return KIND == 0 ? 4 : 2;
}

// Quantizes one group of x to int8 with d = max|x|/127; returns Σx in *sx and Σq in *sq.
inline void quantize_group_scalar(const float* x, uint32_t len, int8_t* q, float* d, float* sx,
                                  int32_t* sq) {
  float amax = 0, sum = 0;
  for (uint32_t i = 0; i < len; ++i) {
    amax = std::fmax(amax, std::fabs(x[i]));
    sum += x[i];
  }
  const float dd = amax / 127.0f;
  const float id = amax > 0 ? 127.0f / amax : 0.0f;
  int32_t s = 0;
  for (uint32_t i = 0; i < len; ++i) {
    const int v = static_cast<int>(std::nearbyint(x[i] * id));
    q[i] = static_cast<int8_t>(v);
    s += v;
  }
  *d = dd;
  *sx = sum;
  *sq = s;
}

// f32 GEMM through OpenBLAS for y rows [r0, r1): f32 weights directly, f16/bf16 converted in
// panels of kDensePanelRows rows into `panel`. Used by every ISA level (OpenBLAS dispatches itself).
void dense_gemm_blas(const DenseArgs& a, uint64_t r0, uint64_t r1, void* panel);

// Scalar element-wise kernels (also the tails of the SIMD ones).
float exp_scalar(float x);
void silu_mul_scalar(const float* g, const float* u, float* o, uint64_t n);
void gelu_tanh_mul_scalar(const float* g, const float* u, float* o, uint64_t n);
void softmax_row_scalar(float* x, uint64_t n);
float dot_scalar(const float* a, const float* b, uint64_t n);
void axpy_scalar(float a, const float* x, float* y, uint64_t n);
void widen_row_scalar(const uint16_t* src, bool is_f16, float* dst, uint64_t n);
void kv_dequant_scalar(KvCacheType t, const uint8_t* rows, uint64_t row_bytes, uint64_t n,
                       uint64_t d, float* out);
void attn_scores_scalar(const float* q, uint64_t q_stride, uint32_t G, const float* k,
                        uint64_t k_stride, uint64_t T, uint64_t d, float scale, float* s);
void attn_pv_scalar(const float* p, uint64_t T, uint32_t G, const float* v, uint64_t v_stride,
                    uint64_t dv, float* o, uint64_t o_stride);
float exp_sum_scalar(float* x, uint64_t n, float mx);

}  // namespace mlxcel::kernels
