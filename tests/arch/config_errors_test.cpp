// Malformed configs: each case checks the exception type and what the message names.
#include <fstream>

#include <gtest/gtest.h>

#include "arch/registry.h"
#include "arch_test_util.h"
#include "mlxcel/errors.h"
#include "support/test_paths.h"

namespace mlxcel {
namespace {

using test::tiny_llama;

template <typename E>
std::string message_of(const nlohmann::json& config, const std::string& name = "config.json") {
  try {
    analytic_spec(config, {}, name);
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected exception";
  return {};
}

TEST(ConfigErrors, MissingRequiredFieldNamesFieldAndFile) {
  auto config = tiny_llama();
  config.erase("hidden_size");
  auto msg = message_of<ConfigError>(config, "/models/x/config.json");
  EXPECT_NE(msg.find("hidden_size"), std::string::npos) << msg;
  EXPECT_NE(msg.find("n_embd"), std::string::npos) << msg;  // aliases listed
  EXPECT_NE(msg.find("/models/x/config.json"), std::string::npos) << msg;
}

TEST(ConfigErrors, MissingModelType) {
  auto config = tiny_llama();
  config.erase("model_type");
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("model_type"), std::string::npos) << msg;
}

TEST(ConfigErrors, UnknownModelTypeListsSupported) {
  auto config = tiny_llama();
  config["model_type"] = "mamba_llama_9000";
  auto msg = message_of<UnsupportedArchitecture>(config);
  EXPECT_NE(msg.find("mamba_llama_9000"), std::string::npos) << msg;
  for (const char* family : {"llama", "qwen3_next", "deepseek_v3", "gpt_oss", "nemotron_h",
                             "lfm2", "gemma3_text", "kimi_k2", "falcon", "granitemoe"})
    EXPECT_NE(msg.find(family), std::string::npos) << family;
}

TEST(ConfigErrors, NegativeCount) {
  auto config = tiny_llama();
  config["num_hidden_layers"] = -2;
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("num_hidden_layers"), std::string::npos) << msg;
  EXPECT_NE(msg.find("-2"), std::string::npos) << msg;
}

TEST(ConfigErrors, StringWhereIntegerExpected) {
  auto config = tiny_llama();
  config["vocab_size"] = "lots";
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("vocab_size"), std::string::npos) << msg;
}

TEST(ConfigErrors, ZeroHeads) {
  auto config = tiny_llama();
  config["num_attention_heads"] = 0;
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("num_attention_heads"), std::string::npos) << msg;
}

TEST(ConfigErrors, KvHeadsNotDividingHeads) {
  auto config = tiny_llama();
  config["num_key_value_heads"] = 3;
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("num_key_value_heads"), std::string::npos) << msg;
}

TEST(ConfigErrors, ShapeOverflow) {
  auto config = tiny_llama();
  // vocab 2^33 x hidden 2^32 elements would not fit 64 bits; the width bound (2^24, see
  // arch/limits.h) refuses the first of them before any product is formed.
  config["hidden_size"] = 1ull << 32;
  config["vocab_size"] = 1ull << 33;
  config["num_attention_heads"] = 1ull << 28;
  config["num_key_value_heads"] = 1ull << 28;
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("implausible hidden_size: 4294967296"), std::string::npos) << msg;
}

TEST(ConfigErrors, GatedDeltaNetKeyWidthOverflow) {
  // 2^33 key heads x 2^31 per head = 2^64 does not fit 64 bits.
  auto config = test::real_config("Qwen__Qwen3-Next-80B-A3B-Thinking");
  config["linear_num_key_heads"] = 1ull << 33;
  config["linear_num_value_heads"] = 1ull << 33;
  config["linear_key_head_dim"] = 1ull << 31;
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("linear_key_head_dim"), std::string::npos) << msg;
  EXPECT_NE(msg.find("overflow"), std::string::npos) << msg;
}

TEST(ConfigErrors, Mamba2ConvWidthOverflow) {
  // 2 x 2^62 groups x state 256 = 2^71.
  auto config = test::real_config("nvidia__Nemotron-H-56B-Base-8K");
  config["n_groups"] = 1ull << 62;
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("ssm_state_size"), std::string::npos) << msg;
  EXPECT_NE(msg.find("overflow"), std::string::npos) << msg;
}

TEST(ConfigErrors, MlaQueryHeadOverflow) {
  // qk_nope_head_dim 2^64 - 1 + qk_rope_head_dim 64 wraps.
  auto config = test::real_config("deepseek-ai__DeepSeek-R1");
  config["qk_nope_head_dim"] = 18446744073709551615ull;
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("qk_nope_head_dim"), std::string::npos) << msg;
  EXPECT_NE(msg.find("overflow"), std::string::npos) << msg;
}

TEST(ConfigErrors, Lfm2NegativeFfMultiplier) {
  auto config = test::real_config("LiquidAI__LFM2-1.2B");
  config["block_auto_adjust_ff_dim"] = true;
  config["block_ffn_dim_multiplier"] = -1.5;
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("block_ffn_dim_multiplier"), std::string::npos) << msg;
}

TEST(ConfigErrors, Lfm2HugeFfMultiplier) {
  auto config = test::real_config("LiquidAI__LFM2-1.2B");
  config["block_auto_adjust_ff_dim"] = true;
  config["block_ffn_dim_multiplier"] = 1e300;
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("block_ffn_dim_multiplier"), std::string::npos) << msg;
}

TEST(ConfigErrors, ImplausibleExpertCount) {
  auto config = test::real_config("mistralai__Mixtral-8x22B-v0.1");
  config["num_local_experts"] = 1000000000;
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("num_local_experts"), std::string::npos) << msg;
}

TEST(ConfigErrors, LayerTypesWrongLength) {
  auto config = nlohmann::json::parse(R"({
    "model_type": "gpt_oss", "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 3,
    "num_attention_heads": 2, "num_key_value_heads": 1, "num_local_experts": 2,
    "vocab_size": 100, "sliding_window": 8, "layer_types": ["sliding_attention"]})");
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("layer_types"), std::string::npos) << msg;
}

TEST(ConfigErrors, UnknownLayerType) {
  auto config = tiny_llama();
  config["layer_types"] = {"full_attention", "teleport_attention"};
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("teleport_attention"), std::string::npos) << msg;
}

TEST(ConfigErrors, SlidingLayerWithoutWindow) {
  auto config = tiny_llama();
  config["layer_types"] = {"sliding_attention", "full_attention"};
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("sliding_window"), std::string::npos) << msg;
}

TEST(ConfigErrors, HybridPatternUnknownBlock) {
  auto config = test::real_config("nvidia__Nemotron-H-56B-Base-8K");
  config["hybrid_override_pattern"] = "M*Q";
  config.erase("num_hidden_layers");
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("hybrid_override_pattern"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'Q'"), std::string::npos) << msg;
}

TEST(ConfigErrors, HybridPatternLengthMismatch) {
  auto config = test::real_config("nvidia__Nemotron-H-56B-Base-8K");
  config["hybrid_override_pattern"] = "M*M-";
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("num_hidden_layers"), std::string::npos) << msg;
}

TEST(ConfigErrors, MlaMissingKvLoraRank) {
  auto config = test::real_config("deepseek-ai__DeepSeek-R1");
  config.erase("kv_lora_rank");
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("kv_lora_rank"), std::string::npos) << msg;
}

TEST(ConfigErrors, MoeWithoutExperts) {
  auto config = test::real_config("mistralai__Mixtral-8x22B-v0.1");
  config.erase("num_local_experts");
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("num_local_experts"), std::string::npos) << msg;
}

TEST(ConfigErrors, UnsupportedTorchDtype) {
  auto config = tiny_llama();
  config["torch_dtype"] = "float8";
  auto msg = message_of<ConfigError>(config);
  EXPECT_NE(msg.find("torch_dtype"), std::string::npos) << msg;
}

TEST(ConfigErrors, InvalidJsonFile) {
  test::TempDir dir;
  const auto path = dir.file("config.json");
  std::ofstream(path) << "{\"model_type\": \"llama\", \"hidden_size\": 64,";
  try {
    read_config_json(path);
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(ConfigErrors, InvalidUtf8InConfig) {
  test::TempDir dir;
  const auto path = dir.file("config.json");
  std::ofstream(path, std::ios::binary) << "{\"model_type\": \"ll\xff\xfe\"}";
  EXPECT_THROW(read_config_json(path), FormatError);
}

TEST(ConfigErrors, ConfigNotAnObject) {
  test::TempDir dir;
  const auto path = dir.file("config.json");
  std::ofstream(path) << "[1, 2, 3]";
  EXPECT_THROW(read_config_json(path), FormatError);
}

TEST(ConfigErrors, MissingConfigFile) {
  test::TempDir dir;
  EXPECT_THROW(read_config_json(dir.file("config.json")), IoError);
}

TEST(ConfigAliases, GptStyleFieldNames) {
  // n_embd / n_layer / n_head / n_inner / n_positions are accepted for the canonical names.
  auto config = nlohmann::json::parse(R"({
    "model_type": "llama", "n_embd": 64, "n_inner": 128, "n_layer": 2, "n_head": 4,
    "n_head_kv": 2, "vocab_size": 100, "n_positions": 512})");
  ModelSpec spec;
  fill_dims_and_layers(spec, config);
  EXPECT_EQ(spec.dims.hidden_size, 64u);
  EXPECT_EQ(spec.dims.intermediate_size, 128u);
  EXPECT_EQ(spec.dims.num_layers, 2u);
  EXPECT_EQ(spec.dims.num_kv_heads, 2u);
  EXPECT_EQ(spec.dims.max_position_embeddings, 512u);
}

TEST(ConfigAliases, FalconMultiQuery) {
  // Falcon-7B style: n_head 71, multi_query, parallel_attn, no bias; qkv = hidden + 2 x 64.
  auto config = nlohmann::json::parse(R"({
    "model_type": "falcon", "hidden_size": 4544, "n_head": 71, "n_layer": 32,
    "multi_query": true, "parallel_attn": true, "bias": false, "vocab_size": 65024,
    "torch_dtype": "bfloat16"})");
  auto spec = analytic_spec(config);
  const TensorSpec* qkv = nullptr;
  for (const auto& t : spec.tensors)
    if (t.name == "transformer.h.0.self_attention.query_key_value.weight") qkv = &t;
  ASSERT_NE(qkv, nullptr);
  EXPECT_EQ(qkv->shape, (std::vector<uint64_t>{4672, 4544}));  // 4544 + 2 x 64
  EXPECT_EQ(spec.layers[0].kv_heads, 1u);
  // embed 65024 x 4544 = 295469056 (tied); layer: qkv 4672 x 4544 = 21229568, dense 4544^2 =
  // 20647936, mlp 2 x 4 x 4544^2 = 165183488, input_layernorm w+b 9088 -> 207070080;
  // x32 = 6626242560; ln_f 9088; total 6921720704 params -> 13843441408 bytes
  EXPECT_EQ(spec.weight_bytes(), 13843441408u);
}

}  // namespace
}  // namespace mlxcel
