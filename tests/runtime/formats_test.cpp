// Weight formats and KV cache types against the numpy reference. The reference reads the same
// files (bf16/f16 values exactly; MLX affine weights dequantized as scale * q + bias), so the
// differences measured here are the runtime's own arithmetic: f32 activations against float64,
// and for quantized weights the int8 quantization of activations per group the kernels use
// (measured: about 0.024 on logits of magnitude up to 2.2, i.e. ~1%; tolerance 5e-2).
#include <gtest/gtest.h>

#include <cstdio>

#include "kernels/cpu/kernels.h"
#include "model_helpers.h"
#include "runtime/convert.h"
#include "support/test_paths.h"

namespace mlxcel::runtime {
namespace {

using namespace test_helpers;

RandomModelOptions tiny(DType dtype, uint64_t head_dim = 16) {
  RandomModelOptions o = tiny_model_options(4321, dtype);
  o.intermediate = 128;
  o.head_dim = head_dim;
  return o;
}

RunConfig run_config(KvCacheType k = KvCacheType::F32, KvCacheType v = KvCacheType::F32) {
  RunConfig r;
  r.context = 32;
  r.prefill_chunk = 8;
  r.cache_type_k = k;
  r.cache_type_v = v;
  r.threads = 2;
  return r;
}

// Untied head scaled 1/sqrt(hidden) keeps logits O(1), so tolerances read as relative errors.
nlohmann::json config() {
  nlohmann::json c = testdata_config("HuggingFaceTB__SmolLM2-135M");
  c["tie_word_embeddings"] = false;
  return c;
}

double compare(const std::string& dir, const RunConfig& run, const char* what) {
  const std::vector<int32_t> tokens = test_tokens(20, 300, 11);
  std::vector<float> ref = reference_logits(dir, tokens);
  std::vector<float> got = runtime_logits(dir, tokens, 12, run);
  const double d = max_abs_diff(ref, 11, got, 300);
  const double scale = max_abs_diff(std::vector<float>(ref.size(), 0.0f), 11, got, 300);
  std::printf("%s: max |dlogit| = %.3g (max |logit| %.3g)\n", what, d, scale);
  return d;
}

// bf16 kernels may round activations to bf16 (vdpbf16ps), hence the looser tolerance.
TEST(Formats, Bf16WeightsMatchNumpy) {
  test::TempDir dir;
  make_model(dir.file("m"), config(), tiny(DType::BF16));
  EXPECT_LT(compare(dir.file("m"), run_config(), "bf16"), 2e-2);
}

TEST(Formats, F16WeightsMatchNumpy) {
  test::TempDir dir;
  make_model(dir.file("m"), config(), tiny(DType::F16));
  EXPECT_LT(compare(dir.file("m"), run_config(), "f16"), 2e-3);
}

TEST(Formats, Mlx8BitMatchesDequantizedWeights) {
  test::TempDir dir;
  RandomModelOptions o = tiny(DType::F16);
  o.bits = 8;
  o.group_size = 32;
  make_model(dir.file("m"), config(), o);
  EXPECT_LT(compare(dir.file("m"), run_config(), "q8 g32"), 5e-2);
}

TEST(Formats, Mlx4BitMatchesDequantizedWeights) {
  test::TempDir dir;
  RandomModelOptions o = tiny(DType::BF16);
  o.bits = 4;
  o.group_size = 64;
  make_model(dir.file("m"), config(), o);
  EXPECT_LT(compare(dir.file("m"), run_config(), "q4 g64"), 5e-2);
}

TEST(Formats, Mlx4BitGroup128F32ScalesMatchDequantizedWeights) {
  test::TempDir dir;
  RandomModelOptions o = tiny(DType::F32);
  o.bits = 4;
  o.group_size = 128;  // only the 128-wide rows (down_proj) quantize; the rest stay f32
  make_model(dir.file("m"), config(), o);
  EXPECT_LT(compare(dir.file("m"), run_config(), "q4 g128"), 5e-2);
}

TEST(Formats, ShardedQuantizedModelLoadsAndMatchesNumpy) {
  test::TempDir dir;
  make_model(dir.file("f"), config(), tiny(DType::BF16));
  // 16 KiB shards: the q8 embedding alone is 300 x 64 B = 18.75 KiB, so the model spans several.
  QuantizeReport r = quantize_model(dir.file("f"), dir.file("q"), {.bits = 8, .group_size = 64, .max_shard_bytes = 16 << 10});
  EXPECT_GT(r.shards, 2u);
  EXPECT_LT(compare(dir.file("q"), run_config(), "q8 g64 sharded"), 5e-2);
}

// Every KV cache type runs; head_dim 64 is a whole number of blocks for all of them. The
// tolerance grows with the cache type's rounding of K and V.
struct KvCase {
  KvCacheType type;
  double tolerance;
};

// Advice only offers what runs: every type the planner can name (and so recommend) has kernels,
// and the kernels' row is the planner's row to the byte.
TEST(KvRows, EveryTypeThePlannerNamesRunsWithThePlannedRowBytes) {
  for (KvCacheType t : all_kv_cache_types()) {
    EXPECT_TRUE(kernels::kv_type_supported(t)) << kv_cache_type_name(t);
    for (uint64_t d : {uint64_t{64}, uint64_t{128}, uint64_t{256}}) {
      EXPECT_EQ(kernels::kv_cache_row_bytes(t, d), kv_row_bytes(t, d).value()) << kv_cache_type_name(t);
    }
  }
}

class KvCacheTypes : public ::testing::TestWithParam<KvCase> {};

TEST_P(KvCacheTypes, RunAndMatchNumpy) {
  test::TempDir dir;
  make_model(dir.file("m"), config(), tiny(DType::F32, 64));
  const KvCase c = GetParam();
  EXPECT_LT(compare(dir.file("m"), run_config(c.type, c.type), std::string(kv_cache_type_info(c.type).name).c_str()),
            c.tolerance);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, KvCacheTypes,
                         ::testing::Values(KvCase{KvCacheType::F32, 1e-3}, KvCase{KvCacheType::F16, 5e-3},
                                           KvCase{KvCacheType::BF16, 3e-2}, KvCase{KvCacheType::Q8_0, 3e-2},
                                           KvCase{KvCacheType::Q8, 3e-2}, KvCase{KvCacheType::Q4_0, 2e-1},
                                           KvCase{KvCacheType::Q5_1, 1e-1}, KvCase{KvCacheType::Q5_0, 1e-1},
                                           KvCase{KvCacheType::Q4_1, 2e-1},
                                           KvCase{KvCacheType::Q4, 2e-1}),
                         [](const auto& info) { return std::string(kv_cache_type_info(info.param.type).name); });

}  // namespace
}  // namespace mlxcel::runtime
