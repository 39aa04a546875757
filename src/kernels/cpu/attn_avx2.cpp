// AVX2 attention tiles: q·k scores and p·V accumulation with each K/V row loaded (and widened
// from F16/BF16) once for up to 4 query heads, the AVX2 counterpart of attn_avx512.cpp. Before,
// AVX2 took one dot product (and one horizontal sum) per head and key, and one read-modify-write
// of the output row per head and key: the last 512-token chunk of a 4096-token prompt spent
// 352 ms per Llama-3.2-1B layer in attention, 5x the AVX-512 time.
#include <algorithm>
#include <type_traits>

#include "kernels/cpu/simd_avx2.h"

namespace mlxcel::kernels::avx2 {
namespace {

// Lane i of the result = sum of the lanes of a[i].
MLXCEL_AVX2_INLINE __m256 hsum8(const __m256 a[8]) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  // u0 holds a0..a3 per 128-bit half, u1 a4..a7: add the halves
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// Scores of H heads against J = 8 / H keys per step: 8 partial sums, one transpose-add. d is a
// multiple of 8.
template <int KIND, int H>
MLXCEL_AVX2 void scores_heads_h(const float* q, uint64_t q_stride, const uint8_t* k, uint64_t k_row, uint64_t T,
                                uint64_t d, float scale, float* s, uint64_t s_stride) {
  constexpr int J = 8 / H;
  alignas(32) float lanes[8];
  for (uint64_t j0 = 0; j0 < T; j0 += J) {
    const int nj = static_cast<int>(std::min<uint64_t>(J, T - j0));
    __m256 acc[8];
    for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_ps();
    for (uint64_t c = 0; c < d; c += 8) {
      __m256 kv[J];
      for (int j = 0; j < J; ++j) {
        kv[j] = j < nj ? load8(k + (j0 + j) * k_row + kv_elem_bytes<KIND>() * c, KIND) : _mm256_setzero_ps();
      }
      for (int h = 0; h < H; ++h) {
        const __m256 qv = _mm256_loadu_ps(q + h * q_stride + c);
        for (int j = 0; j < J; ++j) acc[h * J + j] = _mm256_fmadd_ps(qv, kv[j], acc[h * J + j]);
      }
    }
    _mm256_store_ps(lanes, _mm256_mul_ps(hsum8(acc), _mm256_set1_ps(scale)));
    for (int h = 0; h < H; ++h) {
      for (int j = 0; j < nj; ++j) s[h * s_stride + j0 + j] = lanes[h * J + j];
    }
  }
}

// o_h += Σ_j p[h][j] · v_j for H heads, P ymm (8 columns each) per head at a time (16 registers:
// H × P accumulators + P value vectors + the broadcast). dv is a multiple of 8.
template <int KIND, int H>
MLXCEL_AVX2 void pv_heads_h(const float* p, uint64_t p_stride, uint64_t T, const uint8_t* v, uint64_t v_row,
                            uint64_t dv, float* o, uint64_t o_stride) {
  constexpr int P = H == 4 ? 2 : 4;
  for (uint64_t c = 0; c < dv; c += 8 * P) {
    const int parts = static_cast<int>(std::min<uint64_t>(P, (dv - c) / 8));
    __m256 acc[H][P];
    for (int h = 0; h < H; ++h) {
      for (int i = 0; i < P; ++i) acc[h][i] = i < parts ? _mm256_loadu_ps(o + h * o_stride + c + 8 * i) : _mm256_setzero_ps();
    }
    for (uint64_t j = 0; j < T; ++j) {
      const uint8_t* vj = v + j * v_row + kv_elem_bytes<KIND>() * c;
      __m256 vv[P];
      for (int i = 0; i < P; ++i) vv[i] = i < parts ? load8(vj + 8 * kv_elem_bytes<KIND>() * i, KIND) : _mm256_setzero_ps();
      for (int h = 0; h < H; ++h) {
        const __m256 pj = _mm256_set1_ps(p[h * p_stride + j]);
        for (int i = 0; i < P; ++i) acc[h][i] = _mm256_fmadd_ps(pj, vv[i], acc[h][i]);
      }
    }
    for (int h = 0; h < H; ++h) {
      for (int i = 0; i < parts; ++i) _mm256_storeu_ps(o + h * o_stride + c + 8 * i, acc[h][i]);
    }
  }
}

// Head dims off the 8 grid: one dot product per head and key.
MLXCEL_AVX2 void scores_any_dim(const float* q, uint64_t q_stride, uint32_t G, const float* k, uint64_t k_stride,
                                uint64_t T, uint64_t d, float scale, float* s) {
  for (uint32_t g = 0; g < G; ++g) {
    for (uint64_t j = 0; j < T; ++j) {
      const float* qg = q + g * q_stride;
      const float* kj = k + j * k_stride;
      __m256 acc = _mm256_setzero_ps();
      uint64_t i = 0;
      for (; i + 8 <= d; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(qg + i), _mm256_loadu_ps(kj + i), acc);
      float dot = hsum(acc);
      for (; i < d; ++i) dot += qg[i] * kj[i];
      s[g * T + j] = dot * scale;
    }
  }
}

MLXCEL_AVX2 void pv_any_dim(const float* p, uint64_t T, uint32_t G, const float* v, uint64_t v_stride, uint64_t dv,
                            float* o, uint64_t o_stride) {
  for (uint32_t g = 0; g < G; ++g) {
    float* og = o + g * o_stride;
    for (uint64_t j = 0; j < T; ++j) {
      const float pj = p[g * T + j];
      const float* vj = v + j * v_stride;
      const __m256 a = _mm256_set1_ps(pj);
      uint64_t i = 0;
      for (; i + 8 <= dv; i += 8) _mm256_storeu_ps(og + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(vj + i), _mm256_loadu_ps(og + i)));
      for (; i < dv; ++i) og[i] += pj * vj[i];
    }
  }
}

// ---- a block of 16 query rows per K/V tile (prefill); see attn_avx512.cpp ----
// The 16 rows are two registers here: scores for 4 keys in flight (8 accumulators).

constexpr uint64_t kBlockRows = kAttnBlockRows;
constexpr uint64_t kMaxBlockDim = kAttnMaxHeadDim;

// d values of an F16 (KIND 1) or BF16 (2) row as f32 (d a multiple of 8).
template <int KIND>
MLXCEL_AVX2 void widen_key(const uint8_t* src, uint64_t d, float* dst) {
  for (uint64_t c = 0; c < d; c += 8) _mm256_store_ps(dst + c, load8(src + 2 * c, KIND));
}

template <int KIND>
MLXCEL_AVX2 void block_scores(const float* qt, const uint8_t* k, uint64_t k_row, uint64_t n, uint64_t d,
                              float* sT) {
  alignas(32) float kbuf[4 * kMaxBlockDim];
  for (uint64_t j0 = 0; j0 < n; j0 += 4) {
    const uint64_t nj = std::min<uint64_t>(4, n - j0);
    const float* kr[4];
    f32_key_rows<KIND, 4>(k + j0 * k_row, k_row, nj, kbuf, kMaxBlockDim, kr,
                          [d](const uint8_t* src, float* dst) { widen_key<KIND>(src, d, dst); });
    __m256 lo[4], hi[4];
    for (int jj = 0; jj < 4; ++jj) lo[jj] = hi[jj] = _mm256_setzero_ps();
    for (uint64_t c = 0; c < d; ++c) {
      const __m256 q0 = _mm256_load_ps(qt + c * kBlockRows), q1 = _mm256_load_ps(qt + c * kBlockRows + 8);
      for (int jj = 0; jj < 4; ++jj) {
        const __m256 kc = _mm256_broadcast_ss(kr[jj] + c);
        lo[jj] = _mm256_fmadd_ps(kc, q0, lo[jj]);
        hi[jj] = _mm256_fmadd_ps(kc, q1, hi[jj]);
      }
    }
    for (uint64_t jj = 0; jj < nj; ++jj) {
      _mm256_storeu_ps(sT + (j0 + jj) * kBlockRows, lo[jj]);
      _mm256_storeu_ps(sT + (j0 + jj) * kBlockRows + 8, hi[jj]);
    }
  }
}

// Online softmax over the tile for the 16 rows (two halves of 8).
MLXCEL_AVX2 void block_softmax(float* sT, uint64_t n, float* m, float* l, float* corr) {
  for (int h = 0; h < 2; ++h) {
    const __m256 m_old = _mm256_loadu_ps(m + 8 * h);
    __m256 mx = m_old;
    for (uint64_t j = 0; j < n; ++j) mx = _mm256_max_ps(mx, _mm256_loadu_ps(sT + j * kBlockRows + 8 * h));
    const __m256 c = exp8(_mm256_sub_ps(m_old, mx));
    __m256 sum = _mm256_setzero_ps();
    for (uint64_t j = 0; j < n; ++j) {
      float* sj = sT + j * kBlockRows + 8 * h;
      const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(sj), mx));
      _mm256_storeu_ps(sj, e);
      sum = _mm256_add_ps(sum, e);
    }
    _mm256_storeu_ps(l + 8 * h, _mm256_fmadd_ps(_mm256_loadu_ps(l + 8 * h), c, sum));
    _mm256_storeu_ps(m + 8 * h, mx);
    _mm256_storeu_ps(corr + 8 * h, c);
  }
}

// o_r = corr_r * o_r + Σ_j p[j][r] · v_j, 4 rows and 32 columns per pass.
template <int KIND>
MLXCEL_AVX2 void block_pv(const float* pT, uint64_t n, const uint8_t* v, uint64_t v_row, uint64_t dv,
                          const float* corr, float* o, uint64_t o_stride, uint32_t G) {
  for (uint32_t r0 = 0; r0 < kBlockRows; r0 += 4) {
    float* orow[4];
    for (uint32_t rr = 0; rr < 4; ++rr) orow[rr] = o + (r0 + rr) / G * o_stride + (r0 + rr) % G * dv;
    for (uint64_t c = 0; c < dv; c += 16) {
      // dv is a multiple of 16: two registers per row
      __m256 acc[4][2];
      for (int rr = 0; rr < 4; ++rr) {
        const __m256 cr = _mm256_set1_ps(corr[r0 + rr]);
        for (int i = 0; i < 2; ++i) acc[rr][i] = _mm256_mul_ps(_mm256_loadu_ps(orow[rr] + c + 8 * i), cr);
      }
      for (uint64_t j = 0; j < n; ++j) {
        const uint8_t* vj = v + j * v_row + kv_elem_bytes<KIND>() * c;
        const __m256 v0 = load8(vj, KIND), v1 = load8(vj + 8 * kv_elem_bytes<KIND>(), KIND);
        for (int rr = 0; rr < 4; ++rr) {
          const __m256 pj = _mm256_broadcast_ss(pT + j * kBlockRows + r0 + rr);
          acc[rr][0] = _mm256_fmadd_ps(pj, v0, acc[rr][0]);
          acc[rr][1] = _mm256_fmadd_ps(pj, v1, acc[rr][1]);
        }
      }
      for (int rr = 0; rr < 4; ++rr) {
        for (int i = 0; i < 2; ++i) _mm256_storeu_ps(orow[rr] + c + 8 * i, acc[rr][i]);
      }
    }
  }
}

}  // namespace

MLXCEL_AVX2 void attn_block_tile(const float* qt, const uint8_t* k, uint64_t k_row, int k_kind, const uint8_t* v,
                                 uint64_t v_row, int v_kind, uint64_t n, uint64_t d, uint64_t dv, float* m, float* l,
                                 float* o, uint64_t o_stride, uint32_t G, float* sT) {
  with_row_kind(k_kind, [&](auto K) { block_scores<K()>(qt, k, k_row, n, d, sT); });
  alignas(32) float corr[kBlockRows];
  block_softmax(sT, n, m, l, corr);
  with_row_kind(v_kind, [&](auto K) { block_pv<K()>(sT, n, v, v_row, dv, corr, o, o_stride, G); });
}

MLXCEL_AVX2 void attn_scores(const float* q, uint64_t q_stride, uint32_t G, const float* k, uint64_t k_stride,
                             uint64_t T, uint64_t d, float scale, float* s) {
  if (d % 8 != 0) return scores_any_dim(q, q_stride, G, k, k_stride, T, d, scale, s);
  const auto* kb = reinterpret_cast<const uint8_t*>(k);
  by_head_groups(G, [&](auto H, uint32_t g0) {
    scores_heads_h<0, H()>(q + g0 * q_stride, q_stride, kb, k_stride * 4, T, d, scale, s + g0 * T, T);
  });
}

MLXCEL_AVX2 void attn_pv(const float* p, uint64_t T, uint32_t G, const float* v, uint64_t v_stride, uint64_t dv,
                         float* o, uint64_t o_stride) {
  if (dv % 8 != 0) return pv_any_dim(p, T, G, v, v_stride, dv, o, o_stride);
  const auto* vb = reinterpret_cast<const uint8_t*>(v);
  by_head_groups(G, [&](auto H, uint32_t g0) {
    pv_heads_h<0, H()>(p + g0 * T, T, T, vb, v_stride * 4, dv, o + g0 * o_stride, o_stride);
  });
}

MLXCEL_AVX2 void attn_scores_half(const float* q, uint64_t q_stride, uint32_t G, const uint8_t* k, uint64_t k_row,
                                  uint64_t T, uint64_t d, float scale, float* s, bool bf16) {
  by_head_groups(G, [&](auto H, uint32_t g0) {
    const float* qg = q + g0 * q_stride;
    float* sg = s + g0 * T;
    if (bf16) scores_heads_h<2, H()>(qg, q_stride, k, k_row, T, d, scale, sg, T);
    else scores_heads_h<1, H()>(qg, q_stride, k, k_row, T, d, scale, sg, T);
  });
}

MLXCEL_AVX2 void attn_pv_half(const float* p, uint64_t T, uint32_t G, const uint8_t* v, uint64_t v_row, uint64_t dv,
                              float* o, uint64_t o_stride, bool bf16) {
  by_head_groups(G, [&](auto H, uint32_t g0) {
    const float* pg = p + g0 * T;
    float* og = o + g0 * o_stride;
    if (bf16) pv_heads_h<2, H()>(pg, T, T, v, v_row, dv, og, o_stride);
    else pv_heads_h<1, H()>(pg, T, T, v, v_row, dv, og, o_stride);
  });
}

}  // namespace mlxcel::kernels::avx2
