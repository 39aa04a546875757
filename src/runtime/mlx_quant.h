// MLX affine quantization (mlx.core.quantize semantics): per group of `group_size` consecutive
// values along a row, w ≈ scale * q + bias with q in [0, 2^bits - 1]. Packed little-endian into
// uint32 words (value j of a word in bits [bits*j, bits*(j+1))), so as bytes: 8-bit is one value
// per byte and 4-bit puts the even value in the low nibble.
#pragma once

#include <cstdint>
#include <vector>

#include "mlxcel/dtype.h"

namespace mlxcel::runtime {

struct MlxQuantized {
  std::vector<uint8_t> packed;  // rows * cols * bits / 8 bytes (the U32 weight tensor's bytes)
  std::vector<uint8_t> scales;  // rows * cols / group values in `float_dtype`
  std::vector<uint8_t> biases;  // same shape and dtype as scales
};

// Quantizes a row-major [rows, cols] float32 matrix. cols must be a multiple of group_size and
// group_size a multiple of 32 / bits; bits 4 or 8; float_dtype F32, F16 or BF16 (the dtype the
// scales and biases are stored in). Throws UsageError otherwise.
MlxQuantized mlx_quantize(const float* w, uint64_t rows, uint64_t cols, uint32_t bits, uint32_t group_size,
                          DType float_dtype);

// The float32 matrix the quantized one stands for (scale and bias as stored, i.e. after rounding
// to their dtype).
std::vector<float> mlx_dequantize(const MlxQuantized& q, uint64_t rows, uint64_t cols, uint32_t bits,
                                  uint32_t group_size, DType float_dtype);

// Float values of a buffer in F32 / F16 / BF16 (FormatError for other dtypes).
std::vector<float> to_f32(const void* data, uint64_t n, DType dtype);
// Encodes float32 values in F32 / F16 / BF16.
std::vector<uint8_t> from_f32(const float* data, uint64_t n, DType dtype);

}  // namespace mlxcel::runtime
