// Blocked int8 GEMM for MLX affine weights on AVX-512 VNNI (prefill chunks). A thread packs 32
// weight rows at a time into a panel ([k/4][32 rows][4 bytes], codes unpacked to u8, scales and
// biases as f32 [group][32]) and runs an 8x32 micro-kernel of vpdpbusd over each block of 8
// activation rows, which quantize_act_gemm laid out as [k/4][8 rows][4 int8] so the kernel
// broadcasts 4 bytes of a row per step. Per group the int32 sums become floats:
// y += cvt(Σq·x̂) · scale·d + bias·Σx.
#include <algorithm>
#include <cstring>

#include "kernels/cpu/simd_avx512.h"

namespace mlxcel::kernels {
namespace {

constexpr uint64_t kMR = 8;   // activation rows per micro-tile
constexpr uint64_t kNR = kAffinePanelRows;  // weight rows per panel (two zmm of int32 lanes)
static_assert(kGemmRowPad % kMR == 0, "activation padding must cover whole micro-tiles");

struct Panel {
  uint8_t* w;   // [cols/4][32][4]
  float* s;     // [groups][32]
  float* b;     // [groups][32]
};

Panel panel_layout(void* mem, uint64_t cols, uint64_t groups) {
  auto* p = static_cast<uint8_t*>(mem);
  Panel pn;
  pn.w = p;
  pn.s = reinterpret_cast<float*>(p + kNR * cols);
  pn.b = pn.s + groups * kNR;
  return pn;
}

// 64 codes of a row starting at element k as u8 in natural order (k a multiple of 64; when
// only 32 remain the upper half is zero).
template <int BITS>
MLXCEL_AVX512_INLINE __m512i load_codes(const uint8_t* row, uint64_t k, bool half) {
  if constexpr (BITS == 8) {
    return half ? _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + k)))
                : _mm512_loadu_si512(row + k);
  } else {
    const __m256i b = half ? _mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + k / 2)))
                           : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + k / 2));
    const __m256i m = _mm256_set1_epi8(0x0f);
    const __m256i lo = _mm256_and_si256(b, m), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), m);
    const __m256i u0 = _mm256_unpacklo_epi8(lo, hi), u1 = _mm256_unpackhi_epi8(lo, hi);
    // u0 = elements [0..15 | 32..47], u1 = [16..31 | 48..63] (per 128-bit lane)
    const __m256i e0 = _mm256_permute2x128_si256(u0, u1, 0x20);
    const __m256i e1 = _mm256_permute2x128_si256(u0, u1, 0x31);
    return _mm512_inserti64x4(_mm512_castsi256_si512(e0), e1, 1);
  }
}

template <int BITS>
MLXCEL_AVX512 void pack_codes(const Weight& w, uint64_t rb, uint64_t re, uint8_t* dst) {
  const uint64_t cols = w.cols, row_bytes = cols * BITS / 8;
  for (uint64_t half = 0; half < 2; ++half) {
    const uint8_t* rows[16];
    for (uint64_t i = 0; i < 16; ++i) {
      const uint64_t r = rb + half * 16 + i;
      rows[i] = r < re ? static_cast<const uint8_t*>(w.data) + r * row_bytes : nullptr;
    }
    for (uint64_t k = 0; k < cols; k += 64) {
      const bool h = cols - k < 64;
      __m512i v[16];
      for (int i = 0; i < 16; ++i) v[i] = rows[i] ? load_codes<BITS>(rows[i], k, h) : _mm512_setzero_si512();
      avx512::transpose16(v);
      const int nk4 = h ? 8 : 16;
      for (int t = 0; t < nk4; ++t) {
        _mm512_store_si512(dst + ((k / 4 + t) * kNR + half * 16) * 4, v[t]);
      }
    }
  }
}

MLXCEL_AVX512 void pack_panel(const Weight& w, uint64_t rb, uint64_t re, const Panel& pn) {
  const uint64_t groups = w.cols / w.group_size;
  const int kind = float_kind(w.scale_dtype);
  if (w.bits == 8) pack_codes<8>(w, rb, re, pn.w);
  else pack_codes<4>(w, rb, re, pn.w);
  for (uint64_t j = 0; j < kNR; ++j) {
    const uint64_t r = rb + j;
    for (uint64_t g = 0; g < groups; ++g) {
      pn.s[g * kNR + j] = r < re ? load_as_f32(w.scales, kind, r * groups + g) : 0.0f;
      pn.b[g * kNR + j] = r < re ? load_as_f32(w.biases, kind, r * groups + g) : 0.0f;
    }
  }
}

// F[8][32] (memory tile) += the tile of activation block xb (8 rows) times the panel. The inner
// step is inline asm: with intrinsics GCC 12 copies the 16 accumulators between register sets
// on every step. Each step loads 32 rows x 4 bytes of weights (two zmm) and, for each of the 8
// activation rows, broadcasts its 4 bytes from memory into vpdpbusd (u8 weights x s8 x).
#define MLXCEL_EPI(i)                                                                       \
  {                                                                                         \
    const __m512 di = _mm512_set1_ps(d[i * groups + g]);                                    \
    const __m512 xi = _mm512_set1_ps(sx[i * groups + g]);                                   \
    __m512 f0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a##i##0), _mm512_mul_ps(s0, di),         \
                                _mm512_load_ps(F + i * 32));                                \
    __m512 f1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a##i##1), _mm512_mul_ps(s1, di),         \
                                _mm512_load_ps(F + i * 32 + 16));                           \
    _mm512_store_ps(F + i * 32, _mm512_fmadd_ps(b0, xi, f0));                               \
    _mm512_store_ps(F + i * 32 + 16, _mm512_fmadd_ps(b1, xi, f1));                          \
  }

template <int G>
MLXCEL_AVX512 void micro_8x32(const int8_t* xb, const Panel& pn, const float* d, const float* sx,
                              uint64_t groups, float* F) {
  constexpr int kSteps = G / 4;
  const uint8_t* wp = pn.w;
  const int32_t* xp = reinterpret_cast<const int32_t*>(xb);
  for (uint64_t g = 0; g < groups; ++g) {
    __m512i a00 = _mm512_setzero_si512(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
            a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00,
            a61 = a00, a70 = a00, a71 = a00;
    for (int s = 0; s < kSteps; ++s) {
      __m512i w0, w1;
      __asm__(
          "vmovdqa64 0(%[wp]), %[w]\n\t"
          "vpdpbusd 0(%[xp])%{1to16%}, %[w], %[a0]\n\t"
          "vpdpbusd 4(%[xp])%{1to16%}, %[w], %[a1]\n\t"
          "vpdpbusd 8(%[xp])%{1to16%}, %[w], %[a2]\n\t"
          "vpdpbusd 12(%[xp])%{1to16%}, %[w], %[a3]\n\t"
          "vpdpbusd 16(%[xp])%{1to16%}, %[w], %[a4]\n\t"
          "vpdpbusd 20(%[xp])%{1to16%}, %[w], %[a5]\n\t"
          "vpdpbusd 24(%[xp])%{1to16%}, %[w], %[a6]\n\t"
          "vpdpbusd 28(%[xp])%{1to16%}, %[w], %[a7]\n\t"
          : [a0] "+v"(a00), [a1] "+v"(a10), [a2] "+v"(a20), [a3] "+v"(a30), [a4] "+v"(a40),
            [a5] "+v"(a50), [a6] "+v"(a60), [a7] "+v"(a70), [w] "=&v"(w0)
          : [wp] "r"(wp), [xp] "r"(xp)
          : "memory");
      __asm__(
          "vmovdqa64 64(%[wp]), %[w]\n\t"
          "vpdpbusd 0(%[xp])%{1to16%}, %[w], %[a0]\n\t"
          "vpdpbusd 4(%[xp])%{1to16%}, %[w], %[a1]\n\t"
          "vpdpbusd 8(%[xp])%{1to16%}, %[w], %[a2]\n\t"
          "vpdpbusd 12(%[xp])%{1to16%}, %[w], %[a3]\n\t"
          "vpdpbusd 16(%[xp])%{1to16%}, %[w], %[a4]\n\t"
          "vpdpbusd 20(%[xp])%{1to16%}, %[w], %[a5]\n\t"
          "vpdpbusd 24(%[xp])%{1to16%}, %[w], %[a6]\n\t"
          "vpdpbusd 28(%[xp])%{1to16%}, %[w], %[a7]\n\t"
          : [a0] "+v"(a01), [a1] "+v"(a11), [a2] "+v"(a21), [a3] "+v"(a31), [a4] "+v"(a41),
            [a5] "+v"(a51), [a6] "+v"(a61), [a7] "+v"(a71), [w] "=&v"(w1)
          : [wp] "r"(wp), [xp] "r"(xp)
          : "memory");
      wp += 128;
      xp += kMR;
    }
    const __m512 s0 = _mm512_load_ps(pn.s + g * kNR), s1 = _mm512_load_ps(pn.s + g * kNR + 16);
    const __m512 b0 = _mm512_load_ps(pn.b + g * kNR), b1 = _mm512_load_ps(pn.b + g * kNR + 16);
    MLXCEL_EPI(0) MLXCEL_EPI(1) MLXCEL_EPI(2) MLXCEL_EPI(3)
    MLXCEL_EPI(4) MLXCEL_EPI(5) MLXCEL_EPI(6) MLXCEL_EPI(7)
  }
}
#undef MLXCEL_DP
#undef MLXCEL_EPI

}  // namespace

// Rows [m0, m1) must be whole micro-tile blocks (linear() splits the work in multiples of 8).
// Each group of the block's 8 rows is quantized in natural order, then 64-element pieces are
// transposed from 8 rows x 16 words to 16 words x 8 rows with vector shuffles.
MLXCEL_AVX512 void quantize_act_gemm_avx512(const float* x, uint64_t x_stride, const QuantAct& a,
                                            uint32_t bits, uint64_t m0, uint64_t m1) {
  alignas(64) int8_t tmp[kMR][128];
  for (uint64_t b = m0 / kMR; b < (m1 + kMR - 1) / kMR; ++b) {
    auto* blk = reinterpret_cast<int32_t*>(a.q + b * kMR * a.cols);
    for (uint64_t g = 0; g < a.groups; ++g) {
      const uint64_t k0 = g * a.group;
      for (uint64_t i = 0; i < kMR; ++i) {
        const uint64_t m = b * kMR + i;
        const uint64_t gi = m * a.groups + g;
        if (m < a.n) {
          avx512::quantize_group(x + m * x_stride + k0, a.group, tmp[i], &a.d[gi], &a.sx[gi], &a.sq[gi]);
        } else {
          std::memset(tmp[i], 0, a.group);
          a.d[gi] = a.sx[gi] = 0;
          a.sq[gi] = 0;
        }
      }
      for (uint64_t c = 0; c < a.group; c += 64) {
        const bool half = a.group - c < 64;  // group 32: 8 words per row
        __m512i v[16];
        for (uint64_t i = 0; i < kMR; ++i) {
          v[i] = half ? _mm512_zextsi256_si512(_mm256_load_si256(reinterpret_cast<const __m256i*>(tmp[i] + c)))
                      : _mm512_load_si512(tmp[i] + c);
        }
        for (uint64_t i = kMR; i < 16; ++i) v[i] = _mm512_setzero_si512();
        avx512::transpose16(v);  // v[t] = word t of rows 0..7 (upper 8 lanes zero)
        int32_t* dst = blk + (k0 + c) / 4 * kMR;
        const int words = half ? 8 : 16;
        for (int t = 0; t < words; t += 2) {
          _mm512_storeu_si512(dst + t * kMR, _mm512_inserti64x4(v[t], _mm512_castsi512_si256(v[t + 1]), 1));
        }
      }
    }
  }
}

MLXCEL_AVX512 void affine_gemm_avx512(const AffineArgs& args, uint64_t r0, uint64_t r1,
                                      void* panel) {
  const Weight& w = *args.w;
  const QuantAct& a = *args.a;
  const uint64_t groups = a.groups;
  const Panel pn = panel_layout(panel, w.cols, groups);
  const uint64_t n_blocks = (a.n + kMR - 1) / kMR;
  for (uint64_t rb = r0; rb < r1; rb += kNR) {
    const uint64_t nr = std::min(kNR, r1 - rb);
    pack_panel(w, rb, r1, pn);
    const __mmask16 mk0 = static_cast<__mmask16>(nr >= 16 ? 0xffff : (1u << nr) - 1);
    const __mmask16 mk1 = static_cast<__mmask16>(nr <= 16 ? 0 : (nr >= 32 ? 0xffff : (1u << (nr - 16)) - 1));
    for (uint64_t b = 0; b < n_blocks; ++b) {
      alignas(64) float F[kMR * kNR];
      std::memset(F, 0, sizeof(F));
      const int8_t* xb = a.q + b * kMR * a.cols;
      const float* d = a.d + b * kMR * groups;
      const float* sx = a.sx + b * kMR * groups;
      switch (w.group_size) {
        case 32: micro_8x32<32>(xb, pn, d, sx, groups, F); break;
        case 64: micro_8x32<64>(xb, pn, d, sx, groups, F); break;
        default: micro_8x32<128>(xb, pn, d, sx, groups, F); break;
      }
      for (uint64_t i = 0; i < kMR; ++i) {
        const uint64_t m = b * kMR + i;
        if (m >= a.n) break;
        float* y = args.y + m * args.y_stride + rb;
        __m512 v0 = _mm512_load_ps(F + i * kNR), v1 = _mm512_load_ps(F + i * kNR + 16);
        if (args.accumulate) {
          v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(mk0, y));
          v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(mk1, y + 16));
        }
        _mm512_mask_storeu_ps(y, mk0, v0);
        _mm512_mask_storeu_ps(y + 16, mk1, v1);
      }
    }
  }
}

}  // namespace mlxcel::kernels
