#include <gtest/gtest.h>

#include "mlxcel/dtype.h"

using namespace mlxcel;

TEST(DType, ElementAndBlockSizes) {
  EXPECT_EQ(dtype_bytes(DType::BF16, 10), 20u);
  EXPECT_EQ(dtype_bytes(DType::F8_E4M3, 10), 10u);
  EXPECT_EQ(dtype_bytes(DType::Q4_0, 64), 36u);    // 2 blocks x (2-byte scale + 16 nibble bytes)
  EXPECT_EQ(dtype_bytes(DType::Q8_0, 32), 34u);
  EXPECT_EQ(dtype_bytes(DType::Q4_K, 512), 288u);  // 2 super-blocks x 144
  EXPECT_EQ(dtype_bytes(DType::Q6_K, 256), 210u);
  EXPECT_EQ(dtype_bytes(DType::MXFP4, 64), 34u);
  EXPECT_FALSE(dtype_bytes(DType::Q4_0, 33).has_value());
  EXPECT_FALSE(dtype_bytes(DType::F64, UINT64_MAX / 4).has_value());
}

TEST(DType, NameLookups) {
  EXPECT_EQ(dtype_from_safetensors("F8_E5M2"), DType::F8_E5M2);
  EXPECT_FALSE(dtype_from_safetensors("Q4_0").has_value());
  EXPECT_FALSE(dtype_from_safetensors("f16").has_value());
  EXPECT_EQ(dtype_from_ggml_id(12), DType::Q4_K);
  EXPECT_EQ(dtype_from_ggml_id(30), DType::BF16);
  EXPECT_EQ(dtype_from_ggml_id(39), DType::MXFP4);
  EXPECT_FALSE(dtype_from_ggml_id(4).has_value());  // removed Q4_2
  EXPECT_EQ(dtype_from_name("iq4_xs"), DType::IQ4_XS);
}
