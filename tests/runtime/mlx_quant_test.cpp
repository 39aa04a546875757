#include <gtest/gtest.h>

#include <cmath>

#include "mlxcel/errors.h"
#include "runtime/half.h"
#include "runtime/mlx_quant.h"

namespace mlxcel::runtime {
namespace {

TEST(Half, KnownEncodings) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);            // rounds up to inf
  EXPECT_EQ(f32_to_f16(5.9604644775390625e-8f), 0x0001);  // 2^-24, smallest subnormal
  EXPECT_EQ(f32_to_f16(2.98023223876953125e-8f), 0x0000);  // 2^-25 ties to even (0)
  EXPECT_EQ(f32_to_f16(6.103515625e-5f), 0x0400);     // 2^-14, smallest normal
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even -> 1.0
  EXPECT_EQ(f32_to_f16(1.00048828125f), 0x3c00);
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(f16_to_f32(0x0001), 5.9604644775390625e-8f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties to even -> 1.0; 1 + 3*2^-8 -> up.
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82);
  EXPECT_EQ(bf16_to_f32(0xc040), -3.0f);
}

TEST(MlxQuant, EightBitRampHandWorked) {
  // One group of 32: x = 0..31. |min| = 0 is not > |max| = 31, so the edge is max = 31 and
  // scale = -(31/255); q0 = rint(31 / scale) = -255, so scale = 31 / -255, bias = 31.
  // q(x) = rint((x - 31) / scale) = rint((31 - x) * 255 / 31): x=0 -> 255, x=1 -> rint(246.77) = 247,
  // x=31 -> 0.
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i);
  MlxQuantized q = mlx_quantize(x.data(), 1, 32, 8, 32, DType::F32);
  ASSERT_EQ(q.packed.size(), 32u);
  EXPECT_EQ(q.packed[0], 255);
  EXPECT_EQ(q.packed[1], 247);
  EXPECT_EQ(q.packed[31], 0);
  std::vector<float> s = to_f32(q.scales.data(), 1, DType::F32);
  std::vector<float> b = to_f32(q.biases.data(), 1, DType::F32);
  EXPECT_FLOAT_EQ(s[0], -31.0f / 255.0f);
  EXPECT_FLOAT_EQ(b[0], 31.0f);
  std::vector<float> d = mlx_dequantize(q, 1, 32, 8, 32, DType::F32);
  EXPECT_NEAR(d[0], 0.0f, 1e-5);
  EXPECT_NEAR(d[1], 31.0f - 247.0f * 31.0f / 255.0f, 1e-5);  // 0.97255
}

TEST(MlxQuant, FourBitPackingHandWorked) {
  // x = [-1, 0 x 30, 0.5]: |min| > |max| so edge = -1, scale = 1.5/15 = 0.1, q0 = -10,
  // scale = -1/-10 = 0.1, bias = -1. q = rint((x + 1) / 0.1): -1 -> 0, 0 -> 10, 0.5 -> 15.
  // Bytes: low nibble holds the even element: byte0 = 0 | 10 << 4 = 0xA0, byte15 = 10 | 15 << 4.
  std::vector<float> x(32, 0.0f);
  x[0] = -1.0f;
  x[31] = 0.5f;
  MlxQuantized q = mlx_quantize(x.data(), 1, 32, 4, 32, DType::F32);
  ASSERT_EQ(q.packed.size(), 16u);
  EXPECT_EQ(q.packed[0], 0xA0);
  EXPECT_EQ(q.packed[1], 0xAA);
  EXPECT_EQ(q.packed[15], 0xFA);
  std::vector<float> d = mlx_dequantize(q, 1, 32, 4, 32, DType::F32);
  EXPECT_NEAR(d[0], -1.0f, 1e-6);
  EXPECT_NEAR(d[5], 0.0f, 1e-6);
  EXPECT_NEAR(d[31], 0.5f, 1e-6);
}

TEST(MlxQuant, ErrorBoundedByHalfStep) {
  // MLX puts the larger-magnitude edge e on the grid with scale' = e / rint(e / scale), which keeps
  // zero exact but may shrink the covered range by up to 15 * scale * 0.5 / 8 (|e / scale| >= 7.5
  // for 4-bit), so values at the far end are clipped by < 1 step: |x - dequant(x)| <= |scale'|.
  std::vector<float> x(4 * 128);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) * (1.0f + i % 7);
  for (uint32_t bits : {4u, 8u}) {
    for (uint32_t g : {32u, 64u, 128u}) {
      MlxQuantized q = mlx_quantize(x.data(), 4, 128, bits, g, DType::F32);
      std::vector<float> d = mlx_dequantize(q, 4, 128, bits, g, DType::F32);
      std::vector<float> s = to_f32(q.scales.data(), 4 * 128 / g, DType::F32);
      for (size_t i = 0; i < x.size(); ++i) {
        EXPECT_LE(std::fabs(x[i] - d[i]), std::fabs(s[i / g]) + 1e-5f) << bits << " " << g << " " << i;
      }
    }
  }
}

TEST(MlxQuant, RejectsRowNotMultipleOfGroup) {
  std::vector<float> x(172, 1.0f);
  try {
    mlx_quantize(x.data(), 1, 172, 4, 64, DType::F32);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("cols, 172"), std::string::npos);
  }
}

TEST(MlxQuant, RejectsThreeBits) {
  std::vector<float> x(64, 1.0f);
  EXPECT_THROW(mlx_quantize(x.data(), 1, 64, 3, 64, DType::F32), UsageError);
}

}  // namespace
}  // namespace mlxcel::runtime
