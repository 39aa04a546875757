// Block geometry of the KV cache row formats.
#pragma once

#include <cstdint>

#include "kernels/cpu/kernels.h"

namespace mlxcel::kernels {

struct KvRowFormat {
  uint32_t block;        // elements per block
  uint32_t block_bytes;  // bytes per block
};

// Only for supported types (kv_type_supported).
inline KvRowFormat kv_row_format(KvCacheType t) {
  switch (t) {
    case KvCacheType::F32: return {1, 4};
    case KvCacheType::F16:
    case KvCacheType::BF16: return {1, 2};
    case KvCacheType::Q8_0: return {32, 34};
    case KvCacheType::Q4_0: return {32, 18};
    case KvCacheType::Q4_1: return {32, 20};
    case KvCacheType::Q5_0: return {32, 22};
    case KvCacheType::Q5_1: return {32, 24};
    case KvCacheType::Q8: return {64, 68};
    case KvCacheType::Q4: return {64, 36};
  }
  return {0, 0};
}

}  // namespace mlxcel::kernels
