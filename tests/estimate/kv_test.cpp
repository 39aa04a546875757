#include <gtest/gtest.h>

#include "estimate/specs.h"
#include "mlxcel/errors.h"
#include "mlxcel/estimate.h"

using namespace mlxcel;
using namespace mlxcel::test;

namespace {

uint64_t kv_per_token(const ModelSpec& s, KvCacheType k, KvCacheType v) {
  RunConfig r = run_with(4096);
  r.cache_type_k = k;
  r.cache_type_v = v;
  return plan_memory(s, r, zero_profile()).kv.bytes_per_token;
}

}  // namespace

TEST(KvCacheType, NamesRoundTripCaseInsensitively) {
  EXPECT_EQ(kv_cache_type_from_name("q8_0"), KvCacheType::Q8_0);
  EXPECT_EQ(kv_cache_type_from_name("Q4_1"), KvCacheType::Q4_1);
  EXPECT_EQ(kv_cache_type_from_name("bf16"), KvCacheType::BF16);
  EXPECT_EQ(kv_cache_type_from_name("q4"), KvCacheType::Q4);
  EXPECT_FALSE(kv_cache_type_from_name("q3_k").has_value());
  EXPECT_FALSE(kv_cache_type_from_name("").has_value());
  for (KvCacheType t : all_kv_cache_types())
    EXPECT_EQ(kv_cache_type_from_name(kv_cache_type_name(t)), t);
  EXPECT_EQ(all_kv_cache_types().size(), 10u);
}

TEST(KvCacheType, RowBytesPerType) {
  // 128 elements: f32 128*4; f16/bf16 128*2; ggml blocks of 32: 4 blocks x {34,18,20,22,24};
  // MLX groups of 64: 2 groups x {64+4, 32+4}.
  EXPECT_EQ(kv_row_bytes(KvCacheType::F32, 128), 512u);
  EXPECT_EQ(kv_row_bytes(KvCacheType::F16, 128), 256u);
  EXPECT_EQ(kv_row_bytes(KvCacheType::BF16, 128), 256u);
  EXPECT_EQ(kv_row_bytes(KvCacheType::Q8_0, 128), 136u);
  EXPECT_EQ(kv_row_bytes(KvCacheType::Q4_0, 128), 72u);
  EXPECT_EQ(kv_row_bytes(KvCacheType::Q4_1, 128), 80u);
  EXPECT_EQ(kv_row_bytes(KvCacheType::Q5_0, 128), 88u);
  EXPECT_EQ(kv_row_bytes(KvCacheType::Q5_1, 128), 96u);
  EXPECT_EQ(kv_row_bytes(KvCacheType::Q8, 128), 136u);
  EXPECT_EQ(kv_row_bytes(KvCacheType::Q4, 128), 72u);
  // 96 = 3 ggml blocks but 1.5 MLX groups; 80 is 2.5 ggml blocks.
  EXPECT_EQ(kv_row_bytes(KvCacheType::Q8_0, 96), 102u);
  EXPECT_FALSE(kv_row_bytes(KvCacheType::Q4, 96).has_value());
  EXPECT_FALSE(kv_row_bytes(KvCacheType::Q8_0, 80).has_value());
  EXPECT_EQ(kv_row_bytes(KvCacheType::F16, 80), 160u);
}

TEST(KvPlan, Llama31_8bPerTokenByCacheType) {
  const ModelSpec s = llama31_8b_like();
  // layers x kv_heads x (K row + V row)
  // f16: 32 x 8 x (256 + 256) = 131072
  EXPECT_EQ(kv_per_token(s, KvCacheType::F16, KvCacheType::F16), 131072u);
  // f32: 32 x 8 x (512 + 512) = 262144
  EXPECT_EQ(kv_per_token(s, KvCacheType::F32, KvCacheType::F32), 262144u);
  // q8_0: 32 x 2 x 8 x (128/32 x 34) = 69632
  EXPECT_EQ(kv_per_token(s, KvCacheType::Q8_0, KvCacheType::Q8_0), 69632u);
  // q4_0: 32 x 2 x 8 x (4 x 18) = 36864
  EXPECT_EQ(kv_per_token(s, KvCacheType::Q4_0, KvCacheType::Q4_0), 36864u);
  // q5_1: 32 x 2 x 8 x (4 x 24) = 49152
  EXPECT_EQ(kv_per_token(s, KvCacheType::Q5_1, KvCacheType::Q5_1), 49152u);
  // MLX q4: 32 x 2 x 8 x (2 x 36) = 36864; MLX q8: 32 x 2 x 8 x (2 x 68) = 69632
  EXPECT_EQ(kv_per_token(s, KvCacheType::Q4, KvCacheType::Q4), 36864u);
  EXPECT_EQ(kv_per_token(s, KvCacheType::Q8, KvCacheType::Q8), 69632u);
  // K q8_0, V f16: 32 x 8 x (136 + 256) = 100352
  EXPECT_EQ(kv_per_token(s, KvCacheType::Q8_0, KvCacheType::F16), 100352u);
}

TEST(KvPlan, Llama31_8bTotalAtContextAndSequences) {
  const ModelSpec s = llama31_8b_like();
  MemoryPlan p = plan_memory(s, run_with(4096), zero_profile());
  EXPECT_EQ(p.kv.total, 536870912u);  // 131072 x 4096 = 512 MiB
  ASSERT_EQ(p.kv.layers.size(), 32u);
  EXPECT_EQ(p.kv.layers[5].bytes_per_token, 4096u);  // 8 x 512
  EXPECT_EQ(p.kv.layers[5].tokens_kept, 4096u);
  EXPECT_EQ(p.kv.layers[5].bytes, 16777216u);  // 4096 x 4096
  // 4 sequences of 1024: 131072 x 1024 x 4 = 536870912; per token stays per sequence
  MemoryPlan q = plan_memory(s, run_with(1024, 4), zero_profile());
  EXPECT_EQ(q.kv.total, 536870912u);
  EXPECT_EQ(q.kv.bytes_per_token, 131072u);
}

TEST(KvPlan, SlidingLayersStopAtTheirWindow) {
  // 5 sliding layers (window 512) and 1 full, 1 KV head of 256: f16 1 x (512 + 512) = 1024 B
  // per layer per token.
  ModelSpec s = tiny_dense();
  s.dims.head_dim = 256;
  s.layers.clear();
  for (int i = 0; i < 5; ++i) s.layers.push_back(sliding_layer(1, 256, 512));
  s.layers.push_back(full_layer(1, 256));

  MemoryPlan at4096 = plan_memory(s, run_with(4096), zero_profile());
  // sliding 5 x 1024 x 512 = 2621440; full 1024 x 4096 = 4194304
  EXPECT_EQ(at4096.kv.total, 6815744u);
  EXPECT_EQ(at4096.kv.bytes_per_token, 1024u);  // only the full layer still grows
  EXPECT_EQ(at4096.kv.layers[0].tokens_kept, 512u);
  EXPECT_EQ(at4096.kv.layers[5].tokens_kept, 4096u);

  MemoryPlan at300 = plan_memory(s, run_with(300), zero_profile());
  EXPECT_EQ(at300.kv.total, 1843200u);  // 6 x 1024 x 300
  EXPECT_EQ(at300.kv.bytes_per_token, 6144u);

  MemoryPlan at512 = plan_memory(s, run_with(512), zero_profile());
  EXPECT_EQ(at512.kv.total, 3145728u);  // 6 x 1024 x 512
  EXPECT_EQ(at512.kv.bytes_per_token, 1024u);  // the 513th token no longer grows the windows
}

TEST(KvPlan, MlaStoresOneLatentWithTheKType) {
  // DeepSeek-V3: kv_lora_rank 512 + qk_rope_head_dim 64 = 576 per token, 61 layers.
  ModelSpec s = tiny_dense();
  s.layers.assign(61, mla_layer(576));
  // f16: 576 x 2 = 1152 x 61 = 70272; the V type plays no part.
  EXPECT_EQ(kv_per_token(s, KvCacheType::F16, KvCacheType::F16), 70272u);
  EXPECT_EQ(kv_per_token(s, KvCacheType::F16, KvCacheType::Q4_0), 70272u);
  // q8_0: 576/32 = 18 blocks x 34 = 612 x 61 = 37332
  EXPECT_EQ(kv_per_token(s, KvCacheType::Q8_0, KvCacheType::F16), 37332u);
  // MLX q4: 576/64 = 9 groups x 36 = 324 x 61 = 19764
  EXPECT_EQ(kv_per_token(s, KvCacheType::Q4, KvCacheType::F16), 19764u);
}

TEST(KvPlan, LinearLayersKeepAConstantStatePerSequence) {
  // Qwen3-Next-like: 3 linear layers with conv 8192 x 3 + recurrent 32 x 128 x 128 = 548864 f32
  // elements (2195456 bytes), 1 full layer of 2 KV heads x 256 (f16: 2 x 1024 = 2048 B/token).
  ModelSpec s = tiny_dense();
  s.layers = {linear_layer(548864, 0), linear_layer(548864, 0), linear_layer(548864, 0),
              full_layer(2, 256)};
  MemoryPlan p = plan_memory(s, run_with(1000, 3), zero_profile());
  EXPECT_EQ(p.kv.state_bytes, 19759104u);       // 3 x 2195456 x 3 sequences
  EXPECT_EQ(p.kv.total, 25903104u);             // + 2048 x 1000 x 3 = 6144000
  EXPECT_EQ(p.kv.bytes_per_token, 2048u);
  EXPECT_EQ(p.kv.layers[0].state_bytes, 2195456u);
  EXPECT_EQ(p.kv.layers[0].bytes_per_token, 0u);
  // The state does not depend on the context.
  MemoryPlan q = plan_memory(s, run_with(10, 3), zero_profile());
  EXPECT_EQ(q.kv.state_bytes, 19759104u);
}

TEST(KvPlan, LayersWithoutCacheCostNothing) {
  ModelSpec s = tiny_dense();
  s.layers = {LayerCache{LayerKind::None}, full_layer(2, 16)};
  MemoryPlan p = plan_memory(s, run_with(100), zero_profile());
  EXPECT_EQ(p.kv.layers[0].bytes, 0u);
  EXPECT_EQ(p.kv.total, 12800u);  // 2 x (32 + 32) = 128 B/token x 100
}

TEST(KvPlan, CacheTypeWhoseBlockDoesNotDivideTheHeadDimIsAConfigError) {
  ModelSpec s = tiny_dense();
  s.layers = {full_layer(32, 80)};  // phi-2-like head_dim 80
  RunConfig r = run_with(100);
  r.cache_type_k = KvCacheType::Q8_0;
  try {
    plan_memory(s, r, zero_profile());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("q8_0"), std::string::npos) << msg;
    EXPECT_NE(msg.find("80"), std::string::npos) << msg;
    EXPECT_NE(msg.find("k_head_dim"), std::string::npos) << msg;
  }
  auto problem = kv_cache_type_problem(s, KvCacheType::Q4);
  ASSERT_TRUE(problem.has_value());
  EXPECT_NE(problem->find("q4 needs a head dim that is a multiple of its block of 64"),
            std::string::npos) << *problem;
  EXPECT_FALSE(kv_cache_type_problem(s, KvCacheType::F16).has_value());
}

TEST(KvPlan, VTypeCheckedAgainstTheVHeadDim) {
  ModelSpec s = tiny_dense();
  LayerCache l = full_layer(2, 64);
  l.v_head_dim = 48;  // K 64, V 48: q4 fits K but not V
  s.layers = {l};
  RunConfig r = run_with(100);
  r.cache_type_k = KvCacheType::Q4;
  r.cache_type_v = KvCacheType::Q4;
  try {
    plan_memory(s, r, zero_profile());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("v_head_dim, 48"), std::string::npos) << e.what();
  }
}

TEST(KvPlan, SlidingLayerWithoutWindowIsAConfigError) {
  ModelSpec s = tiny_dense();
  s.layers = {sliding_layer(2, 16, 0)};
  try {
    plan_memory(s, run_with(100), zero_profile());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("window"), std::string::npos) << e.what();
  }
}

TEST(KvPlan, OverflowIsAConfigErrorNotAWrap) {
  ModelSpec s = llama31_8b_like();
  // 131072 B/token x 2^40 tokens x 2^20 sequences > 2^64
  try {
    plan_memory(s, run_with(uint64_t{1} << 40, uint64_t{1} << 20), zero_profile());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("overflows"), std::string::npos) << e.what();
  }
}

TEST(RunConfig, ZeroContextIsAUsageError) {
  try {
    plan_memory(tiny_dense(), run_with(0), zero_profile());
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("context"), std::string::npos) << e.what();
  }
}

TEST(RunConfig, DefaultsFollowTheModel) {
  ModelSpec s = tiny_dense();  // max_position_embeddings 8192
  EXPECT_EQ(default_run_config(s).context, 4096u);
  s.dims.max_position_embeddings = 2048;
  EXPECT_EQ(default_run_config(s).context, 2048u);
  s.dims.max_position_embeddings = 0;
  EXPECT_EQ(default_run_config(s).context, 4096u);
  EXPECT_GE(default_run_config(s).threads, 1u);
}
