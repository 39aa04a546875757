// Forward-pass logits of tiny random models of each family against the independent numpy
// reference (tests/reference/llama_ref.py, float64). f32 weights: max |Δlogit| < 1e-3.
#include <gtest/gtest.h>

#include <cstdio>

#include "model_helpers.h"
#include "support/test_paths.h"

namespace mlxcel::runtime {
namespace {

using namespace test_helpers;

RandomModelOptions tiny(DType dtype = DType::F32) { return tiny_model_options(1234, dtype); }

RunConfig run_config(uint64_t context = 32, uint64_t chunk = 5) {
  RunConfig r;
  r.context = context;
  r.prefill_chunk = chunk;
  r.cache_type_k = KvCacheType::F32;
  r.cache_type_v = KvCacheType::F32;
  r.threads = 2;
  return r;
}

// Prefill of the first 12 tokens (chunks of 5, 5, 2) then 8 decode steps; compares the logits of
// positions 11..19 with the reference.
double run_and_compare(const std::string& dir, const RunConfig& run = run_config()) {
  const std::vector<int32_t> tokens = test_tokens(20, 300, 7);
  std::vector<float> ref = reference_logits(dir, tokens);
  EXPECT_EQ(ref.size(), 20u * 300u);
  std::vector<float> got = runtime_logits(dir, tokens, 12, run);
  EXPECT_EQ(got.size(), 9u * 300u);
  const double d = max_abs_diff(ref, 11, got, 300);
  ::testing::Test::RecordProperty("max_abs_logit_diff", std::to_string(d));
  std::printf("max |dlogit| = %.3g (logit scale %.3g)\n", d, max_abs_diff(std::vector<float>(ref.size(), 0.0f), 11, got, 300));
  return d;
}

nlohmann::json llama_config() {
  nlohmann::json c = testdata_config("meta-llama__Llama-3.2-1B-Instruct");
  // original_max 64 puts the rotary pairs of head_dim 16 (theta 5e5, wavelengths 6.3, 32, 167...)
  // in all three llama3 regimes: kept (< 16), smoothed (16..64), divided by the factor (> 64).
  c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}};
  return c;
}

TEST(Forward, LlamaWithLlama3RopeScalingMatchesNumpy) {
  test::TempDir dir;
  make_model(dir.file("m"), llama_config(), tiny());
  EXPECT_LT(run_and_compare(dir.file("m")), 1e-3);
}

TEST(Forward, LlamaWithLinearRopeScalingMatchesNumpy) {
  test::TempDir dir;
  nlohmann::json c = llama_config();
  c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 4.0}};
  make_model(dir.file("m"), c, tiny());
  EXPECT_LT(run_and_compare(dir.file("m")), 1e-3);
}

TEST(Forward, LlamaWithYarnRopeScalingMatchesNumpy) {
  test::TempDir dir;
  nlohmann::json c = llama_config();
  // factor == max_position_embeddings / original so both readings of yarn's factor agree.
  c["max_position_embeddings"] = 256;
  c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 64}};
  make_model(dir.file("m"), c, tiny());
  EXPECT_LT(run_and_compare(dir.file("m")), 1e-3);
}

TEST(Forward, MistralSlidingWindowShorterThanSequenceMatchesNumpy) {
  test::TempDir dir;
  nlohmann::json c = testdata_config("mistralai__Mistral-7B-v0.1");
  c.erase("sliding_window_size");
  c["sliding_window"] = 5;  // 20 tokens, window 5: the ring of 5 rows wraps three times
  make_model(dir.file("m"), c, tiny());
  EXPECT_LT(run_and_compare(dir.file("m"), run_config(32, 4)), 1e-3);
}

TEST(Forward, Qwen2WithQkvBiasMatchesNumpy) {
  test::TempDir dir;
  make_model(dir.file("m"), testdata_config("Qwen__Qwen2.5-1.5B"), tiny());
  EXPECT_LT(run_and_compare(dir.file("m")), 1e-3);
}

TEST(Forward, Qwen2MixedFullAndSlidingLayersMatchNumpy) {
  test::TempDir dir;
  nlohmann::json c = testdata_config("Qwen__Qwen2.5-1.5B");
  // Layers >= max_window_layers slide: layer 0 full (context 32), layer 1 a ring of 5.
  c["use_sliding_window"] = true;
  c["sliding_window"] = 5;
  c["max_window_layers"] = 1;
  make_model(dir.file("m"), c, tiny());
  EXPECT_LT(run_and_compare(dir.file("m"), run_config(32, 4)), 1e-3);
}

TEST(Forward, TinyLlamaMatchesNumpy) {
  test::TempDir dir;
  make_model(dir.file("m"), testdata_config("TinyLlama__TinyLlama-1.1B-Chat-v1.0"), tiny());
  EXPECT_LT(run_and_compare(dir.file("m")), 1e-3);
}

TEST(Forward, Qwen3WithQkNormMatchesNumpy) {
  test::TempDir dir;
  make_model(dir.file("m"), testdata_config("Qwen__Qwen3-0.6B"), tiny());
  EXPECT_LT(run_and_compare(dir.file("m")), 1e-3);
}

TEST(Forward, SmolLM2UntiedHeadMatchesNumpy) {
  test::TempDir dir;
  nlohmann::json c = testdata_config("HuggingFaceTB__SmolLM2-135M");
  c["tie_word_embeddings"] = false;
  make_model(dir.file("m"), c, tiny());
  EXPECT_LT(run_and_compare(dir.file("m")), 1e-3);
}

}  // namespace
}  // namespace mlxcel::runtime
