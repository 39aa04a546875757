// Dense f32 GEMM for prefill through OpenBLAS sgemm (single-threaded inside each pool thread;
// set_num_threads pins OpenBLAS to one thread so the two pools do not fight for the cores).
#include <cblas.h>

#include <algorithm>

#include "kernels/cpu/common.h"

namespace mlxcel::kernels {

void dense_gemm_blas(const DenseArgs& a, uint64_t r0, uint64_t r1, void* panel) {
  const Weight& w = *a.w;
  const uint64_t c = w.cols;
  const float beta = a.accumulate ? 1.0f : 0.0f;
  if (w.dtype == DType::F32) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(a.n),
                static_cast<int>(r1 - r0), static_cast<int>(c), 1.0f, a.x,
                static_cast<int>(a.x_stride), static_cast<const float*>(w.data) + r0 * c,
                static_cast<int>(c), beta, a.y + r0, static_cast<int>(a.y_stride));
    return;
  }
  const KernelTable& kt = kernel_table();
  auto* p = static_cast<float*>(panel);
  const auto* src = static_cast<const uint16_t*>(w.data);
  for (uint64_t rb = r0; rb < r1; rb += kDensePanelRows) {
    const uint64_t re = std::min(r1, rb + kDensePanelRows);
    for (uint64_t r = rb; r < re; ++r) {
      const uint16_t* s = src + r * c;
      float* d = p + (r - rb) * c;
      kt.widen_row(s, w.dtype == DType::F16, d, c);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(a.n),
                static_cast<int>(re - rb), static_cast<int>(c), 1.0f, a.x,
                static_cast<int>(a.x_stride), p, static_cast<int>(c), beta, a.y + rb,
                static_cast<int>(a.y_stride));
  }
}

}  // namespace mlxcel::kernels
