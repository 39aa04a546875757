// config_from_gguf: GGUF metadata (llama.cpp key names) mapped to an HF-style config whose layer
// plan matches the HF config of the same model.
#include <gtest/gtest.h>

#include "arch/registry.h"
#include "arch_test_util.h"
#include "io/gguf.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

GgufFile gguf(const std::string& arch, nlohmann::json md, std::vector<std::string> tensor_names = {}) {
  GgufFile g;
  g.path = "model.gguf";
  md["general.architecture"] = arch;
  g.metadata = std::move(md);
  for (auto& n : tensor_names) {
    TensorSpec t;
    t.name = std::move(n);
    g.tensors.push_back(std::move(t));
  }
  return g;
}

ModelSpec layers_of(const GgufFile& g) {
  ModelSpec spec;
  fill_dims_and_layers(spec, config_from_gguf(g), g.path);
  return spec;
}

TEST(GgufConfig, LlamaFieldsAndVocabFromElidedArray) {
  auto g = gguf("llama", {{"llama.block_count", 32}, {"llama.context_length", 131072},
                          {"llama.embedding_length", 4096}, {"llama.feed_forward_length", 14336},
                          {"llama.attention.head_count", 32}, {"llama.attention.head_count_kv", 8},
                          {"llama.rope.freq_base", 500000.0},
                          {"tokenizer.ggml.tokens",
                           {{"gguf_array_type", 8}, {"length", 128256}, {"elided", true}}}},
                {"token_embd.weight", "output.weight"});
  auto c = config_from_gguf(g);
  EXPECT_EQ(c["model_type"], "llama");
  EXPECT_EQ(c["vocab_size"], 128256u);
  EXPECT_EQ(c["tie_word_embeddings"], false);
  auto spec = layers_of(g);
  // Llama-3.1-8B again: 32 x 2 x 8 x 128 x 2 = 131072 bytes per token at f16
  EXPECT_EQ(test::f16_bytes_per_token(spec), 131072u);
  EXPECT_EQ(spec.dims.max_position_embeddings, 131072u);
}

TEST(GgufConfig, DeepSeek2Mla) {
  // DeepSeek-V3 in llama.cpp keys: key_length 192 = nope 128 + rope 64, kv_lora_rank 512.
  auto g = gguf("deepseek2",
                {{"deepseek2.block_count", 61}, {"deepseek2.embedding_length", 7168},
                 {"deepseek2.feed_forward_length", 18432}, {"deepseek2.attention.head_count", 128},
                 {"deepseek2.attention.head_count_kv", 128}, {"deepseek2.attention.key_length", 192},
                 {"deepseek2.attention.value_length", 128}, {"deepseek2.rope.dimension_count", 64},
                 {"deepseek2.attention.kv_lora_rank", 512}, {"deepseek2.attention.q_lora_rank", 1536},
                 {"deepseek2.expert_count", 256}, {"deepseek2.expert_used_count", 8},
                 {"deepseek2.expert_feed_forward_length", 2048},
                 {"deepseek2.expert_shared_count", 1}, {"deepseek2.leading_dense_block_count", 3},
                 {"deepseek2.vocab_size", 129280}});
  auto spec = layers_of(g);
  EXPECT_EQ(spec.architecture, "deepseek_v3");
  EXPECT_EQ(test::kinds(spec), std::string(61, 'm'));
  // 61 x (512 + 64) x 2 = 70272
  EXPECT_EQ(test::f16_bytes_per_token(spec), 70272u);
  // key_length 192 per head for q/k, value_length 128
  EXPECT_EQ(spec.layers[0].k_head_dim, 192u);
  EXPECT_EQ(spec.layers[0].v_head_dim, 128u);
}

TEST(GgufConfig, Qwen3NextHybrid) {
  // ssm.inner_size 4096 = 32 v-heads (time_step_rank) x 128; group_count 16 k-heads of
  // state_size 128; per-layer head_count_kv 0 marks the linear layers.
  nlohmann::json kv = nlohmann::json::array();
  for (int i = 0; i < 8; ++i) kv.push_back((i + 1) % 4 == 0 ? 2 : 0);
  auto g = gguf("qwen3next",
                {{"qwen3next.block_count", 8}, {"qwen3next.embedding_length", 2048},
                 {"qwen3next.feed_forward_length", 5120}, {"qwen3next.attention.head_count", 16},
                 {"qwen3next.attention.head_count_kv", kv}, {"qwen3next.attention.key_length", 256},
                 {"qwen3next.ssm.conv_kernel", 4}, {"qwen3next.ssm.state_size", 128},
                 {"qwen3next.ssm.group_count", 16}, {"qwen3next.ssm.time_step_rank", 32},
                 {"qwen3next.ssm.inner_size", 4096}, {"qwen3next.expert_count", 512},
                 {"qwen3next.expert_used_count", 10},
                 {"qwen3next.expert_feed_forward_length", 512}, {"qwen3next.vocab_size", 151936}});
  auto spec = layers_of(g);
  EXPECT_EQ(test::kinds(spec), "lllflllf");
  EXPECT_EQ(spec.layers[0].state_elems, 548864u);  // as LayerCache.Qwen3NextLinearAndFull
  EXPECT_EQ(spec.layers[3].kv_heads, 2u);
  EXPECT_EQ(spec.layers[3].k_head_dim, 256u);
}

TEST(GgufConfig, NemotronHFromPerLayerArrays) {
  // head_count_kv > 0: attention; feed_forward_length > 0: MLP; else Mamba2.
  nlohmann::json kv = {0, 0, 0, 8, 0}, ff = {0, 21504, 0, 0, 21504};
  auto g = gguf("nemotron_h",
                {{"nemotron_h.block_count", 5}, {"nemotron_h.embedding_length", 4096},
                 {"nemotron_h.feed_forward_length", ff}, {"nemotron_h.attention.head_count", 32},
                 {"nemotron_h.attention.head_count_kv", kv}, {"nemotron_h.attention.key_length", 128},
                 {"nemotron_h.ssm.conv_kernel", 4}, {"nemotron_h.ssm.state_size", 128},
                 {"nemotron_h.ssm.group_count", 8}, {"nemotron_h.ssm.time_step_rank", 128},
                 {"nemotron_h.ssm.inner_size", 8192}, {"nemotron_h.vocab_size", 131072}});
  auto c = config_from_gguf(g);
  EXPECT_EQ(c["hybrid_override_pattern"], "M-M*-");
  auto spec = layers_of(g);
  EXPECT_EQ(test::kinds(spec), "lnlfn");
  // inner 128 x 64 = 8192; conv (8192 + 2 x 8 x 128) x 3 = 30720; SSM 128 x 64 x 128 = 1048576
  EXPECT_EQ(spec.layers[0].state_elems, 1079296u);
}

TEST(GgufConfig, Lfm2ShortConv) {
  nlohmann::json kv = {0, 0, 8, 0};
  auto g = gguf("lfm2", {{"lfm2.block_count", 4}, {"lfm2.embedding_length", 1024},
                         {"lfm2.feed_forward_length", 6656}, {"lfm2.attention.head_count", 16},
                         {"lfm2.attention.head_count_kv", kv}, {"lfm2.shortconv.l_cache", 3},
                         {"lfm2.vocab_size", 65536}});
  auto spec = layers_of(g);
  EXPECT_EQ(test::kinds(spec), "llfl");
  EXPECT_EQ(spec.layers[0].state_elems, 2048u);  // 1024 x (3 - 1)
}

TEST(GgufConfig, Gemma3DefaultPatternAndWindow) {
  auto g = gguf("gemma3", {{"gemma3.block_count", 7}, {"gemma3.embedding_length", 1152},
                           {"gemma3.feed_forward_length", 6912}, {"gemma3.attention.head_count", 4},
                           {"gemma3.attention.head_count_kv", 1}, {"gemma3.attention.key_length", 256},
                           {"gemma3.attention.sliding_window", 512}, {"gemma3.vocab_size", 262144}});
  auto spec = layers_of(g);
  EXPECT_EQ(test::kinds(spec), "sssssfs");
  EXPECT_EQ(spec.layers[0].window, 512u);
}

TEST(GgufConfig, GptOssAlternating) {
  auto g = gguf("gpt-oss", {{"gpt-oss.block_count", 4}, {"gpt-oss.embedding_length", 2880},
                            {"gpt-oss.feed_forward_length", 2880}, {"gpt-oss.attention.head_count", 64},
                            {"gpt-oss.attention.head_count_kv", 8}, {"gpt-oss.attention.key_length", 64},
                            {"gpt-oss.attention.sliding_window", 128}, {"gpt-oss.expert_count", 32},
                            {"gpt-oss.vocab_size", 201088}});
  EXPECT_EQ(test::kinds(layers_of(g)), "sfsf");
}

TEST(GgufConfig, MtpBlocksAreNotLayers) {
  auto g = gguf("qwen3", {{"qwen3.block_count", 5}, {"qwen3.nextn_predict_layers", 1},
                          {"qwen3.embedding_length", 64}, {"qwen3.feed_forward_length", 128},
                          {"qwen3.attention.head_count", 4}, {"qwen3.vocab_size", 100}});
  EXPECT_EQ(layers_of(g).layers.size(), 4u);
}

TEST(GgufConfig, UnknownArchitecture) {
  auto g = gguf("rwkv7", {{"rwkv7.block_count", 2}});
  try {
    config_from_gguf(g);
    FAIL() << "expected UnsupportedArchitecture";
  } catch (const UnsupportedArchitecture& e) {
    EXPECT_NE(std::string(e.what()).find("rwkv7"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("qwen3next"), std::string::npos);
  }
}

TEST(GgufConfig, MissingBlockCount) {
  auto g = gguf("llama", {{"llama.embedding_length", 64}});
  try {
    config_from_gguf(g);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("llama.block_count"), std::string::npos);
  }
}

TEST(GgufConfig, NegativeValue) {
  auto g = gguf("llama", {{"llama.block_count", -3}, {"llama.embedding_length", 64}});
  EXPECT_THROW(config_from_gguf(g), ConfigError);
}

TEST(GgufConfig, PerLayerArrayWrongLength) {
  auto g = gguf("lfm2", {{"lfm2.block_count", 4}, {"lfm2.embedding_length", 64},
                         {"lfm2.attention.head_count", 4},
                         {"lfm2.attention.head_count_kv", {0, 2}}, {"lfm2.shortconv.l_cache", 3},
                         {"lfm2.vocab_size", 100}});
  EXPECT_THROW(config_from_gguf(g), ConfigError);
}

}  // namespace
}  // namespace mlxcel
