// Inline AVX-512 helpers shared by the AVX-512 variant files (internal). Every function carries
// the target attribute, so nothing here is compiled for the baseline ISA.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/common.h"

#define MLXCEL_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c,bmi2")))
#define MLXCEL_AVX512_INLINE MLXCEL_AVX512 inline __attribute__((always_inline))

namespace mlxcel::kernels::avx512 {

// 16 weights/scales of a row as floats (F32, F16 or BF16 by kind).
MLXCEL_AVX512_INLINE __m512 load16(const void* p, int kind) {
  if (kind == 0) return _mm512_loadu_ps(p);
  const __m256i h = _mm256_loadu_si256(static_cast<const __m256i*>(p));
  if (kind == 1) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// Same for the first n (< 16) elements, the rest zero.
MLXCEL_AVX512_INLINE __m512 load16_tail(const void* p, int kind, uint32_t n) {
  const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
  if (kind == 0) return _mm512_maskz_loadu_ps(m, p);
  const __m256i h = _mm256_maskz_loadu_epi16(m, p);
  if (kind == 1) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

MLXCEL_AVX512_INLINE float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

// e^x for 16 lanes (exp_approx in common.h; 2^n by scalef, which cannot overflow at n = 128).
MLXCEL_AVX512_INLINE __m512 exp16(__m512 x) {
  const __m512 hi = _mm512_set1_ps(exp_approx::kHi), lo = _mm512_set1_ps(exp_approx::kLo);
  const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
  x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(exp_approx::kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(exp_approx::kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(exp_approx::kLn2Lo), r);
  __m512 p = _mm512_set1_ps(exp_approx::kPoly[0]);
  for (int i = 1; i < 6; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(exp_approx::kPoly[i]));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  // scalef handles 2^n without integer overflow at n = 128
  const __m512 e = _mm512_scalef_ps(p, n);
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~under), e);
}

// Quantizes 16 floats with inverse scale id to int32 lanes (round to nearest even, like the
// scalar path's nearbyint).
MLXCEL_AVX512_INLINE __m512i q16(__m512 v, __m512 id) {
  return _mm512_cvtps_epi32(_mm512_mul_ps(v, id));
}

// One group of `len` (multiple of 16) floats -> int8, natural order.
MLXCEL_AVX512_INLINE void quantize_group(const float* x, uint32_t len, int8_t* q, float* d, float* sx,
                                  int32_t* sq) {
  __m512 amax = _mm512_setzero_ps(), sum = _mm512_setzero_ps();
  for (uint32_t i = 0; i < len; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    amax = _mm512_max_ps(amax, _mm512_abs_ps(v));
    sum = _mm512_add_ps(sum, v);
  }
  const float am = _mm512_reduce_max_ps(amax);
  const __m512 id = _mm512_set1_ps(am > 0 ? 127.0f / am : 0.0f);
  __m512i isum = _mm512_setzero_si512();
  for (uint32_t i = 0; i < len; i += 16) {
    const __m512i qi = q16(_mm512_loadu_ps(x + i), id);
    isum = _mm512_add_epi32(isum, qi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtsepi32_epi8(qi));
  }
  *d = am / 127.0f;
  *sx = hsum(sum);
  *sq = _mm512_reduce_add_epi32(isum);
}

// In-register transpose of a 16x16 matrix of 32-bit elements (r[i] = row i -> column i).
MLXCEL_AVX512_INLINE void transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // r[4b + j] now holds, in 128-bit lane l, elements j-th column of rows 4b..4b+3 for columns
  // 4l + j; gather lanes across the four row blocks.
  for (int j = 0; j < 4; ++j) {
    const __m512i a = _mm512_shuffle_i32x4(r[j], r[4 + j], 0x88);       // lanes 0,2 of each
    const __m512i b = _mm512_shuffle_i32x4(r[j], r[4 + j], 0xdd);       // lanes 1,3
    const __m512i c = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0x88);
    const __m512i d = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0xdd);
    t[j] = _mm512_shuffle_i32x4(a, c, 0x88);       // column j (lane 0)
    t[8 + j] = _mm512_shuffle_i32x4(a, c, 0xdd);   // column 8 + j (lane 2)
    t[4 + j] = _mm512_shuffle_i32x4(b, d, 0x88);   // column 4 + j (lane 1)
    t[12 + j] = _mm512_shuffle_i32x4(b, d, 0xdd);  // column 12 + j (lane 3)
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

}  // namespace mlxcel::kernels::avx512
