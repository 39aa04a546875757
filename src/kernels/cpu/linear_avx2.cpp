// AVX2 + FMA + F16C kernel variants.
#include <immintrin.h>

#include "kernels/cpu/common.h"

namespace mlxcel::kernels {

const KernelTable& avx2_table() {
  static const KernelTable t = [] {
    KernelTable k = scalar_table();
    k.isa = Isa::Avx2;
    return k;
  }();
  return t;
}

}  // namespace mlxcel::kernels
