// Per-layer cache kinds and KV bytes per token from real configs; expected numbers are worked
// out by hand from the config values quoted in the comments.
#include <gtest/gtest.h>

#include "arch/registry.h"
#include "arch_test_util.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

using test::f16_bytes_per_token;
using test::full_only_f16_bytes_per_token;
using test::kinds;
using test::linear_state_bytes;
using test::real_config;

ModelSpec layers_of(const nlohmann::json& config) {
  ModelSpec spec;
  fill_dims_and_layers(spec, config);
  return spec;
}

TEST(LayerCache, Llama31_8B) {
  // Llama-3.1-8B config (as published): 32 layers, 32 heads, 8 KV heads, hidden 4096.
  auto config = nlohmann::json::parse(R"({
    "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "vocab_size": 128256, "max_position_embeddings": 131072, "torch_dtype": "bfloat16",
    "tie_word_embeddings": false})");
  auto spec = layers_of(config);
  ASSERT_EQ(spec.layers.size(), 32u);
  EXPECT_EQ(kinds(spec), std::string(32, 'f'));
  EXPECT_EQ(spec.layers[0].kv_heads, 8u);
  EXPECT_EQ(spec.layers[0].k_head_dim, 128u);  // 4096 / 32
  EXPECT_EQ(spec.layers[0].v_head_dim, 128u);
  // 32 layers x 2 (K,V) x 8 heads x 128 x 2 bytes = 131072
  EXPECT_EQ(f16_bytes_per_token(spec), 131072u);
}

TEST(LayerCache, Gemma3_1B_SlidingPattern) {
  // gemma-3-1b-it: 26 layers, sliding_window 512, sliding_window_pattern 6 (every 6th layer
  // global: 5, 11, 17, 23), 1 KV head of head_dim 256.
  auto spec = layers_of(real_config("google__gemma-3-1b-it"));
  EXPECT_EQ(spec.architecture, "gemma3");
  EXPECT_EQ(kinds(spec), "sssssfsssssfsssssfsssssfss");
  for (const auto& l : spec.layers) {
    EXPECT_EQ(l.kv_heads, 1u);
    EXPECT_EQ(l.k_head_dim, 256u);
    if (l.kind == LayerKind::Sliding) {
      EXPECT_EQ(l.window, 512u);
    }
  }
  // Within the window every layer stores a token: 26 x 2 x 1 x 256 x 2 = 26624 bytes.
  EXPECT_EQ(f16_bytes_per_token(spec), 26624u);
  // Past it only the 4 global layers grow: 4 x 2 x 256 x 2 = 4096 bytes per token.
  EXPECT_EQ(full_only_f16_bytes_per_token(spec), 4096u);
}

TEST(LayerCache, Gemma3NestedTextConfig) {
  // A Gemma 3 multimodal wrapper: text_config carries the decoder, layer_types overrides the
  // pattern (here: layers 1 and 3 global).
  auto config = nlohmann::json::parse(R"({
    "model_type": "gemma3", "torch_dtype": "bfloat16",
    "text_config": {"model_type": "gemma3_text", "hidden_size": 256, "intermediate_size": 512,
      "num_hidden_layers": 4, "num_attention_heads": 2, "num_key_value_heads": 1,
      "head_dim": 128, "vocab_size": 1000, "sliding_window": 64,
      "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]},
    "vision_config": {"hidden_size": 32}})");
  auto spec = layers_of(config);
  EXPECT_EQ(spec.model_type, "gemma3_text");
  EXPECT_EQ(kinds(spec), "sfsf");
  EXPECT_EQ(spec.layers[0].window, 64u);
}

TEST(LayerCache, Gemma2AlternatesStartingWithSliding) {
  // gemma-2-27b: 46 layers, even layers slide over 4096 tokens; 16 KV heads x 128.
  auto spec = layers_of(real_config("google__gemma-2-27b"));
  std::string expected;
  for (int i = 0; i < 23; ++i) expected += "sf";
  EXPECT_EQ(kinds(spec), expected);
  EXPECT_EQ(spec.layers[0].window, 4096u);
  // 46 x 2 x 16 x 128 x 2 = 376832
  EXPECT_EQ(f16_bytes_per_token(spec), 376832u);
}

TEST(LayerCache, DeepSeekR1Mla) {
  // DeepSeek-R1 (deepseek_v3): 61 layers of MLA; latent = kv_lora_rank 512 + qk_rope 64.
  auto spec = layers_of(real_config("deepseek-ai__DeepSeek-R1"));
  EXPECT_EQ(kinds(spec), std::string(61, 'm'));
  EXPECT_EQ(spec.layers[0].latent_dim, 576u);
  // 61 x 576 x 2 bytes = 70272 per token at f16
  EXPECT_EQ(f16_bytes_per_token(spec), 70272u);
}

TEST(LayerCache, DeepSeekR1MlaHeadDims) {
  // Per head the query/key is qk_nope_head_dim 128 + qk_rope_head_dim 64 = 192 wide and the
  // value v_head_dim 128: with 128 heads the workspace q row is 128 x 192 = 24576 values and
  // attn_out 128 x 128 = 16384 (not 128 x 192). MLA keeps no per-head K/V: kv_heads stays 0.
  auto spec = layers_of(real_config("deepseek-ai__DeepSeek-R1"));
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    EXPECT_EQ(spec.layers[i].k_head_dim, 192u) << "layer " << i;
    EXPECT_EQ(spec.layers[i].v_head_dim, 128u) << "layer " << i;
    EXPECT_EQ(spec.layers[i].kv_heads, 0u) << "layer " << i;
  }
  EXPECT_EQ(spec.dims.num_heads, 128u);
  EXPECT_EQ(spec.dims.head_dim, 192u);
}

TEST(LayerCache, KimiK2Mla) {
  // Kimi K2: 64 heads, qk_nope 128 + qk_rope 64 = 192, v_head_dim 128, kv_lora_rank 512.
  auto spec = layers_of(real_config("moonshotai__Kimi-K2-Instruct"));
  EXPECT_EQ(spec.architecture, "kimi_k2");
  EXPECT_EQ(kinds(spec), std::string(61, 'm'));
  EXPECT_EQ(spec.layers[60].latent_dim, 576u);  // 512 + 64
  EXPECT_EQ(spec.layers[60].k_head_dim, 192u);
  EXPECT_EQ(spec.layers[60].v_head_dim, 128u);
  EXPECT_EQ(spec.dims.num_heads, 64u);
}

TEST(LayerCache, DeepSeekV2LiteMlaWithoutQLora) {
  // DeepSeek-V2-Lite shape (q_lora_rank null, 16 heads, nope 128 + rope 64, v 128,
  // kv_lora_rank 512), cut to 2 layers: the head dims do not depend on the query path.
  auto config = nlohmann::json::parse(R"({
    "model_type": "deepseek_v2", "hidden_size": 2048, "intermediate_size": 10944,
    "num_hidden_layers": 2, "num_attention_heads": 16, "num_key_value_heads": 16,
    "vocab_size": 102400, "q_lora_rank": null, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "moe_intermediate_size": 1408,
    "n_routed_experts": 64, "num_experts_per_tok": 6, "n_shared_experts": 2,
    "first_k_dense_replace": 1, "torch_dtype": "bfloat16"})");
  auto spec = layers_of(config);
  EXPECT_EQ(kinds(spec), "mm");
  EXPECT_EQ(spec.layers[1].latent_dim, 576u);  // 512 + 64
  EXPECT_EQ(spec.layers[1].k_head_dim, 192u);  // 128 + 64
  EXPECT_EQ(spec.layers[1].v_head_dim, 128u);
}

TEST(LayerCache, GptOss120bAlternating) {
  // gpt-oss-120b: 36 layers, layer_types sliding/full alternating from sliding, window 128,
  // 8 KV heads of head_dim 64.
  auto spec = layers_of(real_config("openai__gpt-oss-120b"));
  std::string expected;
  for (int i = 0; i < 18; ++i) expected += "sf";
  EXPECT_EQ(kinds(spec), expected);
  EXPECT_EQ(spec.layers[0].window, 128u);
  EXPECT_EQ(spec.layers[1].window, 0u);
  // Per layer 2 x 8 x 64 x 2 = 2048 bytes; all 36 layers within 128 tokens: 73728;
  // beyond, the 18 full layers: 36864 per token.
  EXPECT_EQ(f16_bytes_per_token(spec), 73728u);
  EXPECT_EQ(full_only_f16_bytes_per_token(spec), 36864u);
}

TEST(LayerCache, Qwen3NextLinearAndFull) {
  // Qwen3-Next-80B-A3B: 48 layers, full_attention_interval 4 (layers 3, 7, ..., 47 attend);
  // attention: 2 KV heads x head_dim 256.
  auto spec = layers_of(real_config("Qwen__Qwen3-Next-80B-A3B-Thinking"));
  std::string expected;
  for (int i = 0; i < 12; ++i) expected += "lllf";
  EXPECT_EQ(kinds(spec), expected);
  // 12 full layers x 2 x 2 x 256 x 2 bytes = 24576 per token
  EXPECT_EQ(f16_bytes_per_token(spec), 24576u);
  // Gated DeltaNet state: key_dim = 16 x 128 = 2048, value_dim = 32 x 128 = 4096,
  // conv over q,k,v: (2 x 2048 + 4096) x (kernel 4 - 1) = 24576 elements;
  // recurrent: 32 v-heads x 128 x 128 = 524288; total 548864 elements per layer.
  EXPECT_EQ(spec.layers[0].state_elems, 548864u);
  EXPECT_EQ(spec.layers[0].state_dtype, DType::F32);
  // 36 linear layers x 548864 x 4 bytes = 79036416 bytes per sequence
  EXPECT_EQ(linear_state_bytes(spec), 79036416u);
}

TEST(LayerCache, Qwen35LayerTypesFromTextConfig) {
  // Qwen3.5-27B (nested text_config, layer_types): 64 layers, every 4th full.
  auto spec = layers_of(real_config("Qwen__Qwen3.5-27B"));
  std::string expected;
  for (int i = 0; i < 16; ++i) expected += "lllf";
  EXPECT_EQ(kinds(spec), expected);
  // key 16 x 128 = 2048, value 48 x 128 = 6144; conv (2 x 2048 + 6144) x 3 = 30720;
  // recurrent 48 x 128 x 128 = 786432; total 817152.
  EXPECT_EQ(spec.layers[0].state_elems, 817152u);
  // full layers: 4 KV heads x 256: 16 x 2 x 4 x 256 x 2 = 65536 bytes per token
  EXPECT_EQ(f16_bytes_per_token(spec), 65536u);
}

TEST(LayerCache, NemotronHPattern) {
  // Nemotron-H-56B: "M-M-M-M*-..." (M mamba2, - MLP, * attention), 118 layers.
  auto config = real_config("nvidia__Nemotron-H-56B-Base-8K");
  auto spec = layers_of(config);
  const std::string pattern = config["hybrid_override_pattern"];
  ASSERT_EQ(spec.layers.size(), 118u);
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char want = pattern[i] == 'M' ? 'l' : pattern[i] == '*' ? 'f' : 'n';
    EXPECT_EQ(kinds(spec)[i], want) << "layer " << i;
  }
  EXPECT_EQ(kinds(spec).substr(0, 10), "lnlnlnlfnl");
  // Mamba2: inner = 256 heads x 64 = 16384; conv dim = 16384 + 2 x 8 groups x 256 = 20480,
  // conv state 20480 x (4 - 1) = 61440; SSM state 256 x 64 x 256 = 4194304; total 4255744.
  EXPECT_EQ(spec.layers[0].state_elems, 4255744u);
  // Attention layers: 8 KV heads x attention_head_dim 128.
  EXPECT_EQ(spec.layers[7].kv_heads, 8u);
  EXPECT_EQ(spec.layers[7].k_head_dim, 128u);
}

TEST(LayerCache, Nemotron3NanoMoePattern) {
  // "MEMEM*E...": E layers are MoE feed-forward blocks without a cache.
  auto spec = layers_of(real_config("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"));
  EXPECT_EQ(kinds(spec).substr(0, 7), "lnlnlfn");
  // inner 64 x 64 = 4096; conv (4096 + 2 x 8 x 128) x 3 = 18432; SSM 64 x 64 x 128 = 524288
  EXPECT_EQ(spec.layers[0].state_elems, 542720u);
  EXPECT_EQ(spec.layers[5].kv_heads, 2u);
  EXPECT_EQ(spec.layers[5].k_head_dim, 128u);
}

TEST(LayerCache, Lfm2ConvAndAttention) {
  // LFM2-1.2B: full_attn_idxs [2, 5, 8, 10, 12, 14] of 16; conv_L_cache 3 over 2048 channels.
  auto spec = layers_of(real_config("LiquidAI__LFM2-1.2B"));
  EXPECT_EQ(kinds(spec), "llfllfllflflflfl");
  EXPECT_EQ(spec.layers[0].state_elems, 4096u);  // 2048 x (3 - 1)
  // 6 attention layers x 2 x 8 KV heads x 64 x 2 = 12288
  EXPECT_EQ(f16_bytes_per_token(spec), 12288u);
}

// scratch_elems_per_token of linear layers: [in_proj outputs | conv outputs | mixer output].

TEST(LinearScratch, Qwen3NextGatedDeltaNet) {
  // key = 16 x 128 = 2048, value = 32 x 128 = 4096, 32 v-heads.
  // in_proj_qkvz 2 x 2048 + 2 x 4096 = 12288, in_proj_ba 2 x 32 = 64 -> 12352;
  // conv over q,k,v 2 x 2048 + 4096 = 8192; recurrence output 4096.
  // 12352 + 8192 + 4096 = 24640
  auto spec = layers_of(real_config("Qwen__Qwen3-Next-80B-A3B-Thinking"));
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const auto& l = spec.layers[i];
    EXPECT_EQ(l.scratch_elems_per_token, l.kind == LayerKind::Linear ? 24640u : 0u)
        << "layer " << i;
  }
}

TEST(LinearScratch, Qwen35SplitProjectionsSameWidth) {
  // Qwen3.5-27B: key = 16 x 128 = 2048, value = 48 x 128 = 6144, 48 v-heads.
  // in_proj_qkv 2 x 2048 + 6144 = 10240, in_proj_z 6144, in_proj_b 48, in_proj_a 48 -> 16480;
  // conv 10240; output 6144. 16480 + 10240 + 6144 = 32864
  auto spec = layers_of(real_config("Qwen__Qwen3.5-27B"));
  EXPECT_EQ(spec.layers[0].scratch_elems_per_token, 32864u);
  EXPECT_EQ(spec.layers[3].scratch_elems_per_token, 0u);  // full attention
  // Qwen3.5-35B-A3B has Qwen3-Next's linear geometry: 24640 as above.
  EXPECT_EQ(layers_of(real_config("Qwen__Qwen3.5-35B-A3B")).layers[0].scratch_elems_per_token,
            24640u);
}

TEST(LinearScratch, NemotronHMamba2) {
  // Nemotron-H-56B: inner = 256 heads x 64 = 16384, 8 groups x state 256 = 2048.
  // in_proj: z 16384 + x,B,C (16384 + 2 x 2048 = 20480) + dt 256 = 37120;
  // conv 20480; scan output 16384. 37120 + 20480 + 16384 = 73984
  auto spec = layers_of(real_config("nvidia__Nemotron-H-56B-Base-8K"));
  EXPECT_EQ(spec.layers[0].scratch_elems_per_token, 73984u);
  EXPECT_EQ(spec.layers[1].scratch_elems_per_token, 0u);  // MLP layer, no mixer
  EXPECT_EQ(spec.layers[7].scratch_elems_per_token, 0u);  // attention
  // Nemotron-3-Nano: inner 64 x 64 = 4096, 8 x 128 = 1024, 64 heads:
  // in_proj 4096 + (4096 + 2048) + 64 = 10304; conv 6144; output 4096 -> 20544
  EXPECT_EQ(layers_of(real_config("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"))
                .layers[0]
                .scratch_elems_per_token,
            20544u);
}

TEST(LinearScratch, Lfm2ShortConv) {
  // LFM2-1.2B, conv_dim 2048: in_proj B,C,x 3 x 2048 = 6144; conv 2048; C * conv 2048 -> 10240
  auto spec = layers_of(real_config("LiquidAI__LFM2-1.2B"));
  EXPECT_EQ(spec.layers[0].scratch_elems_per_token, 10240u);
  EXPECT_EQ(spec.layers[2].scratch_elems_per_token, 0u);  // full attention
}

TEST(LinearScratch, OverflowIsConfigError) {
  // 2^62 channels: 3 x conv_dim overflows 64 bits.
  auto config = nlohmann::json::parse(R"({
    "model_type": "lfm2", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "vocab_size": 100, "block_ff_dim": 128,
    "conv_dim": 4611686018427387904, "conv_L_cache": 1, "layer_types": ["conv", "full_attention"]})");
  try {
    layers_of(config);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("linear scratch"), std::string::npos) << e.what();
  }
}

TEST(LayerCache, MistralV01SlidesEveryLayer) {
  // Mistral-7B-v0.1: sliding window 4096 on all 32 layers (spelled sliding_window_size here).
  auto spec = layers_of(real_config("mistralai__Mistral-7B-v0.1"));
  EXPECT_EQ(kinds(spec), std::string(32, 's'));
  EXPECT_EQ(spec.layers[31].window, 4096u);
  // v0.3 has sliding_window null: full attention.
  EXPECT_EQ(kinds(layers_of(real_config("mistralai__Mistral-7B-v0.3"))), std::string(32, 'f'));
}

TEST(LayerCache, Qwen2SlidingDisabled) {
  // use_sliding_window false: sliding_window 131072 is ignored.
  auto spec = layers_of(real_config("Qwen__Qwen2.5-1.5B"));
  EXPECT_EQ(kinds(spec), std::string(28, 'f'));
  // 28 x 2 x 2 KV heads x 128 x 2 = 28672
  EXPECT_EQ(f16_bytes_per_token(spec), 28672u);
}

TEST(LayerCache, Qwen2SlidingEnabledAfterMaxWindowLayers) {
  auto config = nlohmann::json::parse(R"({
    "model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100,
    "use_sliding_window": true, "sliding_window": 32, "max_window_layers": 2,
    "max_position_embeddings": 1024})");
  EXPECT_EQ(kinds(layers_of(config)), "ffss");
}

TEST(LayerCache, Llama4ChunkedAttention) {
  // Llama-4-Scout: 48 layers; RoPE layers use chunked attention (attention_chunk_size 8192),
  // every 4th layer is NoPE with global attention. Chunked layers are Sliding(8192).
  auto spec = layers_of(real_config("meta-llama__Llama-4-Scout-17B-16E-Instruct"));
  std::string expected;
  for (int i = 0; i < 12; ++i) expected += "sssf";
  EXPECT_EQ(kinds(spec), expected);
  EXPECT_EQ(spec.layers[0].window, 8192u);
  EXPECT_EQ(spec.model_type, "llama4_text");
}

TEST(LayerCache, WindowCoveringTrainedContextIsFull) {
  // Phi-4-mini: sliding_window 262144 >= max_position_embeddings 131072.
  auto spec = layers_of(real_config("microsoft__Phi-4-mini-instruct"));
  EXPECT_EQ(kinds(spec), std::string(32, 'f'));
}

TEST(LayerCache, DimsFilled) {
  auto spec = layers_of(real_config("Qwen__Qwen1.5-MoE-A2.7B"));
  EXPECT_EQ(spec.architecture, "qwen2_moe");
  EXPECT_EQ(spec.dims.hidden_size, 2048u);
  EXPECT_EQ(spec.dims.num_layers, 24u);
  EXPECT_EQ(spec.dims.num_experts, 60u);
  EXPECT_EQ(spec.dims.experts_per_token, 4u);
  EXPECT_EQ(spec.dims.moe_intermediate_size, 1408u);
  EXPECT_EQ(spec.dims.shared_expert_intermediate_size, 5632u);
  EXPECT_EQ(spec.dims.vocab_size, 151936u);
  EXPECT_EQ(spec.dims.head_dim, 128u);  // 2048 / 16
  EXPECT_FALSE(spec.tie_word_embeddings);
}

}  // namespace
}  // namespace mlxcel
