// The bit width of an MLX affine weight as its shapes give it. One definition for the loader
// (src/runtime/bind.cpp, which binds the weight) and the memory plan (src/estimate/plan.cpp,
// whose matmul scratch depends on the bits), so the two cannot read a checkpoint differently.
#pragma once

#include <cstdint>

namespace mlxcel {

// The packed uint32 columns hold in_features codes of `bits` bits each: bits = packed_cols x 32 /
// in_features; 0 when that does not divide (or in_features is 0).
inline uint64_t mlx_affine_bits(uint64_t packed_cols, uint64_t in_features) {
  if (in_features == 0 || packed_cols * 32 % in_features != 0) return 0;
  return packed_cols * 32 / in_features;
}

}  // namespace mlxcel
