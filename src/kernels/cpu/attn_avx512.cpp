// AVX-512 attention tiles: KV row dequantization, q·k scores with a 16-way transposed horizontal
// sum, p·V accumulation, and exp with running sum.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/kv_rows.h"
#include "kernels/cpu/simd_avx512.h"

namespace mlxcel::kernels::avx512 {
namespace {

MLXCEL_AVX512_INLINE __mmask16 tail_mask(uint64_t n) {
  return static_cast<__mmask16>(n >= 16 ? 0xffff : (1u << n) - 1);
}

// Lane i of the result = sum of the lanes of a[i].
MLXCEL_AVX512_INLINE __m512 hsum16(const __m512 a[16]) {
  __m512 b[8], c[4];
  for (int k = 0; k < 8; ++k) {
    b[k] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * k], a[2 * k + 1]),
                         _mm512_unpackhi_ps(a[2 * k], a[2 * k + 1]));
  }
  for (int k = 0; k < 4; ++k) {
    const __m512d x = _mm512_castps_pd(b[2 * k]), y = _mm512_castps_pd(b[2 * k + 1]);
    c[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  const __m512 e0 = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xdd));
  const __m512 e1 = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], 0x88), _mm512_shuffle_f32x4(c[2], c[3], 0xdd));
  return _mm512_add_ps(_mm512_shuffle_f32x4(e0, e1, 0x88), _mm512_shuffle_f32x4(e0, e1, 0xdd));
}

MLXCEL_AVX512_INLINE float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// 64 u8 codes of an MLX-packed 4-bit group (32 bytes; byte j = element 2j | 2j+1 << 4).
MLXCEL_AVX512_INLINE __m512i unpack_q4_64(const uint8_t* p) {
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i m = _mm256_set1_epi8(0x0f);
  const __m256i lo = _mm256_and_si256(b, m), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), m);
  const __m256i u0 = _mm256_unpacklo_epi8(lo, hi), u1 = _mm256_unpackhi_epi8(lo, hi);
  const __m256i e0 = _mm256_permute2x128_si256(u0, u1, 0x20);
  const __m256i e1 = _mm256_permute2x128_si256(u0, u1, 0x31);
  return _mm512_inserti64x4(_mm512_castsi256_si512(e0), e1, 1);
}

MLXCEL_AVX512_INLINE void affine64(__m512i q, float s, float b, float* out) {
  const __m512 vs = _mm512_set1_ps(s), vb = _mm512_set1_ps(b);
  const __m128i q0 = _mm512_extracti32x4_epi32(q, 0), q1 = _mm512_extracti32x4_epi32(q, 1);
  const __m128i q2 = _mm512_extracti32x4_epi32(q, 2), q3 = _mm512_extracti32x4_epi32(q, 3);
  _mm512_storeu_ps(out, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q0)), vs, vb));
  _mm512_storeu_ps(out + 16, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q1)), vs, vb));
  _mm512_storeu_ps(out + 32, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q2)), vs, vb));
  _mm512_storeu_ps(out + 48, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q3)), vs, vb));
}

MLXCEL_AVX512 void dequant_row(KvCacheType t, const uint8_t* p, uint64_t d, float* out) {
  switch (t) {
    case KvCacheType::F16:
    case KvCacheType::BF16: {
      const int kind = t == KvCacheType::F16 ? 1 : 2;
      uint64_t i = 0;
      for (; i + 16 <= d; i += 16) _mm512_storeu_ps(out + i, load16(p + 2 * i, kind));
      if (i < d) _mm512_mask_storeu_ps(out + i, tail_mask(d - i), load16_tail(p + 2 * i, kind, static_cast<uint32_t>(d - i)));
      return;
    }
    case KvCacheType::Q8_0:
      for (uint64_t b = 0; b < d / 32; ++b, p += 34, out += 32) {
        const __m512 s = _mm512_set1_ps(f16_at(p));
        const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
        const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18));
        _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), s));
        _mm512_storeu_ps(out + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), s));
      }
      return;
    case KvCacheType::Q4_0:
      for (uint64_t b = 0; b < d / 32; ++b, p += 18, out += 32) {
        const __m512 s = _mm512_set1_ps(f16_at(p));
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
        const __m128i m = _mm_set1_epi8(0x0f);
        const __m512i eight = _mm512_set1_epi32(8);
        const __m512i lo = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(q, m)), eight);
        const __m512i hi = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), m)), eight);
        _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_cvtepi32_ps(lo), s));
        _mm512_storeu_ps(out + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(hi), s));
      }
      return;
    case KvCacheType::Q4_1:
    case KvCacheType::Q5_0:
    case KvCacheType::Q5_1: {
      // Codes of elements j and j + 16 share byte j; q5's fifth bits come from a 32-bit mask word.
      const bool has_min = t != KvCacheType::Q5_0;
      const uint64_t bytes = t == KvCacheType::Q4_1 ? 20 : t == KvCacheType::Q5_0 ? 22 : 24;
      const uint64_t qs_at = t == KvCacheType::Q4_1 ? 4 : t == KvCacheType::Q5_0 ? 6 : 8;
      const __m128i m = _mm_set1_epi8(0x0f);
      const __m512i sixteen = _mm512_set1_epi32(16);
      for (uint64_t b = 0; b < d / 32; ++b, p += bytes, out += 32) {
        const __m512 s = _mm512_set1_ps(f16_at(p));
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + qs_at));
        __m512i lo = _mm512_cvtepu8_epi32(_mm_and_si128(q, m));
        __m512i hi = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), m));
        if (t != KvCacheType::Q4_1) {
          uint32_t qh;
          std::memcpy(&qh, p + (t == KvCacheType::Q5_0 ? 2 : 4), 4);
          lo = _mm512_mask_add_epi32(lo, static_cast<__mmask16>(qh & 0xffff), lo, sixteen);
          hi = _mm512_mask_add_epi32(hi, static_cast<__mmask16>(qh >> 16), hi, sixteen);
        }
        if (has_min) {
          const __m512 mn = _mm512_set1_ps(f16_at(p + 2));
          _mm512_storeu_ps(out, _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), s, mn));
          _mm512_storeu_ps(out + 16, _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), s, mn));
        } else {
          _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(lo, sixteen)), s));
          _mm512_storeu_ps(out + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(hi, sixteen)), s));
        }
      }
      return;
    }
    case KvCacheType::Q8:
      for (uint64_t g = 0; g < d / 64; ++g, p += 68, out += 64) {
        affine64(_mm512_loadu_si512(p), f16_at(p + 64), f16_at(p + 66), out);
      }
      return;
    case KvCacheType::Q4:
      for (uint64_t g = 0; g < d / 64; ++g, p += 36, out += 64) {
        affine64(unpack_q4_64(p), f16_at(p + 32), f16_at(p + 34), out);
      }
      return;
    case KvCacheType::F32:
      std::memcpy(out, p, d * 4);
      return;
  }
}

}  // namespace

MLXCEL_AVX512 void kv_dequant(KvCacheType t, const uint8_t* rows, uint64_t row_bytes, uint64_t n,
                              uint64_t d, float* out) {
  for (uint64_t i = 0; i < n; ++i) dequant_row(t, rows + i * row_bytes, d, out + i * d);
}

// Scores for any head dim (masked tails), each key loaded once per head.
static MLXCEL_AVX512 void attn_scores_any_dim(const float* q, uint64_t q_stride, uint32_t G, const float* k,
                                              uint64_t k_stride, uint64_t T, uint64_t d, float scale, float* s) {
  const __m512 vs = _mm512_set1_ps(scale);
  for (uint32_t g = 0; g < G; ++g) {
    const float* qg = q + g * q_stride;
    for (uint64_t j0 = 0; j0 < T; j0 += 16) {
      const uint64_t nj = std::min<uint64_t>(16, T - j0);
      __m512 acc[16];
      for (int j = 0; j < 16; ++j) acc[j] = _mm512_setzero_ps();
      for (uint64_t c = 0; c < d; c += 16) {
        const __mmask16 m = tail_mask(d - c);
        const __m512 qv = _mm512_maskz_loadu_ps(m, qg + c);
        for (uint64_t j = 0; j < nj; ++j) {
          acc[j] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k + (j0 + j) * k_stride + c), acc[j]);
        }
      }
      _mm512_mask_storeu_ps(s + g * T + j0, tail_mask(nj), _mm512_mul_ps(hsum16(acc), vs));
    }
  }
}

static MLXCEL_AVX512 void attn_pv_any_dim(const float* p, uint64_t T, uint32_t G, const float* v,
                                          uint64_t v_stride, uint64_t dv, float* o, uint64_t o_stride) {
  for (uint32_t g = 0; g < G; ++g) {
    float* og = o + g * o_stride;
    const float* pg = p + g * T;
    for (uint64_t c = 0; c < dv; c += 64) {
      const uint64_t len = std::min<uint64_t>(64, dv - c);
      const __mmask16 m0 = tail_mask(len), m1 = tail_mask(len > 16 ? len - 16 : 0);
      const __mmask16 m2 = tail_mask(len > 32 ? len - 32 : 0), m3 = tail_mask(len > 48 ? len - 48 : 0);
      __m512 o0 = _mm512_maskz_loadu_ps(m0, og + c), o1 = _mm512_maskz_loadu_ps(m1, og + c + 16);
      __m512 o2 = _mm512_maskz_loadu_ps(m2, og + c + 32), o3 = _mm512_maskz_loadu_ps(m3, og + c + 48);
      for (uint64_t j = 0; j < T; ++j) {
        const __m512 pj = _mm512_set1_ps(pg[j]);
        const float* vj = v + j * v_stride + c;
        o0 = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m0, vj), o0);
        o1 = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m1, vj + 16), o1);
        o2 = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m2, vj + 32), o2);
        o3 = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m3, vj + 48), o3);
      }
      _mm512_mask_storeu_ps(og + c, m0, o0);
      _mm512_mask_storeu_ps(og + c + 16, m1, o1);
      _mm512_mask_storeu_ps(og + c + 32, m2, o2);
      _mm512_mask_storeu_ps(og + c + 48, m3, o3);
    }
  }
}

// ---- scores and p·V with each K/V row loaded once for H heads ----
// Rows are F32 (KIND 0: the new tokens' keys in a prefill), or F16/BF16 (KIND 1 / 2) read straight
// from the cache. A widened f32 tile read once per query head ran a decode step of Llama-3.2-1B
// at 4096 keys at about half the memory bandwidth (F16 cache), and f32 keys loaded once per head
// made attention ~half of a 4096-token prefill (see attn_scores below).

namespace {

// Scores of H heads against J = 16 / H keys per step: 16 partial sums, one transpose-add.
template <int KIND, int H>
MLXCEL_AVX512 void scores_heads_h(const float* q, uint64_t q_stride, const uint8_t* k, uint64_t k_row,
                                  uint64_t T, uint64_t d, float scale, float* s, uint64_t s_stride) {
  constexpr int J = 16 / H;
  alignas(64) float lanes[16];
  for (uint64_t j0 = 0; j0 < T; j0 += J) {
    const int nj = static_cast<int>(std::min<uint64_t>(J, T - j0));
    __m512 acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
    for (uint64_t c = 0; c < d; c += 16) {
      __m512 kv[J];
      for (int j = 0; j < J; ++j) {
        kv[j] = j < nj ? load16(k + (j0 + j) * k_row + kv_elem_bytes<KIND>() * c, KIND) : _mm512_setzero_ps();
      }
      for (int h = 0; h < H; ++h) {
        const __m512 qv = _mm512_loadu_ps(q + h * q_stride + c);
        for (int j = 0; j < J; ++j) acc[h * J + j] = _mm512_fmadd_ps(qv, kv[j], acc[h * J + j]);
      }
    }
    const __m512 sums = _mm512_mul_ps(hsum16(acc), _mm512_set1_ps(scale));
    if (H == 4 && nj == J) {
      // lanes 4h..4h+3 are head h's 4 keys: one 128-bit store per head
      _mm_storeu_ps(s + j0, _mm512_extractf32x4_ps(sums, 0));
      _mm_storeu_ps(s + s_stride + j0, _mm512_extractf32x4_ps(sums, 1));
      _mm_storeu_ps(s + 2 * s_stride + j0, _mm512_extractf32x4_ps(sums, 2));
      _mm_storeu_ps(s + 3 * s_stride + j0, _mm512_extractf32x4_ps(sums, 3));
      continue;
    }
    _mm512_store_ps(lanes, sums);
    for (int h = 0; h < H; ++h) {
      for (int j = 0; j < nj; ++j) s[h * s_stride + j0 + j] = lanes[h * J + j];
    }
  }
}

// o_h += Σ_j p[h][j] · v_j for H heads, 64 output columns (4 zmm per head) at a time.
template <int KIND, int H>
MLXCEL_AVX512 void pv_heads_h(const float* p, uint64_t p_stride, uint64_t T, const uint8_t* v, uint64_t v_row,
                              uint64_t dv, float* o, uint64_t o_stride) {
  for (uint64_t c = 0; c < dv; c += 64) {
    const uint64_t len = std::min<uint64_t>(64, dv - c);  // a multiple of 16
    const int parts = static_cast<int>(len / 16);
    __m512 acc[H][4];
    for (int h = 0; h < H; ++h) {
      for (int i = 0; i < 4; ++i) acc[h][i] = i < parts ? _mm512_loadu_ps(o + h * o_stride + c + 16 * i) : _mm512_setzero_ps();
    }
    for (uint64_t j = 0; j < T; ++j) {
      const uint8_t* vj = v + j * v_row + kv_elem_bytes<KIND>() * c;
      __m512 vv[4];
      for (int i = 0; i < 4; ++i) vv[i] = i < parts ? load16(vj + 16 * kv_elem_bytes<KIND>() * i, KIND) : _mm512_setzero_ps();
      for (int h = 0; h < H; ++h) {
        const __m512 pj = _mm512_set1_ps(p[h * p_stride + j]);
        for (int i = 0; i < 4; ++i) acc[h][i] = _mm512_fmadd_ps(pj, vv[i], acc[h][i]);
      }
    }
    for (int h = 0; h < H; ++h) {
      for (int i = 0; i < parts; ++i) _mm512_storeu_ps(o + h * o_stride + c + 16 * i, acc[h][i]);
    }
  }
}

}  // namespace

MLXCEL_AVX512 void attn_scores_half(const float* q, uint64_t q_stride, uint32_t G, const uint8_t* k,
                                    uint64_t k_row, uint64_t T, uint64_t d, float scale, float* s, bool bf16) {
  by_head_groups(G, [&](auto H, uint32_t g0) {
    const float* qg = q + g0 * q_stride;
    float* sg = s + g0 * T;
    if (bf16) scores_heads_h<2, H()>(qg, q_stride, k, k_row, T, d, scale, sg, T);
    else scores_heads_h<1, H()>(qg, q_stride, k, k_row, T, d, scale, sg, T);
  });
}

MLXCEL_AVX512 void attn_pv_half(const float* p, uint64_t T, uint32_t G, const uint8_t* v, uint64_t v_row,
                                uint64_t dv, float* o, uint64_t o_stride, bool bf16) {
  by_head_groups(G, [&](auto H, uint32_t g0) {
    const float* pg = p + g0 * T;
    float* og = o + g0 * o_stride;
    if (bf16) pv_heads_h<2, H()>(pg, T, T, v, v_row, dv, og, o_stride);
    else pv_heads_h<1, H()>(pg, T, T, v, v_row, dv, og, o_stride);
  });
}

// F32 K/V rows (a prefill's new tokens): with head dims on the 16 grid, each row is loaded once for
// up to 4 heads, in the same kernels as the F16/BF16 cache rows.
MLXCEL_AVX512 void attn_scores(const float* q, uint64_t q_stride, uint32_t G, const float* k,
                               uint64_t k_stride, uint64_t T, uint64_t d, float scale, float* s) {
  if (d % 16 != 0) return attn_scores_any_dim(q, q_stride, G, k, k_stride, T, d, scale, s);
  const auto* kb = reinterpret_cast<const uint8_t*>(k);
  by_head_groups(G, [&](auto H, uint32_t g0) {
    scores_heads_h<0, H()>(q + g0 * q_stride, q_stride, kb, k_stride * 4, T, d, scale, s + g0 * T, T);
  });
}

MLXCEL_AVX512 void attn_pv(const float* p, uint64_t T, uint32_t G, const float* v, uint64_t v_stride,
                           uint64_t dv, float* o, uint64_t o_stride) {
  if (dv % 16 != 0) return attn_pv_any_dim(p, T, G, v, v_stride, dv, o, o_stride);
  const auto* vb = reinterpret_cast<const uint8_t*>(v);
  by_head_groups(G, [&](auto H, uint32_t g0) {
    pv_heads_h<0, H()>(p + g0 * T, T, T, vb, v_stride * 4, dv, o + g0 * o_stride, o_stride);
  });
}

// ---- a block of 16 query rows per K/V tile (prefill) ----
// Scores key-major: for each key, 16 rows' scores in one register from d broadcast-FMAs against
// the block's transposed queries, 8 keys in flight; no horizontal sums, and each F16/BF16 key is
// widened once per 16 rows. The softmax then runs across the 16 rows in one register.

namespace {

constexpr uint64_t kBlockRows = kAttnBlockRows;
constexpr uint64_t kMaxBlockDim = kAttnMaxHeadDim;

// d values of an F16 (KIND 1) or BF16 (2) row as f32 (d a multiple of 16).
template <int KIND>
MLXCEL_AVX512 void widen_key(const uint8_t* src, uint64_t d, float* dst) {
  for (uint64_t c = 0; c < d; c += 16) _mm512_store_ps(dst + c, load16(src + 2 * c, KIND));
}

template <int KIND>
MLXCEL_AVX512 void block_scores(const float* qt, const uint8_t* k, uint64_t k_row, uint64_t n, uint64_t d,
                                float* sT) {
  alignas(64) float kbuf[8 * kMaxBlockDim];
  for (uint64_t j0 = 0; j0 < n; j0 += 8) {
    const uint64_t nj = std::min<uint64_t>(8, n - j0);
    const float* kr[8];
    f32_key_rows<KIND, 8>(k + j0 * k_row, k_row, nj, kbuf, kMaxBlockDim, kr,
                          [d](const uint8_t* src, float* dst) { widen_key<KIND>(src, d, dst); });
    __m512 acc[8];
    for (int jj = 0; jj < 8; ++jj) acc[jj] = _mm512_setzero_ps();
    for (uint64_t c = 0; c < d; ++c) {
      const __m512 qv = _mm512_load_ps(qt + c * kBlockRows);
      for (int jj = 0; jj < 8; ++jj) acc[jj] = _mm512_fmadd_ps(_mm512_set1_ps(kr[jj][c]), qv, acc[jj]);
    }
    for (uint64_t jj = 0; jj < nj; ++jj) _mm512_storeu_ps(sT + (j0 + jj) * kBlockRows, acc[jj]);
  }
}

// Online softmax over the tile for the 16 rows at once: sT becomes the probabilities; corr is
// each row's rescale of its earlier sum and output (0 on the first tile, where m = -inf).
MLXCEL_AVX512 void block_softmax(float* sT, uint64_t n, float* m, float* l, float* corr) {
  const __m512 m_old = _mm512_loadu_ps(m);
  __m512 mx = m_old;
  for (uint64_t j = 0; j < n; ++j) mx = _mm512_max_ps(mx, _mm512_loadu_ps(sT + j * kBlockRows));
  const __m512 c = exp16(_mm512_sub_ps(m_old, mx));
  __m512 sum = _mm512_setzero_ps();
  for (uint64_t j = 0; j < n; ++j) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(sT + j * kBlockRows), mx));
    _mm512_storeu_ps(sT + j * kBlockRows, e);
    sum = _mm512_add_ps(sum, e);
  }
  _mm512_storeu_ps(l, _mm512_fmadd_ps(_mm512_loadu_ps(l), c, sum));
  _mm512_storeu_ps(m, mx);
  _mm512_storeu_ps(corr, c);
}

// o_r = corr_r * o_r + Σ_j p[j][r] · v_j, 4 rows and 64 columns per pass.
template <int KIND>
MLXCEL_AVX512 void block_pv(const float* pT, uint64_t n, const uint8_t* v, uint64_t v_row, uint64_t dv,
                            const float* corr, float* o, uint64_t o_stride, uint32_t G) {
  for (uint32_t r0 = 0; r0 < kBlockRows; r0 += 4) {
    float* orow[4];
    for (uint32_t rr = 0; rr < 4; ++rr) orow[rr] = o + (r0 + rr) / G * o_stride + (r0 + rr) % G * dv;
    for (uint64_t c = 0; c < dv; c += 64) {
      const int parts = static_cast<int>(std::min<uint64_t>(4, (dv - c) / 16));
      __m512 acc[4][4];
      for (int rr = 0; rr < 4; ++rr) {
        const __m512 cr = _mm512_set1_ps(corr[r0 + rr]);
        for (int i = 0; i < 4; ++i) {
          acc[rr][i] = i < parts ? _mm512_mul_ps(_mm512_loadu_ps(orow[rr] + c + 16 * i), cr) : _mm512_setzero_ps();
        }
      }
      for (uint64_t j = 0; j < n; ++j) {
        const uint8_t* vj = v + j * v_row + kv_elem_bytes<KIND>() * c;
        __m512 vv[4];
        for (int i = 0; i < 4; ++i) vv[i] = i < parts ? load16(vj + 16 * kv_elem_bytes<KIND>() * i, KIND) : _mm512_setzero_ps();
        for (int rr = 0; rr < 4; ++rr) {
          const __m512 pj = _mm512_set1_ps(pT[j * kBlockRows + r0 + rr]);
          for (int i = 0; i < 4; ++i) acc[rr][i] = _mm512_fmadd_ps(pj, vv[i], acc[rr][i]);
        }
      }
      for (int rr = 0; rr < 4; ++rr) {
        for (int i = 0; i < parts; ++i) _mm512_storeu_ps(orow[rr] + c + 16 * i, acc[rr][i]);
      }
    }
  }
}

}  // namespace

MLXCEL_AVX512 void attn_block_tile(const float* qt, const uint8_t* k, uint64_t k_row, int k_kind, const uint8_t* v,
                                   uint64_t v_row, int v_kind, uint64_t n, uint64_t d, uint64_t dv, float* m, float* l,
                                   float* o, uint64_t o_stride, uint32_t G, float* sT) {
  with_row_kind(k_kind, [&](auto K) { block_scores<K()>(qt, k, k_row, n, d, sT); });
  alignas(64) float corr[kBlockRows];
  block_softmax(sT, n, m, l, corr);
  with_row_kind(v_kind, [&](auto K) { block_pv<K()>(sT, n, v, v_row, dv, corr, o, o_stride, G); });
}

MLXCEL_AVX512 float exp_sum(float* x, uint64_t n, float mx) {
  const __m512 vm = _mm512_set1_ps(mx);
  __m512 sum = _mm512_setzero_ps();
  for (uint64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm));
    _mm512_mask_storeu_ps(x + i, m, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(m, e));
  }
  return hsum(sum);
}

}  // namespace mlxcel::kernels::avx512
