// Blocked bf16 GEMM for BF16 weights on AVX512_BF16 (prefill chunks): x is rounded to bf16 once
// per call and laid out as [k/2][8 rows][2 bf16] per block of 8 rows; each thread packs 32
// weight rows at a time as [k/2][32 rows][2 bf16] and runs an 8x32 micro-kernel of vdpbf16ps
// (f32 accumulation over the whole row).
#include <algorithm>
#include <cstring>

#include "kernels/cpu/simd_avx512.h"

#define MLXCEL_AVX512BF16 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,avx2,fma,f16c")))

namespace mlxcel::kernels {
namespace {

constexpr uint64_t kMR = 8;
constexpr uint64_t kNR = 32;

MLXCEL_AVX512 void pack_panel_bf16(const Weight& w, uint64_t rb, uint64_t re, uint32_t* dst) {
  const uint64_t cols = w.cols, k2n = cols / 2;
  const auto* base = static_cast<const uint16_t*>(w.data);
  for (uint64_t half = 0; half < 2; ++half) {
    const uint16_t* rows[16];
    for (uint64_t i = 0; i < 16; ++i) {
      const uint64_t r = rb + half * 16 + i;
      rows[i] = r < re ? base + r * cols : nullptr;
    }
    for (uint64_t k2 = 0; k2 < k2n; k2 += 16) {
      const uint64_t cnt = std::min<uint64_t>(16, k2n - k2);
      const __mmask16 m = static_cast<__mmask16>(cnt == 16 ? 0xffff : (1u << cnt) - 1);
      __m512i v[16];
      for (int i = 0; i < 16; ++i) {
        v[i] = rows[i] ? _mm512_maskz_loadu_epi32(m, rows[i] + 2 * k2) : _mm512_setzero_si512();
      }
      avx512::transpose16(v);
      for (uint64_t t = 0; t < cnt; ++t) _mm512_store_si512(dst + (k2 + t) * kNR + half * 16, v[t]);
    }
  }
}

template <int Part>
MLXCEL_AVX512BF16 inline __attribute__((always_inline)) void step8(const uint8_t* wp, const uint32_t* xp,
                                                                   __m512& a0, __m512& a1, __m512& a2,
                                                                   __m512& a3, __m512& a4, __m512& a5,
                                                                   __m512& a6, __m512& a7) {
  __m512 w;
  __asm__(
      "vmovaps %c[off](%[wp]), %[w]\n\t"
      "vdpbf16ps 0(%[xp])%{1to16%}, %[w], %[a0]\n\t"
      "vdpbf16ps 4(%[xp])%{1to16%}, %[w], %[a1]\n\t"
      "vdpbf16ps 8(%[xp])%{1to16%}, %[w], %[a2]\n\t"
      "vdpbf16ps 12(%[xp])%{1to16%}, %[w], %[a3]\n\t"
      "vdpbf16ps 16(%[xp])%{1to16%}, %[w], %[a4]\n\t"
      "vdpbf16ps 20(%[xp])%{1to16%}, %[w], %[a5]\n\t"
      "vdpbf16ps 24(%[xp])%{1to16%}, %[w], %[a6]\n\t"
      "vdpbf16ps 28(%[xp])%{1to16%}, %[w], %[a7]\n\t"
      : [a0] "+v"(a0), [a1] "+v"(a1), [a2] "+v"(a2), [a3] "+v"(a3), [a4] "+v"(a4), [a5] "+v"(a5),
        [a6] "+v"(a6), [a7] "+v"(a7), [w] "=&v"(w)
      : [wp] "r"(wp), [xp] "r"(xp), [off] "i"(Part * 64)
      : "memory");
}

// out[8][32] = the x block times the panel over k2n steps.
MLXCEL_AVX512BF16 void micro_8x32_bf16(const uint32_t* xb, const uint32_t* panel, uint64_t k2n,
                                        float* out) {
  __m512 a00 = _mm512_setzero_ps(), a10 = a00, a20 = a00, a30 = a00, a40 = a00, a50 = a00,
         a60 = a00, a70 = a00, a01 = a00, a11 = a00, a21 = a00, a31 = a00, a41 = a00, a51 = a00,
         a61 = a00, a71 = a00;
  const auto* wp = reinterpret_cast<const uint8_t*>(panel);
  const uint32_t* xp = xb;
  for (uint64_t k = 0; k < k2n; ++k) {
    step8<0>(wp, xp, a00, a10, a20, a30, a40, a50, a60, a70);
    step8<1>(wp, xp, a01, a11, a21, a31, a41, a51, a61, a71);
    wp += 128;
    xp += kMR;
  }
  const __m512 r[16] = {a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51, a60, a61, a70, a71};
  for (int i = 0; i < 16; ++i) _mm512_store_ps(out + i * 16, r[i]);
}

}  // namespace

MLXCEL_AVX512BF16 void pack_x_bf16_avx512(const float* x, uint64_t x_stride, uint64_t n,
                                          uint64_t cols, uint16_t* xb, uint64_t m0, uint64_t m1) {
  const uint64_t k2n = cols / 2;
  auto* out = reinterpret_cast<uint32_t*>(xb);
  alignas(64) uint32_t tmp[16];
  for (uint64_t m = m0; m < m1; ++m) {
    uint32_t* blk = out + (m / kMR) * kMR * k2n;
    const uint64_t i = m % kMR;
    if (m >= n) {
      for (uint64_t k2 = 0; k2 < k2n; ++k2) blk[k2 * kMR + i] = 0;
      continue;
    }
    const float* xr = x + m * x_stride;
    for (uint64_t k2 = 0; k2 < k2n; k2 += 16) {
      const uint64_t cnt = std::min<uint64_t>(16, k2n - k2);
      const __mmask16 lo = static_cast<__mmask16>(cnt >= 8 ? 0xffff : (1u << (2 * cnt)) - 1);
      const __mmask16 hi = static_cast<__mmask16>(cnt <= 8 ? 0 : (cnt == 16 ? 0xffff : (1u << (2 * (cnt - 8))) - 1));
      const __m512 a = _mm512_maskz_loadu_ps(lo, xr + 2 * k2);
      const __m512 b = _mm512_maskz_loadu_ps(hi, xr + 2 * k2 + 16);
      // 32 bf16 (round to nearest even), pairs (2j, 2j+1) form uint32 j
      _mm512_store_si512(tmp, (__m512i)_mm512_cvtne2ps_pbh(b, a));
      for (uint64_t t = 0; t < cnt; ++t) blk[(k2 + t) * kMR + i] = tmp[t];
    }
  }
}

MLXCEL_AVX512BF16 void dense_gemm_bf16_avx512(const DenseArgs& a, uint64_t r0, uint64_t r1,
                                              void* panel) {
  const Weight& w = *a.w;
  const uint64_t k2n = w.cols / 2;
  const uint64_t n_blocks = (a.n + kMR - 1) / kMR;
  auto* pn = static_cast<uint32_t*>(panel);
  const auto* xb = reinterpret_cast<const uint32_t*>(a.xb);
  alignas(64) float tile[kMR * kNR];
  for (uint64_t rb = r0; rb < r1; rb += kNR) {
    const uint64_t nr = std::min(kNR, r1 - rb);
    pack_panel_bf16(w, rb, r1, pn);
    const __mmask16 mk0 = static_cast<__mmask16>(nr >= 16 ? 0xffff : (1u << nr) - 1);
    const __mmask16 mk1 = static_cast<__mmask16>(nr <= 16 ? 0 : (nr >= 32 ? 0xffff : (1u << (nr - 16)) - 1));
    for (uint64_t b = 0; b < n_blocks; ++b) {
      micro_8x32_bf16(xb + b * kMR * k2n, pn, k2n, tile);
      for (uint64_t i = 0; i < kMR; ++i) {
        const uint64_t m = b * kMR + i;
        if (m >= a.n) break;
        float* y = a.y + m * a.y_stride + rb;
        __m512 v0 = _mm512_load_ps(tile + i * kNR), v1 = _mm512_load_ps(tile + i * kNR + 16);
        if (a.accumulate) {
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
