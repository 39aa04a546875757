// Scalar kernel variants: the fallback for CPUs without AVX2, and the reference the SIMD
// variants are tested against (same quantization of activations, integer dot products).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/common.h"

namespace mlxcel::kernels {
namespace {

void quantize_act(const float* x, uint64_t x_stride, const QuantAct& a, uint32_t bits, uint64_t m0,
                  uint64_t m1) {
  for (uint64_t m = m0; m < m1; ++m) {
    for (uint64_t g = 0; g < a.groups; ++g) {
      const uint64_t k = g * a.group;
      quantize_group_scalar(x + m * x_stride + k, a.group, a.q + m * a.q_stride + k,
                            &a.d[m * a.groups + g], &a.sx[m * a.groups + g],
                            &a.sq[m * a.groups + g]);
    }
  }
}

void dense_rows(const DenseArgs& a, uint64_t r0, uint64_t r1) {
  const Weight& w = *a.w;
  const uint64_t c = w.cols;
  for (uint64_t r = r0; r < r1; ++r) {
    for (uint64_t m = 0; m < a.n; ++m) {
      const float* x = a.x + m * a.x_stride;
      float acc = 0;
      if (w.dtype == DType::F32) {
        const float* p = static_cast<const float*>(w.data) + r * c;
        for (uint64_t i = 0; i < c; ++i) acc += p[i] * x[i];
      } else if (w.dtype == DType::F16) {
        const auto* p = static_cast<const uint16_t*>(w.data) + r * c;
        for (uint64_t i = 0; i < c; ++i) acc += f16_to_f32(p[i]) * x[i];
      } else {
        const auto* p = static_cast<const uint16_t*>(w.data) + r * c;
        for (uint64_t i = 0; i < c; ++i) acc += bf16_to_f32(p[i]) * x[i];
      }
      float* out = a.y + m * a.y_stride + r;
      *out = a.accumulate ? *out + acc : acc;
    }
  }
}

void affine_rows(const AffineArgs& args, uint64_t r0, uint64_t r1) {
  const Weight& w = *args.w;
  const QuantAct& a = *args.a;
  const uint64_t row_bytes = w.cols * w.bits / 8;
  const int kind = float_kind(w.scale_dtype);
  for (uint64_t r = r0; r < r1; ++r) {
    const auto* wq = static_cast<const uint8_t*>(w.data) + r * row_bytes;
    for (uint64_t m = 0; m < a.n; ++m) {
      const int8_t* xq = a.q + m * a.q_stride;
      float acc = 0;
      for (uint64_t g = 0; g < a.groups; ++g) {
        int32_t isum = 0;
        const uint64_t k0 = g * a.group, k1 = k0 + a.group;
        if (w.bits == 8) {
          for (uint64_t k = k0; k < k1; ++k) isum += static_cast<int32_t>(wq[k]) * xq[k];
        } else {
          for (uint64_t k = k0; k < k1; k += 2) {
            const uint8_t b = wq[k / 2];
            isum += static_cast<int32_t>(b & 0xf) * xq[k] + static_cast<int32_t>(b >> 4) * xq[k + 1];
          }
        }
        const float s = load_as_f32(w.scales, kind, r * a.groups + g);
        const float bias = load_as_f32(w.biases, kind, r * a.groups + g);
        acc += s * a.d[m * a.groups + g] * static_cast<float>(isum) + bias * a.sx[m * a.groups + g];
      }
      float* out = args.y + m * args.y_stride + r;
      *out = args.accumulate ? *out + acc : acc;
    }
  }
}

}  // namespace

float exp_scalar(float x) { return std::exp(x); }

void silu_mul_scalar(const float* g, const float* u, float* o, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void gelu_tanh_mul_scalar(const float* g, const float* u, float* o, uint64_t n) {
  constexpr float kC = 0.7978845608028654f;  // sqrt(2/pi)
  for (uint64_t i = 0; i < n; ++i) {
    const float v = g[i];
    o[i] = 0.5f * v * (1.0f + std::tanh(kC * (v + 0.044715f * v * v * v))) * u[i];
  }
}

void softmax_row_scalar(float* x, uint64_t n) {
  if (n == 0) return;
  float mx = x[0];
  for (uint64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  float sum = 0;
  for (uint64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (uint64_t i = 0; i < n; ++i) x[i] *= inv;
}

float dot_scalar(const float* a, const float* b, uint64_t n) {
  float s = 0;
  for (uint64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_scalar(float a, const float* x, float* y, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void widen_row_scalar(const uint16_t* src, bool is_f16, float* dst, uint64_t n) {
  if (is_f16) {
    for (uint64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
  } else {
    for (uint64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
  }
}

void kv_dequant_scalar(KvCacheType t, const uint8_t* rows, uint64_t row_bytes, uint64_t n,
                       uint64_t d, float* out) {
  for (uint64_t i = 0; i < n; ++i) kv_dequantize_row(t, rows + i * row_bytes, d, out + i * d);
}

void attn_scores_scalar(const float* q, uint64_t q_stride, uint32_t G, const float* k,
                        uint64_t k_stride, uint64_t T, uint64_t d, float scale, float* s) {
  for (uint32_t g = 0; g < G; ++g) {
    for (uint64_t j = 0; j < T; ++j) s[g * T + j] = dot_scalar(q + g * q_stride, k + j * k_stride, d) * scale;
  }
}

void attn_pv_scalar(const float* p, uint64_t T, uint32_t G, const float* v, uint64_t v_stride,
                    uint64_t dv, float* o, uint64_t o_stride) {
  for (uint32_t g = 0; g < G; ++g) {
    for (uint64_t j = 0; j < T; ++j) axpy_scalar(p[g * T + j], v + j * v_stride, o + g * o_stride, dv);
  }
}

float exp_sum_scalar(float* x, uint64_t n, float mx) {
  float s = 0;
  for (uint64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    s += x[i];
  }
  return s;
}

const KernelTable& scalar_table() {
  static const KernelTable t{
      Isa::Scalar,     quantize_act,          dense_rows,           affine_rows,
      nullptr,         nullptr,               dense_gemm_blas, nullptr, nullptr,       silu_mul_scalar,
      gelu_tanh_mul_scalar, softmax_row_scalar, dot_scalar,         axpy_scalar,
      widen_row_scalar, kv_dequant_scalar, attn_scores_scalar, attn_pv_scalar, exp_sum_scalar,
      nullptr,         nullptr,            nullptr,
  };
  return t;
}

}  // namespace mlxcel::kernels
