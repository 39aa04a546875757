// plan_memory's KV figures on real configs (registry -> layer caches -> plan), f16, 1 sequence,
// context 4096. Expected values derived by hand from each config.json.
#include <gtest/gtest.h>

#include "arch/registry.h"
#include "estimate/specs.h"
#include "support/test_paths.h"

using namespace mlxcel;
using namespace mlxcel::test;

namespace {

MemoryPlan plan_config(const std::string& name, uint64_t context = 4096) {
  ModelSpec spec = analytic_spec(read_config_json(testdata("configs/" + name + "/config.json")));
  return plan_memory(spec, run_with(context), zero_profile());
}

}  // namespace

TEST(RealConfigs, Llama31_405bFullAttention) {
  // 126 layers x 8 KV heads x (128 + 128) x 2 B = 516096 B/token
  MemoryPlan p = plan_config("meta-llama__Llama-3.1-405B");
  EXPECT_EQ(p.kv.bytes_per_token, 516096u);
  EXPECT_EQ(p.kv.total, 2113929216u);  // x 4096
}

TEST(RealConfigs, Gemma3SlidingWindowPattern) {
  // 26 layers, every 6th full (layers 5, 11, 17, 23), the other 22 slide over 512 tokens;
  // 1 KV head x (256 + 256) x 2 B = 1024 B per layer and token.
  // full 4 x 1024 x 4096 = 16777216; sliding 22 x 1024 x 512 = 11534336
  MemoryPlan p = plan_config("google__gemma-3-1b-it");
  EXPECT_EQ(p.kv.bytes_per_token, 4096u);
  EXPECT_EQ(p.kv.total, 28311552u);
  // Below the window every layer grows: 26 x 1024 x 300
  MemoryPlan short_ctx = plan_config("google__gemma-3-1b-it", 300);
  EXPECT_EQ(short_ctx.kv.total, 7987200u);
  EXPECT_EQ(short_ctx.kv.bytes_per_token, 26624u);
}

TEST(RealConfigs, GptOssAlternatingSlidingAndFull) {
  // 36 layers alternating sliding (128) and full; 8 KV heads x (64 + 64) x 2 B = 2048.
  // full 18 x 2048 x 4096 = 150994944; sliding 18 x 2048 x 128 = 4718592
  MemoryPlan p = plan_config("openai__gpt-oss-120b");
  EXPECT_EQ(p.kv.bytes_per_token, 36864u);
  EXPECT_EQ(p.kv.total, 155713536u);
}

TEST(RealConfigs, DeepSeekMlaLatent) {
  // 61 MLA layers, latent 512 + 64 = 576 values x 2 B = 1152 B per layer and token.
  MemoryPlan p = plan_config("deepseek-ai__DeepSeek-R1");
  EXPECT_EQ(p.kv.bytes_per_token, 70272u);
  EXPECT_EQ(p.kv.total, 287834112u);  // x 4096
}

TEST(RealConfigs, Qwen3NextLinearStateAndFullLayers) {
  // 48 layers, every 4th full: 12 full x 2 KV heads x (256 + 256) x 2 B = 2048 B/token each;
  // 36 gated-delta-net layers, state f32: conv (2 x 16 x 128 + 32 x 128 = 8192 channels) x
  // (kernel 4 - 1) = 24576 + recurrent 32 x 128 x 128 = 524288 -> 548864 x 4 = 2195456 B.
  // full 12 x 2048 x 4096 = 100663296; linear 36 x 2195456 = 79036416
  MemoryPlan p = plan_config("Qwen__Qwen3-Next-80B-A3B-Thinking");
  EXPECT_EQ(p.kv.bytes_per_token, 24576u);
  EXPECT_EQ(p.kv.state_bytes, 79036416u);
  EXPECT_EQ(p.kv.total, 179699712u);
}
