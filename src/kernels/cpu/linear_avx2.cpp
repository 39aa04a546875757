// AVX2 + FMA + F16C kernel variants: matvec rows for every weight format (int8 dot products with
// vpmaddubsw + vpmaddwd), activation quantization, element-wise ops and KV row widening (the
// attention tiles are in attn_avx2.cpp).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/simd_avx2.h"

namespace mlxcel::kernels {
namespace avx2 {
namespace {

// ---- activation quantization (same layout as the AVX-512 matvec) ----

MLXCEL_AVX2 void quantize_group(const float* x, uint32_t len, int8_t* q, float* d, float* sx,
                                int32_t* sq) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 amax = _mm256_setzero_ps(), sum = _mm256_setzero_ps();
  for (uint32_t i = 0; i < len; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v));
    sum = _mm256_add_ps(sum, v);
  }
  const float am = hmax(amax);
  const __m256 id = _mm256_set1_ps(am > 0 ? 127.0f / am : 0.0f);
  __m256i isum = _mm256_setzero_si256();
  for (uint32_t i = 0; i < len; i += 32) {
    const __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), id));
    const __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), id));
    const __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 16), id));
    const __m256i e = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 24), id));
    isum = _mm256_add_epi32(isum, _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(c, e)));
    // pack to int8 (in-lane packs, then fix the lane order)
    const __m256i ab = _mm256_packs_epi32(a, b), ce = _mm256_packs_epi32(c, e);
    const __m256i p = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, ce),
                                                  _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), p);
  }
  *d = am / 127.0f;
  *sx = hsum(sum);
  *sq = hsum_i32(isum);
}

inline void permute_nibble_order(int8_t* q, uint64_t cols) {
  int8_t tmp[64];
  for (uint64_t k = 0; k < cols; k += 64) {
    const uint64_t chunk = cols - k >= 64 ? 64 : 32;
    const uint64_t half = chunk / 2;
    for (uint64_t i = 0; i < half; ++i) {
      tmp[i] = q[k + 2 * i];
      tmp[half + i] = q[k + 2 * i + 1];
    }
    std::memcpy(q + k, tmp, chunk);
  }
}

MLXCEL_AVX2 void quantize_act(const float* x, uint64_t x_stride, const QuantAct& a, uint32_t bits,
                              uint64_t m0, uint64_t m1) {
  for (uint64_t m = m0; m < m1; ++m) {
    const float* xr = x + m * x_stride;
    int8_t* qr = a.q + m * a.q_stride;
    for (uint64_t g = 0; g < a.groups; ++g) {
      const uint64_t k0 = g * a.group;
      quantize_group(xr + k0, a.group, qr + k0, &a.d[m * a.groups + g], &a.sx[m * a.groups + g],
                     &a.sq[m * a.groups + g]);
    }
    if (bits == 4) permute_nibble_order(qr, a.cols);
  }
}

// ---- dense rows ----

constexpr int kPrefetch = 4096;  // bytes ahead of the weight stream (as in the AVX-512 kernels)

// Rows for M (1..3; 16 ymm registers) activation rows at once: each 8 weights are loaded and
// widened once for all M rows, where the one-row loop below widened every weight n times (bf16
// 8192 x 2048, 2 threads: 4 rows of x took 2.11 ms against 0.62 for one).
template <int KIND, int M>
MLXCEL_AVX2 void dense_rows_multi(const DenseArgs& a, uint64_t r0, uint64_t r1, uint64_t m0) {
  const Weight& w = *a.w;
  const uint64_t c = w.cols;
  const uint64_t esize = KIND == 0 ? 4 : 2;
  const uint64_t c16 = c / 16 * 16, c8 = c / 8 * 8;
  const float* x[M];
  for (int j = 0; j < M; ++j) x[j] = a.x + (m0 + j) * a.x_stride;
  for (uint64_t r = r0; r < r1; ++r) {
    const auto* row = static_cast<const uint8_t*>(w.data) + r * c * esize;
    __m256 acc[M], acc2[M];
    for (int j = 0; j < M; ++j) acc[j] = acc2[j] = _mm256_setzero_ps();
    uint64_t i = 0;
    for (; i < c16; i += 16) {
      // each 16-row block is read once per group of M rows; the jump back would stop the
      // hardware prefetcher, so the stream is prefetched here
      _mm_prefetch(reinterpret_cast<const char*>(row + i * esize) + kPrefetch, _MM_HINT_T0);
      const __m256 w0 = load8(row + i * esize, KIND), w1 = load8(row + (i + 8) * esize, KIND);
      for (int j = 0; j < M; ++j) {
        acc[j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[j] + i), acc[j]);
        acc2[j] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[j] + i + 8), acc2[j]);
      }
    }
    for (; i < c8; i += 8) {
      const __m256 wv = load8(row + i * esize, KIND);
      for (int j = 0; j < M; ++j) acc[j] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x[j] + i), acc[j]);
    }
    for (int j = 0; j < M; ++j) {
      float v = hsum(_mm256_add_ps(acc[j], acc2[j]));
      for (uint64_t k = i; k < c; ++k) v += load_as_f32(row, KIND, k) * x[j][k];
      float* out = a.y + (m0 + j) * a.y_stride + r;
      *out = a.accumulate ? *out + v : v;
    }
  }
}

template <int KIND>
MLXCEL_AVX2 void dense_rows_t(const DenseArgs& a, uint64_t r0, uint64_t r1) {
  const Weight& w = *a.w;
  const uint64_t c = w.cols;
  const uint64_t esize = KIND == 0 ? 4 : 2;
  const uint64_t c32 = c / 32 * 32, c8 = c / 8 * 8;
  if (a.n > 1) {
    // blocks of rows (kept in L1/L2 between the groups of activation rows)
    by_row_blocks<3>(r0, r1, a.n, [&](auto M, uint64_t rb, uint64_t re, uint64_t m) {
      dense_rows_multi<KIND, M()>(a, rb, re, m);
    });
    return;
  }
  for (uint64_t r = r0; r < r1; ++r) {
    const auto* row = static_cast<const uint8_t*>(w.data) + r * c * esize;
    {
      const float* x = a.x;
      __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
      uint64_t i = 0;
      for (; i < c32; i += 32) {
        s0 = _mm256_fmadd_ps(load8(row + i * esize, KIND), _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(load8(row + (i + 8) * esize, KIND), _mm256_loadu_ps(x + i + 8), s1);
        s2 = _mm256_fmadd_ps(load8(row + (i + 16) * esize, KIND), _mm256_loadu_ps(x + i + 16), s2);
        s3 = _mm256_fmadd_ps(load8(row + (i + 24) * esize, KIND), _mm256_loadu_ps(x + i + 24), s3);
      }
      for (; i < c8; i += 8) s0 = _mm256_fmadd_ps(load8(row + i * esize, KIND), _mm256_loadu_ps(x + i), s0);
      float v = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
      for (; i < c; ++i) v += load_as_f32(row, KIND, i) * x[i];
      float* out = a.y + r;
      *out = a.accumulate ? *out + v : v;
    }
  }
}

MLXCEL_AVX2 void dense_rows(const DenseArgs& a, uint64_t r0, uint64_t r1) {
  switch (a.w->dtype) {
    case DType::F32: dense_rows_t<0>(a, r0, r1); return;
    case DType::F16: dense_rows_t<1>(a, r0, r1); return;
    default: dense_rows_t<2>(a, r0, r1); return;
  }
}

// ---- affine rows ----

// Int32 lanes (each 4 consecutive bytes) of Σ q·x̂ over one chunk.
// 8-bit, 32 elements: q ^ 0x80 is q - 128 as int8; |q-128| * sign(x, q-128) keeps vpmaddubsw's
// pair sums within int16 (128*127*2), and 128·Σx̂ is added back per group.
MLXCEL_AVX2_INLINE __m256i dot32_q8(const uint8_t* w, const int8_t* x) {
  const __m256i ws = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)), _mm256_set1_epi8(static_cast<char>(0x80)));
  const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(ws, ws), _mm256_sign_epi8(xv, ws));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// 4-bit, 64 elements from 32 bytes: low nibbles (even elements) against x[0..32), high nibbles
// (odd) against x[32..64); lane l covers elements 8l..8l+7.
MLXCEL_AVX2_INLINE __m256i dot64_q4(const uint8_t* w, const int8_t* x) {
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  const __m256i m = _mm256_set1_epi8(0x0f);
  const __m256i lo = _mm256_and_si256(b, m), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), m);
  const __m256i p = _mm256_add_epi16(
      _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))),
      _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32))));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// 4-bit tail of 32 elements (16 bytes) as 4 lanes in the low half.
MLXCEL_AVX2_INLINE __m128i dot32_q4(const uint8_t* w, const int8_t* x) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w));
  const __m128i m = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
  const __m128i p = _mm_add_epi16(_mm_maddubs_epi16(lo, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x))),
                                  _mm_maddubs_epi16(hi, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 16))));
  return _mm_madd_epi16(p, _mm_set1_epi16(1));
}

constexpr uint64_t kGroupBlock = 64;

// Lane factors of 64-element 4-bit chunk c (lane l covers elements 8l..8l+7).
template <int G>
MLXCEL_AVX2_INLINE __m256 q4_factors(const float* f, uint64_t c) {
  if constexpr (G == 32) {
    return _mm256_insertf128_ps(_mm256_set1_ps(f[2 * c]), _mm_set1_ps(f[2 * c + 1]), 1);
  } else {
    return _mm256_set1_ps(f[c * 64 / G]);
  }
}

// KIND (the scales' float kind) is a template parameter: as a run-time value its branches in
// the factor loop cost 5% (8-bit) from L2.
template <int BITS, int G, int KIND>
MLXCEL_AVX2 void affine_rows_t(const AffineArgs& args, uint64_t r0, uint64_t r1) {
  const Weight& w = *args.w;
  const QuantAct& a = *args.a;
  const uint64_t cols = w.cols, groups = a.groups;
  const uint64_t row_bytes = cols * BITS / 8;
  constexpr int kind = KIND;
  constexpr uint64_t ssize = kind == 0 ? 4 : 2;
  alignas(32) float f[kGroupBlock];
  for (uint64_t r = r0; r < r1; ++r) {
    const auto [wrow, srow, brow] = affine_row(w, r, row_bytes, groups, ssize);
    for (uint64_t m = 0; m < a.n; ++m) {
      const auto [xq, d, sx, sq] = act_row(a, m);
      __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
      // Σ bias·Σx (+ the 8-bit 128·Σx̂ correction), 8 groups a lane-wise step, the rest scalar
      __m256 extra_v = _mm256_setzero_ps();
      float extra = 0;
      for (uint64_t g0 = 0; g0 < groups; g0 += kGroupBlock) {
        const uint64_t gn = std::min(kGroupBlock, groups - g0);
        uint64_t g = 0;
        // Factors 8 groups at a time: converting each scale and bias on its own (the scalar f16
        // path) cost more than the dot products (AVX2 4-bit ceiling 10.8 GB/s from L2).
        for (; g + 8 <= gn; g += 8) {
          const __m256 fv = _mm256_mul_ps(load8(srow + (g0 + g) * ssize, kind), _mm256_loadu_ps(d + g0 + g));
          _mm256_store_ps(f + g, fv);
          extra_v = _mm256_fmadd_ps(load8(brow + (g0 + g) * ssize, kind), _mm256_loadu_ps(sx + g0 + g), extra_v);
          if constexpr (BITS == 8) {
            const __m256 sqv = _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sq + g0 + g)));
            extra_v = _mm256_fmadd_ps(_mm256_mul_ps(fv, _mm256_set1_ps(128.0f)), sqv, extra_v);
          }
        }
        for (; g < gn; ++g) {
          const float s = load_as_f32(srow, kind, g0 + g), b = load_as_f32(brow, kind, g0 + g);
          f[g] = s * d[g0 + g];
          extra += b * sx[g0 + g];
          if constexpr (BITS == 8) extra += f[g] * 128.0f * static_cast<float>(sq[g0 + g]);
        }
        const uint64_t k0 = g0 * G, k1 = std::min(cols, (g0 + gn) * G);
        const uint8_t* wp = wrow + k0 * BITS / 8;
        const int8_t* xp = xq + k0;
        if constexpr (BITS == 8) {
          // 32-element chunks, one group each (G >= 32)
          for (uint64_t k = k0; k < k1; k += 64) {
            const uint64_t c = (k - k0) / 32;
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot32_q8(wp, xp)), _mm256_set1_ps(f[c * 32 / G]), acc0);
            if (k + 32 < k1) {
              acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot32_q8(wp + 32, xp + 32)),
                                     _mm256_set1_ps(f[(c + 1) * 32 / G]), acc1);
            }
            wp += 64;
            xp += 64;
          }
        } else {
          uint64_t k = k0;
          // two chunks a step into two accumulators (one chain would wait on the FMA latency)
          for (; k + 128 <= k1; k += 128) {
            const uint64_t c = (k - k0) / 64;
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot64_q4(wp, xp)), q4_factors<G>(f, c), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot64_q4(wp + 32, xp + 64)), q4_factors<G>(f, c + 1), acc1);
            wp += 64;
            xp += 128;
          }
          if (k + 64 <= k1) {
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot64_q4(wp, xp)), q4_factors<G>(f, (k - k0) / 64), acc0);
            wp += 32;
            xp += 64;
            k += 64;
          }
          if (k < k1) {  // 32-element tail (G == 32 at the end of a row)
            const __m128 t = _mm_mul_ps(_mm_cvtepi32_ps(dot32_q4(wp, xp)), _mm_set1_ps(f[(k - k0) / G]));
            const __m128 t2 = _mm_add_ps(t, _mm_movehl_ps(t, t));
            extra += _mm_cvtss_f32(_mm_add_ss(t2, _mm_movehdup_ps(t2)));
          }
        }
      }
      const float v = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), extra_v)) + extra;
      float* out = args.y + m * args.y_stride + r;
      *out = args.accumulate ? *out + v : v;
    }
  }
}

template <int BITS, int G>
MLXCEL_AVX2 void affine_rows_g(const AffineArgs& args, uint64_t r0, uint64_t r1) {
  switch (float_kind(args.w->scale_dtype)) {
    case 0: return affine_rows_t<BITS, G, 0>(args, r0, r1);
    case 1: return affine_rows_t<BITS, G, 1>(args, r0, r1);
    default: return affine_rows_t<BITS, G, 2>(args, r0, r1);
  }
}

MLXCEL_AVX2 void affine_rows(const AffineArgs& args, uint64_t r0, uint64_t r1) {
  const uint32_t bits = args.w->bits, g = args.w->group_size;
  if (bits == 8) {
    if (g == 32) return affine_rows_g<8, 32>(args, r0, r1);
    if (g == 64) return affine_rows_g<8, 64>(args, r0, r1);
    return affine_rows_g<8, 128>(args, r0, r1);
  }
  if (g == 32) return affine_rows_g<4, 32>(args, r0, r1);
  if (g == 64) return affine_rows_g<4, 64>(args, r0, r1);
  return affine_rows_g<4, 128>(args, r0, r1);
}

// ---- element-wise ----

MLXCEL_AVX2 void silu_mul(const float* g, const float* u, float* o, uint64_t n) {
  uint64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(g + i);
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), v));
    _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_div_ps(v, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
  }
  silu_mul_scalar(g + i, u + i, o + i, n - i);
}

MLXCEL_AVX2 void gelu_tanh_mul(const float* g, const float* u, float* o, uint64_t n) {
  uint64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
  const __m256 c = _mm256_set1_ps(0.7978845608028654f), k = _mm256_set1_ps(0.044715f);
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(g + i);
    const __m256 z = _mm256_mul_ps(c, _mm256_fmadd_ps(_mm256_mul_ps(k, v), _mm256_mul_ps(v, v), v));
    const __m256 t = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(exp8(_mm256_add_ps(z, z)), one)));
    const __m256 r = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(one, t));
    _mm256_storeu_ps(o + i, _mm256_mul_ps(r, _mm256_loadu_ps(u + i)));
  }
  gelu_tanh_mul_scalar(g + i, u + i, o + i, n - i);
}

MLXCEL_AVX2 float exp_sum(float* x, uint64_t n, float mx) {
  const __m256 vm = _mm256_set1_ps(mx);
  __m256 sum = _mm256_setzero_ps();
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  return hsum(sum) + exp_sum_scalar(x + i, n - i, mx);
}

MLXCEL_AVX2 void softmax_row(float* x, uint64_t n) {
  if (n == 0) return;
  float m = x[0];
  uint64_t i = 0;
  if (n >= 8) {
    __m256 mx = _mm256_loadu_ps(x);
    for (i = 8; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
    m = hmax(mx);
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  const float inv = 1.0f / exp_sum(x, n, m);
  const __m256 vi = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vi));
  for (; i < n; ++i) x[i] *= inv;
}

MLXCEL_AVX2 float dot(const float* a, const float* b, uint64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  uint64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

MLXCEL_AVX2 void axpy(float a, const float* x, float* y, uint64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

MLXCEL_AVX2 void widen_row(const uint16_t* src, bool is_f16, float* dst, uint64_t n) {
  const int kind = is_f16 ? 1 : 2;
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8(src + i, kind));
  widen_row_scalar(src + i, is_f16, dst + i, n - i);
}

MLXCEL_AVX2 void kv_dequant(KvCacheType t, const uint8_t* rows, uint64_t row_bytes, uint64_t n,
                            uint64_t d, float* out) {
  if (t != KvCacheType::F16 && t != KvCacheType::BF16) {
    kv_dequant_scalar(t, rows, row_bytes, n, d, out);
    return;
  }
  for (uint64_t r = 0; r < n; ++r) {
    widen_row(reinterpret_cast<const uint16_t*>(rows + r * row_bytes), t == KvCacheType::F16, out + r * d, d);
  }
}

}  // namespace

// From attn_avx2.cpp.
void attn_scores(const float* q, uint64_t q_stride, uint32_t G, const float* k, uint64_t k_stride,
                 uint64_t T, uint64_t d, float scale, float* s);
void attn_pv(const float* p, uint64_t T, uint32_t G, const float* v, uint64_t v_stride, uint64_t dv,
             float* o, uint64_t o_stride);
void attn_scores_half(const float* q, uint64_t q_stride, uint32_t G, const uint8_t* k, uint64_t k_row,
                      uint64_t T, uint64_t d, float scale, float* s, bool bf16);
void attn_pv_half(const float* p, uint64_t T, uint32_t G, const uint8_t* v, uint64_t v_row, uint64_t dv,
                  float* o, uint64_t o_stride, bool bf16);
void attn_block_tile(const float* qt, const uint8_t* k, uint64_t k_row, int k_kind, const uint8_t* v, uint64_t v_row,
                     int v_kind, uint64_t n, uint64_t d, uint64_t dv, float* m, float* l, float* o, uint64_t o_stride,
                     uint32_t G, float* sT);
}  // namespace avx2

const KernelTable& avx2_table() {
  static const KernelTable t{
      Isa::Avx2,         avx2::quantize_act, avx2::dense_rows,  avx2::affine_rows,
      nullptr,           nullptr,            dense_gemm_blas, nullptr, nullptr,    avx2::silu_mul,
      avx2::gelu_tanh_mul, avx2::softmax_row, avx2::dot,        avx2::axpy,
      avx2::widen_row,   avx2::kv_dequant,   avx2::attn_scores, avx2::attn_pv,
      avx2::exp_sum,     avx2::attn_scores_half, avx2::attn_pv_half, avx2::attn_block_tile,
  };
  return t;
}

}  // namespace mlxcel::kernels
