// The linear kernels' scratch formula (shared by the kernels and the memory plan). Expected values
// are worked out by hand from the layout in core/linear_scratch.h: a64(x) = x rounded up to 64.
#include "core/linear_scratch.h"

#include <gtest/gtest.h>

#include <string>

#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

constexpr uint64_t kBig = uint64_t{1} << 62;

template <typename F>
std::string config_error_of(F f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no ConfigError";
}

TEST(LinearScratch, AffinePanelHoldsCodesAndTwoF32PerGroup) {
  // 32 x 2048 codes = 65536, + 2 x 32 rows x 32 groups x 4 B = 8192
  EXPECT_EQ(affine_gemm_panel_bytes(2048, 64), 73728u);
  // 176 columns, group 64: ceil(176 / 64) = 3 groups; 32 x 176 = 5632, + 2 x 32 x 3 x 4 = 768
  EXPECT_EQ(affine_gemm_panel_bytes(176, 64), 6400u);
}

TEST(LinearScratch, DensePanelHolds64WidenedRows) {
  EXPECT_EQ(dense_gemm_panel_bytes(2048), 524288u);  // 64 x 2048 x 4
  EXPECT_EQ(dense_gemm_panel_bytes(100), 25600u);    // 64 x 100 x 4
}

TEST(LinearScratch, AffineActivationsPadRowsAndAlignEachArray) {
  // 1 row padded to 16: codes 16 x 2048 = 32768; 32 groups: 3 x (16 x 32 x 4 = 2048) = 6144
  EXPECT_EQ(affine_act_bytes(2048, 64, 1), 38912u);
  // 33 columns, group 32 -> 2 groups: codes 16 x 33 = 528 -> a64 576; 3 x (16 x 2 x 4 = 128)
  // = 384; 960
  EXPECT_EQ(affine_act_bytes(33, 32, 1), 960u);
  // 17 rows pad to 32: codes 32 x 33 = 1056 -> a64 1088; 3 x (32 x 2 x 4 = 256) = 768; 1856
  EXPECT_EQ(affine_act_bytes(33, 32, 17), 1856u);
}

TEST(LinearScratch, AffineWeightsBelowAndFromTheGemmThreshold) {
  // 1 row: 64 slack + 38912 activations (above), no panels
  EXPECT_EQ(linear_kernel_scratch_bytes(DType::U32, 2048, 64, 4, 1, 2), 38976u);
  // 512 rows, 2 threads: 64 + 512 x 2048 (1048576) + 3 x 512 x 32 x 4 (196608)
  //   + 2 x 73728 panels (147456) = 1392704
  EXPECT_EQ(linear_kernel_scratch_bytes(DType::U32, 2048, 64, 4, 512, 2), 1392704u);
  // 33 columns, group 32, 7 rows: 64 + 960 (rows pad to 16), still no panels: 1024
  EXPECT_EQ(linear_kernel_scratch_bytes(DType::U32, 33, 32, 4, 7, 3), 1024u);
  // 8-bit from 16 rows, 3 threads: 64 + 960 + 3 x a64(32 x 33 + 2 x 32 x 2 x 4 = 1568 -> 1600)
  EXPECT_EQ(linear_kernel_scratch_bytes(DType::U32, 33, 32, 8, 16, 3), 5824u);
  EXPECT_EQ(linear_kernel_scratch_bytes(DType::U32, 33, 32, 8, 15, 3), 1024u);
  // 4-bit from 32 rows: 64 + activations of 32 rows (1856, as for 17 above) + 3 x 1600 = 6720;
  // at 31 rows (padded to 32 as well) no panels: 64 + 1856 = 1920
  EXPECT_EQ(linear_kernel_scratch_bytes(DType::U32, 33, 32, 4, 32, 3), 6720u);
  EXPECT_EQ(linear_kernel_scratch_bytes(DType::U32, 33, 32, 4, 31, 3), 1920u);
  EXPECT_EQ(linear_kernel_scratch_bytes(DType::U32, 33, 32, 8, 11, 3), 1024u);
}

TEST(LinearScratch, GemmThresholdsPerWeightFormat) {
  EXPECT_EQ(gemm_min_rows(DType::U32, 4), 32u);
  EXPECT_EQ(gemm_min_rows(DType::U32, 8), 16u);
  for (DType dt : {DType::BF16, DType::F16, DType::F32}) EXPECT_EQ(gemm_min_rows(dt, 4), 8u);
}

TEST(LinearScratch, HalfWeightsNeedScratchOnlyFromTheGemmThreshold) {
  for (DType dt : {DType::BF16, DType::F16}) {
    EXPECT_EQ(linear_kernel_scratch_bytes(dt, 2048, 0, 0, 1, 2), 64u);
    EXPECT_EQ(linear_kernel_scratch_bytes(dt, 100, 0, 0, 7, 4), 64u);
    // 512 rows, 2 threads: 64 + x as bf16 512 x 2048 x 2 (2097152) + 2 x 524288 = 3145792
    EXPECT_EQ(linear_kernel_scratch_bytes(dt, 2048, 0, 0, 512, 2), 3145792u);
    // 8 rows pad to 16: 64 + 16 x 100 x 2 (3200) + 1 x 25600 = 28864
    EXPECT_EQ(linear_kernel_scratch_bytes(dt, 100, 0, 0, 8, 1), 28864u);
  }
}

TEST(LinearScratch, F32WeightsNeedOnlyTheAlignmentSlack) {
  EXPECT_EQ(linear_kernel_scratch_bytes(DType::F32, 2048, 0, 0, 512, 8), 64u);
}

TEST(LinearScratch, ZeroThreadsCountAsOne) {
  // 16 rows, group 64, 8-bit: 64 + 16 x 2048 + 3 x 16 x 32 x 4 + 1 panel of 73728 = 112704
  EXPECT_EQ(linear_kernel_scratch_bytes(DType::U32, 2048, 64, 8, 16, 0), 112704u);
  EXPECT_EQ(linear_kernel_scratch_bytes(DType::U32, 2048, 64, 8, 16, 1), 112704u);
}

// ---- malformed input, one case per test ----

TEST(LinearScratch, AffineWithoutGroupSizeIsAConfigError) {
  const std::string m = config_error_of([] { linear_kernel_scratch_bytes(DType::U32, 64, 0, 4, 1, 1); });
  EXPECT_NE(m.find("without a group size"), std::string::npos) << m;
}

TEST(LinearScratch, AffinePanelWithoutGroupSizeIsAConfigError) {
  const std::string m = config_error_of([] { affine_gemm_panel_bytes(64, 0); });
  EXPECT_NE(m.find("without a group size"), std::string::npos) << m;
}

TEST(LinearScratch, WeightDtypeWithoutAKernelIsAConfigError) {
  const std::string m = config_error_of([] { linear_kernel_scratch_bytes(DType::Q4_0, 64, 32, 0, 1, 1); });
  EXPECT_NE(m.find("no linear kernel"), std::string::npos) << m;
  EXPECT_NE(m.find("Q4_0"), std::string::npos) << m;
}

TEST(LinearScratch, AffineActivationOverflowIsAConfigError) {
  // 16 padded rows x 2^62 columns does not fit 64 bits
  const std::string m = config_error_of([] { linear_kernel_scratch_bytes(DType::U32, kBig, 64, 4, 1, 1); });
  EXPECT_NE(m.find("overflows 64 bits"), std::string::npos) << m;
}

TEST(LinearScratch, PanelsTimesThreadsOverflowIsAConfigError) {
  // one panel 64 x 2^40 x 4 = 2^48 B, times 2^40 threads
  const std::string m = config_error_of(
      [] { linear_kernel_scratch_bytes(DType::BF16, uint64_t{1} << 40, 0, 0, 8, uint64_t{1} << 40); });
  EXPECT_NE(m.find("overflows 64 bits"), std::string::npos) << m;
  EXPECT_NE(m.find("threads 1099511627776"), std::string::npos) << m;
}

TEST(LinearScratch, RowPaddingOverflowIsAConfigError) {
  const std::string m = config_error_of([] { linear_kernel_scratch_bytes(DType::BF16, 8, 0, 0, UINT64_MAX, 1); });
  EXPECT_NE(m.find("overflows 64 bits"), std::string::npos) << m;
}

TEST(LinearScratch, DensePanelOverflowIsAConfigError) {
  const std::string m = config_error_of([] { dense_gemm_panel_bytes(kBig); });
  EXPECT_NE(m.find("overflows 64 bits"), std::string::npos) << m;
}

}  // namespace
}  // namespace mlxcel
