#include "runtime/mlx_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "mlxcel/errors.h"
#include "runtime/half.h"

namespace mlxcel::runtime {

std::vector<float> to_f32(const void* data, uint64_t n, DType dtype) {
  std::vector<float> out(n);
  if (dtype == DType::F32) {
    std::memcpy(out.data(), data, n * 4);
  } else if (dtype == DType::F16 || dtype == DType::BF16) {
    const auto* h = static_cast<const uint16_t*>(data);
    for (uint64_t i = 0; i < n; ++i) out[i] = dtype == DType::F16 ? f16_to_f32(h[i]) : bf16_to_f32(h[i]);
  } else {
    throw FormatError("quantize", fmt::format("not a float dtype (dtype, {})", dtype_name(dtype)));
  }
  return out;
}

std::vector<uint8_t> from_f32(const float* data, uint64_t n, DType dtype) {
  std::vector<uint8_t> out;
  if (dtype == DType::F32) {
    out.resize(n * 4);
    std::memcpy(out.data(), data, n * 4);
  } else if (dtype == DType::F16 || dtype == DType::BF16) {
    out.resize(n * 2);
    auto* h = reinterpret_cast<uint16_t*>(out.data());
    for (uint64_t i = 0; i < n; ++i) h[i] = dtype == DType::F16 ? f32_to_f16(data[i]) : f32_to_bf16(data[i]);
  } else {
    throw FormatError("quantize", fmt::format("not a float dtype (dtype, {})", dtype_name(dtype)));
  }
  return out;
}

namespace {

void check_args(uint64_t cols, uint32_t bits, uint32_t group_size, DType float_dtype) {
  if (bits != 4 && bits != 8) throw UsageError("quantize", fmt::format("bits must be 4 or 8 (bits, {})", bits));
  if (group_size == 0 || group_size % (32 / bits) != 0) {
    throw UsageError("quantize", fmt::format("group size must be a multiple of {} (group_size, {})", 32 / bits,
                                             group_size));
  }
  if (cols % group_size != 0) {
    throw UsageError("quantize", fmt::format("row length is not a multiple of the group size (cols, {} for group {})",
                                             cols, group_size));
  }
  if (float_dtype != DType::F32 && float_dtype != DType::F16 && float_dtype != DType::BF16) {
    throw UsageError("quantize", fmt::format("scales must be f32, f16 or bf16 (dtype, {})", dtype_name(float_dtype)));
  }
}

}  // namespace

MlxQuantized mlx_quantize(const float* w, uint64_t rows, uint64_t cols, uint32_t bits, uint32_t group_size,
                          DType float_dtype) {
  check_args(cols, bits, group_size, float_dtype);
  const uint64_t n = rows * cols;
  const uint64_t groups = n / group_size;
  const float n_bins = static_cast<float>((1u << bits) - 1);
  const float eps = 1e-7f;
  MlxQuantized out;
  out.packed.assign(n * bits / 8, 0);
  std::vector<float> scales(groups), biases(groups);
  for (uint64_t g = 0; g < groups; ++g) {
    const float* x = w + g * group_size;
    float lo = x[0], hi = x[0];
    for (uint32_t j = 1; j < group_size; ++j) {
      lo = std::min(lo, x[j]);
      hi = std::max(hi, x[j]);
    }
    // The larger-magnitude edge is put exactly on a grid point (and zero stays representable when
    // the group straddles it), as MLX does.
    const bool neg_edge = std::fabs(lo) > std::fabs(hi);
    float scale = std::max((hi - lo) / n_bins, eps);
    if (!neg_edge) scale = -scale;
    const float edge = neg_edge ? lo : hi;
    const float q0 = std::rint(edge / scale);
    float bias = 0.0f;
    if (q0 != 0.0f) {
      scale = edge / q0;
      bias = edge;
    }
    for (uint32_t j = 0; j < group_size; ++j) {
      float q = std::rint((x[j] - bias) / scale);
      q = std::clamp(q, 0.0f, n_bins);
      const uint64_t idx = g * group_size + j;
      const auto qi = static_cast<uint8_t>(q);
      if (bits == 8) {
        out.packed[idx] = qi;
      } else {
        out.packed[idx / 2] |= static_cast<uint8_t>(qi << ((idx & 1) * 4));
      }
    }
    scales[g] = scale;
    biases[g] = bias;
  }
  out.scales = from_f32(scales.data(), groups, float_dtype);
  out.biases = from_f32(biases.data(), groups, float_dtype);
  return out;
}

std::vector<float> mlx_dequantize(const MlxQuantized& q, uint64_t rows, uint64_t cols, uint32_t bits,
                                  uint32_t group_size, DType float_dtype) {
  check_args(cols, bits, group_size, float_dtype);
  const uint64_t n = rows * cols;
  const uint64_t groups = n / group_size;
  std::vector<float> scales = to_f32(q.scales.data(), groups, float_dtype);
  std::vector<float> biases = to_f32(q.biases.data(), groups, float_dtype);
  std::vector<float> out(n);
  for (uint64_t i = 0; i < n; ++i) {
    const uint32_t v = bits == 8 ? q.packed[i] : (q.packed[i / 2] >> ((i & 1) * 4)) & 0xfu;
    const uint64_t g = i / group_size;
    out[i] = scales[g] * static_cast<float>(v) + biases[g];
  }
  return out;
}

}  // namespace mlxcel::runtime
