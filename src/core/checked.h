// Overflow-checked arithmetic for every size or offset that comes from a file or a config.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace mlxcel {

inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<uint64_t> checked_add(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Product of a shape's dimensions (1 for a scalar); nullopt on overflow.
inline std::optional<uint64_t> checked_product(std::span<const uint64_t> dims) {
  uint64_t r = 1;
  for (uint64_t d : dims) {
    if (__builtin_mul_overflow(r, d, &r)) return std::nullopt;
  }
  return r;
}

}  // namespace mlxcel
