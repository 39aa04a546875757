// Row and element-wise ops: RMSNorm, bias add, add, gated activations, softmax.
#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/cpu/common.h"
#include "mlxcel/errors.h"

namespace mlxcel::kernels {
namespace {

// Element-wise work below this many floats runs on the calling thread (waking the pool costs
// more than the op).
constexpr uint64_t kParallelMin = 1 << 15;

int checked_kind(DType t, const char* what) {
  if (t != DType::F32 && t != DType::F16 && t != DType::BF16) {
    throw UsageError("kernels", std::string(what) + ": weight dtype must be F32, F16 or BF16 (" +
                                    std::string(dtype_name(t)) + ")");
  }
  return float_kind(t);
}

template <class F>
void elementwise(uint64_t n, F&& f) {
  if (n < kParallelMin) {
    f(uint64_t{0}, n);
    return;
  }
  parallel_for(n, 64, [&](uint64_t b, uint64_t e, uint32_t) { f(b, e); });
}

}  // namespace

void rms_norm(const float* x, float* y, uint64_t n_rows, uint64_t dim, const void* w,
              DType w_dtype, float eps, bool add_one) {
  const int kind = checked_kind(w_dtype, "rms_norm");
  if (dim == 0 || n_rows == 0) return;
  if (x == nullptr || y == nullptr || w == nullptr) {
    throw UsageError("kernels", "rms_norm: null pointer");
  }
  const KernelTable& kt = kernel_table();
  auto rows = [&](uint64_t r0, uint64_t r1) {
    for (uint64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * dim;
      float* yr = y + r * dim;
      const float ss = kt.dot(xr, xr, dim);
      const float inv = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
      const float one = add_one ? 1.0f : 0.0f;
      if (kind == 0) {
        const float* wf = static_cast<const float*>(w);
        for (uint64_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv * (wf[i] + one);
      } else {
        const auto* wh = static_cast<const uint16_t*>(w);
        if (kind == 1) {
          for (uint64_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv * (f16_to_f32(wh[i]) + one);
        } else {
          for (uint64_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv * (bf16_to_f32(wh[i]) + one);
        }
      }
    }
  };
  if (n_rows * dim < kParallelMin) {
    rows(0, n_rows);
  } else {
    parallel_for(n_rows, 1, [&](uint64_t b, uint64_t e, uint32_t) { rows(b, e); });
  }
}

void add_row_vector(float* x, uint64_t n_rows, uint64_t dim, const void* v, DType v_dtype) {
  const int kind = checked_kind(v_dtype, "add_row_vector");
  for (uint64_t r = 0; r < n_rows; ++r) {
    float* xr = x + r * dim;
    for (uint64_t i = 0; i < dim; ++i) xr[i] += load_as_f32(v, kind, i);
  }
}

void add(const float* a, const float* b, float* out, uint64_t n) {
  elementwise(n, [&](uint64_t s, uint64_t e) {
    for (uint64_t i = s; i < e; ++i) out[i] = a[i] + b[i];
  });
}

void silu_mul(const float* gate, const float* up, float* out, uint64_t n) {
  const KernelTable& kt = kernel_table();
  elementwise(n, [&](uint64_t s, uint64_t e) { kt.silu_mul(gate + s, up + s, out + s, e - s); });
}

void gelu_tanh_mul(const float* gate, const float* up, float* out, uint64_t n) {
  const KernelTable& kt = kernel_table();
  elementwise(n, [&](uint64_t s, uint64_t e) {
    kt.gelu_tanh_mul(gate + s, up + s, out + s, e - s);
  });
}

void softmax(float* x, uint64_t n_rows, uint64_t n) {
  const KernelTable& kt = kernel_table();
  auto rows = [&](uint64_t r0, uint64_t r1) {
    for (uint64_t r = r0; r < r1; ++r) kt.softmax_row(x + r * n, n);
  };
  if (n_rows * n < kParallelMin) {
    rows(0, n_rows);
  } else {
    parallel_for(n_rows, 1, [&](uint64_t b, uint64_t e, uint32_t) { rows(b, e); });
  }
}

}  // namespace mlxcel::kernels
