// AVX-512 (F/BW/VL/DQ + VNNI) kernel variants.
#include <immintrin.h>

#include "kernels/cpu/common.h"

namespace mlxcel::kernels {

const KernelTable& avx512_table() {
  static const KernelTable t = [] {
    KernelTable k = avx2_table();
    k.isa = Isa::Avx512;
    return k;
  }();
  return t;
}

const KernelTable& avx512bf16_table() {
  static const KernelTable t = [] {
    KernelTable k = avx512_table();
    k.isa = Isa::Avx512Bf16;
    return k;
  }();
  return t;
}

uint64_t affine_gemm_panel_bytes(uint64_t cols, uint32_t group) {
  return 32 * cols + 2 * 32 * (cols / group) * 4;
}

}  // namespace mlxcel::kernels
