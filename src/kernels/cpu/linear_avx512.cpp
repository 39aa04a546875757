// AVX-512 (F/BW/VL/DQ + VNNI) kernel variants: matvec rows for every weight format, activation
// quantization and element-wise ops. The blocked int8 GEMM for prefill is in gemm_avx512.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/simd_avx512.h"

namespace mlxcel::kernels {

// From gemm_avx512.cpp / gemm_bf16_avx512.cpp.
void affine_gemm_avx512(const AffineArgs& args, uint64_t r0, uint64_t r1, void* panel);
void quantize_act_gemm_avx512(const float* x, uint64_t x_stride, const QuantAct& a, uint32_t bits,
                              uint64_t m0, uint64_t m1);
void pack_x_bf16_avx512(const float* x, uint64_t x_stride, uint64_t n, uint64_t cols,
                        uint16_t* xb, uint64_t m0, uint64_t m1);
void dense_gemm_bf16_avx512(const DenseArgs& a, uint64_t r0, uint64_t r1, void* panel);

namespace avx512 {
// From attn_avx512.cpp.
void kv_dequant(KvCacheType t, const uint8_t* rows, uint64_t row_bytes, uint64_t n, uint64_t d,
                float* out);
void attn_scores(const float* q, uint64_t q_stride, uint32_t G, const float* k, uint64_t k_stride,
                 uint64_t T, uint64_t d, float scale, float* s);
void attn_pv(const float* p, uint64_t T, uint32_t G, const float* v, uint64_t v_stride,
             uint64_t dv, float* o, uint64_t o_stride);
float exp_sum(float* x, uint64_t n, float mx);
void attn_scores_half(const float* q, uint64_t q_stride, uint32_t G, const uint8_t* k, uint64_t k_row,
                      uint64_t T, uint64_t d, float scale, float* s, bool bf16);
void attn_pv_half(const float* p, uint64_t T, uint32_t G, const uint8_t* v, uint64_t v_row, uint64_t dv,
                  float* o, uint64_t o_stride, bool bf16);
void attn_block_tile(const float* qt, const uint8_t* k, uint64_t k_row, int k_kind, const uint8_t* v, uint64_t v_row,
                     int v_kind, uint64_t n, uint64_t d, uint64_t dv, float* m, float* l, float* o, uint64_t o_stride,
                     uint32_t G, float* sT);

namespace {

// Reorders int8 activations in place to the order the 4-bit matvec unpacks weights in: a
// 128-element chunk (64 weight bytes, low nibbles = even elements) as [evens of 0..63, evens of
// 64..127, odds of 0..63, odds of 64..127]; a trailing 64-element chunk as [32 even, 32 odd];
// a trailing 32-element chunk as [16 even, 16 odd].
inline void permute_nibble_order(int8_t* q, uint64_t cols) {
  int8_t tmp[128];
  for (uint64_t k = 0; k < cols;) {
    const uint64_t left = cols - k;
    if (left >= 128) {
      for (uint64_t i = 0; i < 32; ++i) {
        tmp[i] = q[k + 2 * i];
        tmp[32 + i] = q[k + 64 + 2 * i];
        tmp[64 + i] = q[k + 2 * i + 1];
        tmp[96 + i] = q[k + 64 + 2 * i + 1];
      }
      std::memcpy(q + k, tmp, 128);
      k += 128;
    } else {
      const uint64_t chunk = left >= 64 ? 64 : 32;
      const uint64_t half = chunk / 2;
      for (uint64_t i = 0; i < half; ++i) {
        tmp[i] = q[k + 2 * i];
        tmp[half + i] = q[k + 2 * i + 1];
      }
      std::memcpy(q + k, tmp, chunk);
      k += chunk;
    }
  }
}

// Matvec layout: 8-bit weights read x in natural order, 4-bit weights in permute_nibble_order's.
// Groups are quantized in natural order first, then the bytes are permuted chunk by chunk.
MLXCEL_AVX512 void quantize_act(const float* x, uint64_t x_stride, const QuantAct& a,
                                uint32_t bits, uint64_t m0, uint64_t m1) {
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

// Bytes ahead of the weight stream the matvec kernels prefetch (measured: ~75% -> ~90% of the
// single-thread bandwidth for the quantized formats).
constexpr int kPrefetch = 4096;

// ---- dense rows ----

template <int KIND>
MLXCEL_AVX512_INLINE __m512 wload(const void* base, uint64_t i) {
  if constexpr (KIND == 0) return _mm512_loadu_ps(static_cast<const float*>(base) + i);
  else return load16(static_cast<const uint16_t*>(base) + i, KIND);
}

// Rows for M (2..4) activation rows at once: each 16 weights are loaded and widened once and
// used for all M rows (a small batch would otherwise widen every weight M times).
template <int KIND, int M>
MLXCEL_AVX512 void dense_rows_multi(const DenseArgs& a, uint64_t r0, uint64_t r1, uint64_t m0) {
  const Weight& w = *a.w;
  const uint64_t c = w.cols;
  const uint64_t esize = KIND == 0 ? 4 : 2;
  const uint64_t c16 = c / 16 * 16;
  const float* x[M];
  for (int j = 0; j < M; ++j) x[j] = a.x + (m0 + j) * a.x_stride;
  for (uint64_t r = r0; r < r1; ++r) {
    const auto* row = static_cast<const uint8_t*>(w.data) + r * c * esize;
    // two accumulators per activation row: the FMA latency would bound one chain per row
    __m512 acc[M], acc2[M];
    for (int j = 0; j < M; ++j) acc[j] = acc2[j] = _mm512_setzero_ps();
    const uint64_t c32 = c / 32 * 32;
    uint64_t i = 0;
    for (; i < c32; i += 32) {
      // The weight stream, 4 KiB ahead (into the next rows and row block): a block read once per
      // group of M activation rows is re-read from L2 for the next group, and that backward jump
      // stopped the hardware prefetcher (8192 x 2048 bf16 from memory, 2 threads: 4 rows took
      // 1.82 ms, 2.0x the 3-row time, before this).
      _mm_prefetch(reinterpret_cast<const char*>(row + i * esize) + kPrefetch, _MM_HINT_T0);
      if constexpr (KIND == 0)
        _mm_prefetch(reinterpret_cast<const char*>(row + i * esize) + kPrefetch + 64, _MM_HINT_T0);
      const __m512 w0 = wload<KIND>(row, i), w1 = wload<KIND>(row, i + 16);
      for (int j = 0; j < M; ++j) {
        acc[j] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x[j] + i), acc[j]);
        acc2[j] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x[j] + i + 16), acc2[j]);
      }
    }
    for (; i < c16; i += 16) {
      const __m512 wv = wload<KIND>(row, i);
      for (int j = 0; j < M; ++j) acc[j] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x[j] + i), acc[j]);
    }
    if (i < c) {
      const uint32_t n = static_cast<uint32_t>(c - i);
      const __mmask16 mk = static_cast<__mmask16>((1u << n) - 1);
      const __m512 wv = load16_tail(row + i * esize, KIND, n);
      for (int j = 0; j < M; ++j) acc[j] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mk, x[j] + i), acc[j]);
    }
    for (int j = 0; j < M; ++j) {
      const float v = hsum(_mm512_add_ps(acc[j], acc2[j]));
      float* out = a.y + (m0 + j) * a.y_stride + r;
      *out = a.accumulate ? *out + v : v;
    }
  }
}

template <int KIND>
MLXCEL_AVX512 void dense_rows_t(const DenseArgs& a, uint64_t r0, uint64_t r1) {
  const Weight& w = *a.w;
  const uint64_t c = w.cols;
  const uint64_t esize = KIND == 0 ? 4 : 2;
  const uint64_t c64 = c / 64 * 64, c16 = c / 16 * 16;
  if (a.n > 1) {
    // Several rows per pass over the weights, a block of rows at a time (kept in L1/L2 between
    // passes).
    by_row_blocks<4>(r0, r1, a.n, [&](auto M, uint64_t rb, uint64_t re, uint64_t m) {
      dense_rows_multi<KIND, M()>(a, rb, re, m);
    });
    return;
  }
  for (uint64_t r = r0; r < r1; ++r) {
    const auto* row = static_cast<const uint8_t*>(w.data) + r * c * esize;
    const float* x = a.x;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i < c64; i += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(row + i * esize) + kPrefetch, _MM_HINT_T0);
      if constexpr (KIND == 0) {
        _mm_prefetch(reinterpret_cast<const char*>(row + i * esize) + kPrefetch + 64, _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(row + i * esize) + kPrefetch + 128, _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(row + i * esize) + kPrefetch + 192, _MM_HINT_T0);
      } else {
        _mm_prefetch(reinterpret_cast<const char*>(row + i * esize) + kPrefetch + 64, _MM_HINT_T0);
      }
      s0 = _mm512_fmadd_ps(wload<KIND>(row, i), _mm512_loadu_ps(x + i), s0);
      s1 = _mm512_fmadd_ps(wload<KIND>(row, i + 16), _mm512_loadu_ps(x + i + 16), s1);
      s2 = _mm512_fmadd_ps(wload<KIND>(row, i + 32), _mm512_loadu_ps(x + i + 32), s2);
      s3 = _mm512_fmadd_ps(wload<KIND>(row, i + 48), _mm512_loadu_ps(x + i + 48), s3);
    }
    for (; i < c16; i += 16) s0 = _mm512_fmadd_ps(wload<KIND>(row, i), _mm512_loadu_ps(x + i), s0);
    if (i < c) {
      const uint32_t n = static_cast<uint32_t>(c - i);
      const __mmask16 mk = static_cast<__mmask16>((1u << n) - 1);
      s1 = _mm512_fmadd_ps(load16_tail(row + i * esize, KIND, n), _mm512_maskz_loadu_ps(mk, x + i), s1);
    }
    const float v = hsum(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    float* out = a.y + r;
    *out = a.accumulate ? *out + v : v;
  }
}

MLXCEL_AVX512 void dense_rows(const DenseArgs& a, uint64_t r0, uint64_t r1) {
  switch (a.w->dtype) {
    case DType::F32: dense_rows_t<0>(a, r0, r1); return;
    case DType::F16: dense_rows_t<1>(a, r0, r1); return;
    default: dense_rows_t<2>(a, r0, r1); return;
  }
}

// ---- affine rows (matvec) ----

// Lane factors for one 64-element chunk of an 8-bit row from per-group factors f (f[g] =
// scale_g * d_g) of the chunk's block. Lane l of the int32 dot covers elements 4l..4l+3.
template <int G>
MLXCEL_AVX512_INLINE __m512 lane_factors(const float* f, uint64_t chunk) {
  if constexpr (G == 64) {
    return _mm512_set1_ps(f[chunk]);
  } else if constexpr (G == 128) {
    return _mm512_set1_ps(f[chunk / 2]);
  } else {
    // lanes 0-7: elements 0-31 (first group), lanes 8-15: 32-63 (second)
    return _mm512_insertf32x8(_mm512_set1_ps(f[2 * chunk]), _mm256_set1_ps(f[2 * chunk + 1]), 1);
  }
}

constexpr uint64_t kGroupBlock = 64;  // groups whose factors are computed at once

// 8-bit chunks c and c+1 of a block (64 codes each, at wp / xp) into the two accumulators.
template <int G>
MLXCEL_AVX512_INLINE void q8_two_chunks(const uint8_t* wp, const int8_t* xp, const float* f, uint64_t c,
                                        __m512& acc0, __m512& acc1) {
  _mm_prefetch(reinterpret_cast<const char*>(wp) + kPrefetch, _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(wp) + kPrefetch + 64, _MM_HINT_T0);
  const __m512i i0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(wp), _mm512_loadu_si512(xp));
  const __m512i i1 =
      _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(wp + 64), _mm512_loadu_si512(xp + 64));
  acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0), lane_factors<G>(f, c), acc0);
  acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1), lane_factors<G>(f, c + 1), acc1);
}

// y[m][r] = (or +=) the lanes of the two dot accumulators and the bias accumulator.
MLXCEL_AVX512_INLINE void store_affine(const AffineArgs& args, uint64_t m, uint64_t r, __m512 acc0, __m512 acc1,
                                       __m512 bacc) {
  const float v = hsum(_mm512_add_ps(_mm512_add_ps(acc0, acc1), bacc));
  float* out = args.y + m * args.y_stride + r;
  *out = args.accumulate ? *out + v : v;
}


// For the 16-group block at g0 of one weight row and M activation rows: fv[j] = scale · d_j per
// group, and the bias term Σ bias · Σx_j added to bacc[j].
template <int KIND, int M>
MLXCEL_AVX512_INLINE void block_factors(const uint8_t* srow, const uint8_t* brow, uint64_t g0, const ActRow* act,
                                        __m512* fv, __m512* bacc) {
  constexpr uint64_t ssize = KIND == 0 ? 4 : 2;
  const __m512 sv = load16(srow + g0 * ssize, KIND), bv = load16(brow + g0 * ssize, KIND);
  for (int j = 0; j < M; ++j) {
    fv[j] = _mm512_mul_ps(sv, _mm512_loadu_ps(act[j].d + g0));
    bacc[j] = _mm512_fmadd_ps(bv, _mm512_loadu_ps(act[j].sx + g0), bacc[j]);
  }
}

// The 8-bit block path for M (1..4) activation rows at once: each 64 bytes of codes are loaded
// once for all M rows (a batched decode step would otherwise read every weight row n times).
template <int G, int KIND, int M>
MLXCEL_AVX512 __attribute__((noinline)) void affine_rows_q8_blocks_multi(const AffineArgs& args, uint64_t r0,
                                                                         uint64_t r1, uint64_t m0) {
  const Weight& w = *args.w;
  const QuantAct& a = *args.a;
  const uint64_t cols = w.cols, groups = a.groups;
  constexpr uint64_t ssize = KIND == 0 ? 4 : 2;
  constexpr uint64_t kGroups = 16;
  constexpr uint64_t kChunks = kGroups * G / 64;  // 64-element chunks per block
  ActRow act[M];
  for (int j = 0; j < M; ++j) act[j] = act_row(a, m0 + j);
  alignas(64) float f[M][kGroups];
  for (uint64_t r = r0; r < r1; ++r) {
    const auto [wrow, srow, brow] = affine_row(w, r, cols, groups, ssize);
    __m512 acc[M], bacc[M];
    for (int j = 0; j < M; ++j) acc[j] = bacc[j] = _mm512_setzero_ps();
    for (uint64_t g0 = 0; g0 < groups; g0 += kGroups) {
      __m512 fv[M];
      block_factors<KIND, M>(srow, brow, g0, act, fv, bacc);
      for (int j = 0; j < M; ++j) _mm512_store_ps(f[j], fv[j]);
      const uint8_t* wp = wrow + g0 * G;
      for (uint64_t c = 0; c < kChunks; ++c) {
        _mm_prefetch(reinterpret_cast<const char*>(wp) + kPrefetch, _MM_HINT_T0);
        const __m512i wv = _mm512_loadu_si512(wp);
        for (int j = 0; j < M; ++j) {
          const __m512i is =
              _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, _mm512_loadu_si512(act[j].q + g0 * G + c * 64));
          acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), lane_factors<G>(f[j], c), acc[j]);
        }
        wp += 64;
      }
    }
    for (int j = 0; j < M; ++j) store_affine(args, m0 + j, r, acc[j], _mm512_setzero_ps(), bacc[j]);
  }
}

// 8-bit rows whose length is a whole number of 16-group blocks, scales of one float kind: the
// common case without tail checks or a run-time kind (see affine_rows_q4_blocks).
template <int G, int KIND>
MLXCEL_AVX512 __attribute__((noinline)) void affine_rows_q8_blocks(const AffineArgs& args,
                                                                   uint64_t r0, uint64_t r1) {
  const Weight& w = *args.w;
  const QuantAct& a = *args.a;
  const uint64_t cols = w.cols, groups = a.groups;
  constexpr uint64_t ssize = KIND == 0 ? 4 : 2;
  constexpr uint64_t kGroups = 16;
  constexpr uint64_t kChunks = kGroups * G / 64;  // 64-element chunks per block
  if (a.n > 1) {
    by_row_blocks<4>(r0, r1, a.n, [&](auto M, uint64_t rb, uint64_t re, uint64_t m) {
      affine_rows_q8_blocks_multi<G, KIND, M()>(args, rb, re, m);
    });
    return;
  }
  alignas(64) float f[kGroups];
  for (uint64_t r = r0; r < r1; ++r) {
    const auto [wrow, srow, brow] = affine_row(w, r, cols, groups, ssize);
    for (uint64_t m = 0; m < a.n; ++m) {
      const auto [xq, d, sx, sq] = act_row(a, m);
      __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, bacc = acc0;
      for (uint64_t g0 = 0; g0 < groups; g0 += kGroups) {
        _mm512_store_ps(f, _mm512_mul_ps(load16(srow + g0 * ssize, KIND), _mm512_loadu_ps(d + g0)));
        bacc = _mm512_fmadd_ps(load16(brow + g0 * ssize, KIND), _mm512_loadu_ps(sx + g0), bacc);
        const uint8_t* wp = wrow + g0 * G;
        const int8_t* xp = xq + g0 * G;
        for (uint64_t c = 0; c < kChunks; c += 2) {
          q8_two_chunks<G>(wp, xp, f, c, acc0, acc1);
          wp += 128;
          xp += 128;
        }
      }
      store_affine(args, m, r, acc0, acc1, bacc);
    }
  }
}

// 8-bit rows: 64 elements (one zmm of codes) per step, two accumulators.
template <int G>
MLXCEL_AVX512 void affine_rows_q8(const AffineArgs& args, uint64_t r0, uint64_t r1) {
  const Weight& w = *args.w;
  const QuantAct& a = *args.a;
  const uint64_t cols = w.cols, groups = a.groups;
  const uint64_t row_bytes = cols;
  const int kind = float_kind(w.scale_dtype);
  const uint64_t ssize = kind == 0 ? 4 : 2;
  alignas(64) float f[kGroupBlock];
  for (uint64_t r = r0; r < r1; ++r) {
    const auto [wrow, srow, brow] = affine_row(w, r, row_bytes, groups, ssize);
    for (uint64_t m = 0; m < a.n; ++m) {
      const auto [xq, d, sx, sq] = act_row(a, m);
      __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, bacc = acc0;
      for (uint64_t g0 = 0; g0 < groups; g0 += kGroupBlock) {
        const uint64_t gn = std::min(kGroupBlock, groups - g0);
        for (uint64_t g = 0; g < gn; g += 16) {
          const uint32_t cnt = static_cast<uint32_t>(std::min<uint64_t>(16, gn - g));
          const __mmask16 mk = static_cast<__mmask16>((1u << cnt) - 1);
          const __m512 s = cnt == 16 ? load16(srow + (g0 + g) * ssize, kind)
                                     : load16_tail(srow + (g0 + g) * ssize, kind, cnt);
          const __m512 b = cnt == 16 ? load16(brow + (g0 + g) * ssize, kind)
                                     : load16_tail(brow + (g0 + g) * ssize, kind, cnt);
          _mm512_store_ps(f + g, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(mk, d + g0 + g)));
          bacc = _mm512_fmadd_ps(b, _mm512_maskz_loadu_ps(mk, sx + g0 + g), bacc);
        }
        // Elements of this block of groups, in 64-element chunks (+ one 32 tail at row end).
        const uint64_t k0 = g0 * G, k1 = std::min(cols, (g0 + gn) * G);
        const uint64_t nchunks = (k1 - k0) / 64;
        const uint8_t* wp = wrow + k0;
        const int8_t* xp = xq + k0;
        uint64_t c = 0;
        for (; c + 2 <= nchunks; c += 2) {
          q8_two_chunks<G>(wp, xp, f, c, acc0, acc1);
          wp += 128;
          xp += 128;
        }
        if (c < nchunks) {
          const __m512i i0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(wp),
                                                 _mm512_loadu_si512(xp));
          acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0), lane_factors<G>(f, c), acc0);
          wp += 64;
          xp += 64;
          ++c;
        }
        if (k0 + nchunks * 64 < k1) {
          // 32-element tail (only with G == 32 at the end of a row): one group, 8 lanes.
          const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp));
          const __m256i it = _mm256_dpbusd_epi32(_mm256_setzero_si256(), wv,
                                                 _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp)));
          const float ft = f[(k1 - 32 - k0) / G];
          acc1 = _mm512_fmadd_ps(_mm512_zextps256_ps512(_mm256_cvtepi32_ps(it)),
                                 _mm512_zextps256_ps512(_mm256_set1_ps(ft)), acc1);
        }
      }
      store_affine(args, m, r, acc0, acc1, bacc);
    }
  }
}

// Lane -> group (within a 128-element 4-bit chunk) of the int32 dot's lanes: G=32 four groups
// of 4 lanes, G=64 two of 8, G=128 one.
template <int G>
MLXCEL_AVX512_INLINE __m512i q4_lane_group() {
  if constexpr (G == 32) return _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  else if constexpr (G == 64) return _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  else return _mm512_setzero_si512();
}

// One 128-element chunk of a 4-bit row: the int32 dot as floats, and its lane factors in *fac
// (idx walks the lane -> group indices through the block's 16 factors).
template <int G>
MLXCEL_AVX512_INLINE __m512 q4_chunk(const uint8_t* wq, const int8_t* xv, __m512i mask, __m512 fv,
                                     const float* f, uint64_t c, __m512i& idx, __m512* fac) {
  _mm_prefetch(reinterpret_cast<const char*>(wq) + kPrefetch, _MM_HINT_T0);
  const __m512i wv = _mm512_loadu_si512(wq);
  const __m512i lo = _mm512_and_si512(wv, mask);
  const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(wv, 4), mask);
  __m512i is = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(xv));
  is = _mm512_dpbusd_epi32(is, hi, _mm512_loadu_si512(xv + 64));
  if constexpr (G == 128) {
    *fac = _mm512_set1_ps(f[c]);
  } else {
    *fac = _mm512_permutexvar_ps(idx, fv);
    idx = _mm512_add_epi32(idx, _mm512_set1_epi32(128 / G));
  }
  return _mm512_cvtepi32_ps(is);
}

// 4-bit chunks c and c+1 (at wq / xv) into the two accumulators (two chains: the FMA latency,
// not the loads, would otherwise bound the loop).
template <int G>
MLXCEL_AVX512_INLINE void q4_two_chunks(const uint8_t* wq, const int8_t* xv, __m512i mask, __m512 fv,
                                        const float* f, uint64_t c, __m512i& idx, __m512& acc0, __m512& acc1) {
  __m512 f0, f1;
  const __m512 v0 = q4_chunk<G>(wq, xv, mask, fv, f, c, idx, &f0);
  const __m512 v1 = q4_chunk<G>(wq + 64, xv + 128, mask, fv, f, c + 1, idx, &f1);
  acc0 = _mm512_fmadd_ps(v0, f0, acc0);
  acc1 = _mm512_fmadd_ps(v1, f1, acc1);
}

// The block path for M (1..4) activation rows at once: each 64 bytes of codes are loaded and
// split into nibbles once for all M rows (the one-row kernel below would unpack every weight n
// times in a batched decode step).
template <int G, int KIND, int M>
MLXCEL_AVX512 __attribute__((noinline)) void affine_rows_q4_blocks_multi(const AffineArgs& args, uint64_t r0,
                                                                         uint64_t r1, uint64_t m0) {
  const Weight& w = *args.w;
  const QuantAct& a = *args.a;
  const uint64_t groups = a.groups, row_bytes = w.cols / 2;
  constexpr uint64_t ssize = KIND == 0 ? 4 : 2;
  constexpr uint64_t kGroups = 16;
  constexpr uint64_t kChunks = kGroups * G / 128;  // 128-element chunks per block
  const __m512i mask = _mm512_set1_epi8(0x0f);
  const __m512i lane_group = q4_lane_group<G>();
  ActRow act[M];
  for (int j = 0; j < M; ++j) act[j] = act_row(a, m0 + j);
  alignas(64) float f[M][kGroups];
  for (uint64_t r = r0; r < r1; ++r) {
    const auto [wrow, srow, brow] = affine_row(w, r, row_bytes, groups, ssize);
    __m512 acc[M], bacc[M];
    for (int j = 0; j < M; ++j) acc[j] = bacc[j] = _mm512_setzero_ps();
    for (uint64_t g0 = 0; g0 < groups; g0 += kGroups) {
      __m512 fv[M];
      block_factors<KIND, M>(srow, brow, g0, act, fv, bacc);
      if constexpr (G == 128) {
        for (int j = 0; j < M; ++j) _mm512_store_ps(f[j], fv[j]);
      }
      const uint8_t* wp = wrow + g0 * G / 2;
      __m512i idx = lane_group;
      for (uint64_t c = 0; c < kChunks; ++c) {
        _mm_prefetch(reinterpret_cast<const char*>(wp) + kPrefetch, _MM_HINT_T0);
        const __m512i wv = _mm512_loadu_si512(wp);
        const __m512i lo = _mm512_and_si512(wv, mask);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(wv, 4), mask);
        for (int j = 0; j < M; ++j) {
          const int8_t* xp = act[j].q + g0 * G + c * 128;
          __m512i is = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(xp));
          is = _mm512_dpbusd_epi32(is, hi, _mm512_loadu_si512(xp + 64));
          __m512 fac;
          if constexpr (G == 128) fac = _mm512_set1_ps(f[j][c]);
          else fac = _mm512_permutexvar_ps(idx, fv[j]);
          acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), fac, acc[j]);
        }
        if constexpr (G != 128) idx = _mm512_add_epi32(idx, _mm512_set1_epi32(128 / G));
        wp += 64;
      }
    }
    for (int j = 0; j < M; ++j) store_affine(args, m0 + j, r, acc[j], _mm512_setzero_ps(), bacc[j]);
  }
}

// 4-bit rows whose length is a whole number of 16-group blocks (every Llama-family shape at
// G <= 128), scales of one float kind: the common case, kept apart from the general kernel below
// so that its loop carries no tail checks and no run-time kind and spills no registers
// (measured from L2 at G=64, 256 x 2048: 67 GB/s in the general kernel, 90 GB/s here).
template <int G, int KIND>
MLXCEL_AVX512 __attribute__((noinline)) void affine_rows_q4_blocks(const AffineArgs& args,
                                                                   uint64_t r0, uint64_t r1) {
  const Weight& w = *args.w;
  const QuantAct& a = *args.a;
  const uint64_t cols = w.cols, groups = a.groups;
  const uint64_t row_bytes = cols / 2;
  constexpr uint64_t ssize = KIND == 0 ? 4 : 2;
  constexpr uint64_t kGroups = 16;
  constexpr uint64_t kChunks = kGroups * G / 128;  // 128-element chunks per block
  const __m512i mask = _mm512_set1_epi8(0x0f);
  const __m512i lane_group = q4_lane_group<G>();
  if (a.n > 1) {
    // several activation rows (a batched decode step): up to 4 per pass over the weights
    by_row_blocks<4>(r0, r1, a.n, [&](auto M, uint64_t rb, uint64_t re, uint64_t m) {
      affine_rows_q4_blocks_multi<G, KIND, M()>(args, rb, re, m);
    });
    return;
  }
  alignas(64) float f[kGroups];
  // The scale and bias rows of the row the code stream's prefetch has reached (kPrefetch ahead).
  const uint64_t sb_ahead = (kPrefetch / row_bytes + 1) * groups * ssize;
  for (uint64_t r = r0; r < r1; ++r) {
    const auto [wrow, srow, brow] = affine_row(w, r, row_bytes, groups, ssize);
    for (uint64_t b = 0; b < groups * ssize; b += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(srow) + sb_ahead + b, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(brow) + sb_ahead + b, _MM_HINT_T0);
    }
    for (uint64_t m = 0; m < a.n; ++m) {
      const auto [xq, d, sx, sq] = act_row(a, m);
      // bacc starts the sum: the bias term joins the same final reduction
      __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, bacc = acc0;
      for (uint64_t g0 = 0; g0 < groups; g0 += kGroups) {
        const __m512 fv = _mm512_mul_ps(load16(srow + g0 * ssize, KIND), _mm512_loadu_ps(d + g0));
        bacc = _mm512_fmadd_ps(load16(brow + g0 * ssize, KIND), _mm512_loadu_ps(sx + g0), bacc);
        if constexpr (G == 128) _mm512_store_ps(f, fv);
        const uint8_t* wp = wrow + g0 * G / 2;
        const int8_t* xp = xq + g0 * G;
        __m512i idx = lane_group;
        for (uint64_t c = 0; c < kChunks; c += 2) {
          q4_two_chunks<G>(wp, xp, mask, fv, f, c, idx, acc0, acc1);
          wp += 128;
          xp += 256;
        }
      }
      store_affine(args, m, r, acc0, acc1, bacc);
    }
  }
}

// 4-bit rows: 128 elements (64 weight bytes, one zmm) per step. Lanes 0-7 of the int32 dot
// cover elements 0..63 of the chunk and lanes 8-15 elements 64..127 (low and high nibbles map to
// the same lanes), so per lane group: G=128 one factor, G=64 [f0 x8, f1 x8], G=32 [f0..f3 x4].
template <int G>
MLXCEL_AVX512 void affine_rows_q4(const AffineArgs& args, uint64_t r0, uint64_t r1) {
  const Weight& w = *args.w;
  const QuantAct& a = *args.a;
  const uint64_t cols = w.cols, groups = a.groups;
  const uint64_t row_bytes = cols / 2;
  const int kind = float_kind(w.scale_dtype);
  const uint64_t ssize = kind == 0 ? 4 : 2;
  constexpr uint64_t kGroups = 16;  // factors computed per block of 16 groups
  const __m512i mask = _mm512_set1_epi8(0x0f);
  const __m512i lane_group = q4_lane_group<G>();
  alignas(64) float f[kGroups];
  for (uint64_t r = r0; r < r1; ++r) {
    const auto [wrow, srow, brow] = affine_row(w, r, row_bytes, groups, ssize);
    for (uint64_t m = 0; m < a.n; ++m) {
      const auto [xq, d, sx, sq] = act_row(a, m);
      __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, bacc = acc0;
      for (uint64_t g0 = 0; g0 < groups; g0 += kGroups) {
        const uint32_t cnt = static_cast<uint32_t>(std::min<uint64_t>(kGroups, groups - g0));
        const __mmask16 mk = static_cast<__mmask16>(cnt == 16 ? 0xffff : (1u << cnt) - 1);
        const __m512 sv = cnt == 16 ? load16(srow + g0 * ssize, kind) : load16_tail(srow + g0 * ssize, kind, cnt);
        const __m512 bv = cnt == 16 ? load16(brow + g0 * ssize, kind) : load16_tail(brow + g0 * ssize, kind, cnt);
        const __m512 fv = _mm512_mul_ps(sv, _mm512_maskz_loadu_ps(mk, d + g0));
        bacc = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(mk, sx + g0), bacc);
        _mm512_store_ps(f, fv);
        const uint64_t k0 = g0 * G, k1 = std::min(cols, (g0 + cnt) * G);
        const uint8_t* wp = wrow + k0 / 2;
        const int8_t* xp = xq + k0;
        uint64_t k = k0;
        __m512i idx = lane_group;
        // two chunks per step into two accumulators (the FMA latency, not the loads, would
        // otherwise bound the loop)
        for (; k + 256 <= k1; k += 256) {
          q4_two_chunks<G>(wp, xp, mask, fv, f, (k - k0) / 128, idx, acc0, acc1);
          wp += 128;
          xp += 256;
        }
        if (k + 128 <= k1) {
          __m512 f0;
          const __m512 v0 = q4_chunk<G>(wp, xp, mask, fv, f, (k - k0) / 128, idx, &f0);
          acc0 = _mm512_fmadd_ps(v0, f0, acc0);
          wp += 64;
          xp += 128;
          k += 128;
        }
        if (k + 64 <= k1) {  // 64-element tail chunk: [32 even | 32 odd], one group (G <= 64)
          const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp));
          const __m256i m4 = _mm256_set1_epi8(0x0f);
          const __m512i wv = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(b, m4)),
                                                _mm256_and_si256(_mm256_srli_epi16(b, 4), m4), 1);
          const __m512i is = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, _mm512_loadu_si512(xp));
          __m512 fac;
          if constexpr (G == 32) {
            // lanes 0-3 / 8-11 first group, 4-7 / 12-15 second
            const uint64_t g = (k - k0) / 32;
            const __m256 h = _mm256_insertf128_ps(_mm256_set1_ps(f[g]), _mm_set1_ps(f[g + 1]), 1);
            fac = _mm512_insertf32x8(_mm512_castps256_ps512(h), h, 1);
          } else {
            fac = _mm512_set1_ps(f[(k - k0) / G]);
          }
          acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), fac, acc1);
          wp += 32;
          xp += 64;
          k += 64;
        }
        if (k < k1) {  // 32-element tail: [16 even | 16 odd], one group (G == 32)
          const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wp));
          const __m128i m4 = _mm_set1_epi8(0x0f);
          const __m256i wv = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(b, m4)),
                                                     _mm_and_si128(_mm_srli_epi16(b, 4), m4), 1);
          const __m256i it = _mm256_dpbusd_epi32(_mm256_setzero_si256(), wv,
                                                 _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp)));
          acc1 = _mm512_fmadd_ps(_mm512_zextps256_ps512(_mm256_cvtepi32_ps(it)),
                                 _mm512_zextps256_ps512(_mm256_set1_ps(f[(k - k0) / G])), acc1);
        }
      }
      store_affine(args, m, r, acc0, acc1, bacc);
    }
  }
}

// The block path for whole 16-group rows, one instantiation per (bits, group, scale kind).
template <int BITS, int G>
MLXCEL_AVX512 void affine_blocks(const AffineArgs& args, uint64_t r0, uint64_t r1) {
  switch (float_kind(args.w->scale_dtype)) {
    case 0: return BITS == 8 ? affine_rows_q8_blocks<G, 0>(args, r0, r1) : affine_rows_q4_blocks<G, 0>(args, r0, r1);
    case 1: return BITS == 8 ? affine_rows_q8_blocks<G, 1>(args, r0, r1) : affine_rows_q4_blocks<G, 1>(args, r0, r1);
    default: return BITS == 8 ? affine_rows_q8_blocks<G, 2>(args, r0, r1) : affine_rows_q4_blocks<G, 2>(args, r0, r1);
  }
}

template <int BITS, int G>
MLXCEL_AVX512 void affine_rows_g(const AffineArgs& args, uint64_t r0, uint64_t r1) {
  if (args.w->cols % (16 * G) == 0) return affine_blocks<BITS, G>(args, r0, r1);
  return BITS == 8 ? affine_rows_q8<G>(args, r0, r1) : affine_rows_q4<G>(args, r0, r1);
}

template <int BITS>
MLXCEL_AVX512 void affine_rows_bits(const AffineArgs& args, uint64_t r0, uint64_t r1) {
  switch (args.w->group_size) {
    case 32: return affine_rows_g<BITS, 32>(args, r0, r1);
    case 64: return affine_rows_g<BITS, 64>(args, r0, r1);
    default: return affine_rows_g<BITS, 128>(args, r0, r1);
  }
}

MLXCEL_AVX512 void affine_rows(const AffineArgs& args, uint64_t r0, uint64_t r1) {
  return args.w->bits == 8 ? affine_rows_bits<8>(args, r0, r1) : affine_rows_bits<4>(args, r0, r1);
}

// ---- element-wise ----

MLXCEL_AVX512 void silu_mul(const float* g, const float* u, float* o, uint64_t n) {
  uint64_t i = 0;
  const __m512 one = _mm512_set1_ps(1.0f);
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(g + i);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), v));
    _mm512_storeu_ps(o + i, _mm512_mul_ps(_mm512_div_ps(v, _mm512_add_ps(one, e)), _mm512_loadu_ps(u + i)));
  }
  silu_mul_scalar(g + i, u + i, o + i, n - i);
}

MLXCEL_AVX512 void gelu_tanh_mul(const float* g, const float* u, float* o, uint64_t n) {
  uint64_t i = 0;
  const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
  const __m512 c = _mm512_set1_ps(0.7978845608028654f), k = _mm512_set1_ps(0.044715f);
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(g + i);
    const __m512 z = _mm512_mul_ps(c, _mm512_fmadd_ps(_mm512_mul_ps(k, v), _mm512_mul_ps(v, v), v));
    // tanh(z) = 1 - 2 / (e^{2z} + 1)
    const __m512 t = _mm512_sub_ps(one, _mm512_div_ps(two, _mm512_add_ps(exp16(_mm512_add_ps(z, z)), one)));
    const __m512 r = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(one, t));
    _mm512_storeu_ps(o + i, _mm512_mul_ps(r, _mm512_loadu_ps(u + i)));
  }
  gelu_tanh_mul_scalar(g + i, u + i, o + i, n - i);
}

MLXCEL_AVX512 void softmax_row(float* x, uint64_t n) {
  if (n == 0) return;
  __m512 mx = _mm512_set1_ps(-INFINITY);
  uint64_t i = 0;
  for (; i + 16 <= n; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(x + i));
  float m = _mm512_reduce_max_ps(mx);
  for (uint64_t j = i; j < n; ++j) m = std::max(m, x[j]);
  const __m512 vm = _mm512_set1_ps(m);
  __m512 sum = _mm512_setzero_ps();
  for (i = 0; i + 16 <= n; i += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
    _mm512_storeu_ps(x + i, e);
    sum = _mm512_add_ps(sum, e);
  }
  float s = hsum(sum);
  for (uint64_t j = i; j < n; ++j) {
    x[j] = std::exp(x[j] - m);
    s += x[j];
  }
  const __m512 inv = _mm512_set1_ps(1.0f / s);
  for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
  for (uint64_t j = i; j < n; ++j) x[j] *= 1.0f / s;
}

MLXCEL_AVX512 float dot(const float* a, const float* b, uint64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0;
  uint64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i < n; i += 16) {
    const uint32_t cnt = static_cast<uint32_t>(std::min<uint64_t>(16, n - i));
    const __mmask16 mk = static_cast<__mmask16>((1u << cnt) - 1);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a + i), _mm512_maskz_loadu_ps(mk, b + i), s0);
  }
  return hsum(_mm512_add_ps(s0, s1));
}

MLXCEL_AVX512 void axpy(float a, const float* x, float* y, uint64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  for (uint64_t i = 0; i < n; i += 16) {
    const uint32_t cnt = static_cast<uint32_t>(std::min<uint64_t>(16, n - i));
    const __mmask16 mk = static_cast<__mmask16>((1u << cnt) - 1);
    _mm512_mask_storeu_ps(y + i, mk, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(mk, x + i), _mm512_maskz_loadu_ps(mk, y + i)));
  }
}

MLXCEL_AVX512 void widen_row(const uint16_t* src, bool is_f16, float* dst, uint64_t n) {
  const int kind = is_f16 ? 1 : 2;
  uint64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load16(src + i, kind));
  if (i < n) {
    const uint32_t cnt = static_cast<uint32_t>(n - i);
    _mm512_mask_storeu_ps(dst + i, static_cast<__mmask16>((1u << cnt) - 1), load16_tail(src + i, kind, cnt));
  }
}

}  // namespace
}  // namespace avx512

const KernelTable& avx512_table() {
  static const KernelTable t{
      Isa::Avx512,
      avx512::quantize_act,
      avx512::dense_rows,
      avx512::affine_rows,
      affine_gemm_avx512,
      quantize_act_gemm_avx512,
      dense_gemm_blas,
      nullptr,
      nullptr,
      avx512::silu_mul,
      avx512::gelu_tanh_mul,
      avx512::softmax_row,
      avx512::dot,
      avx512::axpy,
      avx512::widen_row,
      avx512::kv_dequant,
      avx512::attn_scores,
      avx512::attn_pv,
      avx512::exp_sum,
      avx512::attn_scores_half,
      avx512::attn_pv_half,
      avx512::attn_block_tile,
  };
  return t;
}

const KernelTable& avx512bf16_table() {
  static const KernelTable t = [] {
    KernelTable k = avx512_table();
    k.isa = Isa::Avx512Bf16;
    k.pack_x_bf16 = pack_x_bf16_avx512;
    k.dense_gemm_bf16 = dense_gemm_bf16_avx512;
    return k;
  }();
  return t;
}

}  // namespace mlxcel::kernels
