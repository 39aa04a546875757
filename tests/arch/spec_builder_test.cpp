// load_model_spec on generated models: safetensors written (as sparse files) from the analytic
// tensor list of several architectures must read back exactly, to the byte and tensor by tensor;
// sharded indexes are cross-checked; GGUF files give exact weights and config-derived layers.
#include <algorithm>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "arch/registry.h"
#include "arch_test_util.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

using test::real_config;
using test::TempDir;

void write_json(const std::string& path, const nlohmann::json& j) { std::ofstream(path) << j.dump(2); }
nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(std::ifstream(path)); }

// Writes config.json and the tensors (holes, no data) into `shards` files with an index when
// more than one; returns the index total_size written.
uint64_t write_model(const TempDir& dir, const nlohmann::json& config,
                     const std::vector<TensorSpec>& tensors, size_t shards = 1,
                     std::optional<uint64_t> total_override = std::nullopt) {
  write_json(dir.file("config.json"), config);
  uint64_t total = 0;
  std::vector<std::vector<SafetensorsTensorData>> parts(shards);
  std::map<std::string, std::string> weight_map;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const size_t s = i * shards / tensors.size();
    parts[s].push_back({tensors[i].name, tensors[i].dtype, tensors[i].shape, nullptr});
    total += tensors[i].bytes;
  }
  for (size_t s = 0; s < shards; ++s) {
    std::string name = shards == 1 ? "model.safetensors"
                                   : "model-0000" + std::to_string(s + 1) + "-of-0000" +
                                         std::to_string(shards) + ".safetensors";
    write_safetensors(dir.file(name), parts[s], {{"format", "pt"}});
    for (const auto& t : parts[s]) weight_map[t.name] = name;
  }
  if (shards > 1)
    write_safetensors_index(dir.file("model.safetensors.index.json"), total_override.value_or(total),
                            weight_map);
  return total;
}

void expect_same_tensors(const ModelSpec& analytic, const ModelSpec& exact) {
  EXPECT_EQ(exact.weight_bytes(), analytic.weight_bytes());
  ASSERT_EQ(exact.tensors.size(), analytic.tensors.size());
  std::map<std::string, const TensorSpec*> by_name;
  for (const auto& t : exact.tensors) by_name[t.name] = &t;
  for (const auto& a : analytic.tensors) {
    auto it = by_name.find(a.name);
    ASSERT_NE(it, by_name.end()) << a.name;
    const TensorSpec& e = *it->second;
    EXPECT_EQ(e.shape, a.shape) << a.name;
    EXPECT_EQ(e.dtype, a.dtype) << a.name;
    EXPECT_EQ(e.bytes, a.bytes) << a.name;
    EXPECT_EQ(component_name(e.component), component_name(a.component)) << a.name;
    EXPECT_GE(e.file, 0) << a.name;
  }
  ASSERT_EQ(exact.layers.size(), analytic.layers.size());
  for (size_t i = 0; i < exact.layers.size(); ++i) {
    EXPECT_EQ(exact.layers[i].kind, analytic.layers[i].kind) << "layer " << i;
    EXPECT_EQ(exact.layers[i].window, analytic.layers[i].window) << "layer " << i;
    EXPECT_EQ(exact.layers[i].state_elems, analytic.layers[i].state_elems) << "layer " << i;
    EXPECT_EQ(exact.layers[i].latent_dim, analytic.layers[i].latent_dim) << "layer " << i;
  }
  EXPECT_EQ(exact.quant.method, analytic.quant.method);
  EXPECT_EQ(exact.quant.bits, analytic.quant.bits);
  EXPECT_EQ(exact.float_dtype, analytic.float_dtype);
  EXPECT_EQ(exact.architecture, analytic.architecture);
}

// Writes the analytic tensor list of `config` and reads it back through load_model_spec.
void round_trip(const nlohmann::json& config, size_t shards = 1) {
  auto analytic = analytic_spec(config);
  TempDir dir;
  write_model(dir, config, analytic.tensors, shards);
  auto exact = load_model_spec(dir.path().string());
  EXPECT_EQ(exact.source, WeightSource::Exact);
  EXPECT_EQ(exact.format, "safetensors");
  EXPECT_EQ(exact.files.size(), shards);
  EXPECT_GT(exact.header_bytes_read, 0u);
  expect_same_tensors(analytic, exact);
  for (const auto& w : exact.warnings) EXPECT_EQ(w.find("total_size"), std::string::npos) << w;
}

TEST(AnalyticEqualsExact, SmolLM2Bf16) {
  auto config = real_config("HuggingFaceTB__SmolLM2-135M");
  round_trip(config);
  // Independent literal (see AnalyticWeights.SmolLM2_135M_Tied): 269030016 bytes.
  TempDir dir;
  write_model(dir, config, analytic_spec(config).tensors);
  EXPECT_EQ(load_model_spec(dir.path().string()).weight_bytes(), 269030016u);
}

TEST(AnalyticEqualsExact, SmolLM2Mlx4Bit) {
  auto config = real_config("HuggingFaceTB__SmolLM2-135M");
  config["quantization"] = {{"group_size", 64}, {"bits", 4}};
  round_trip(config);
}

TEST(AnalyticEqualsExact, Qwen25Mlx8BitSharded) {
  auto config = real_config("Qwen__Qwen2.5-1.5B");
  config["quantization"] = {{"group_size", 32}, {"bits", 8}};
  round_trip(config, 3);
}

TEST(AnalyticEqualsExact, DeepSeekFp8MlaWithMtp) {
  auto config = real_config("deepseek-ai__DeepSeek-R1");
  config["num_hidden_layers"] = 5;  // 3 dense + 2 MoE, MTP layer 5
  config["n_routed_experts"] = 8;
  round_trip(config, 2);
}

TEST(AnalyticEqualsExact, GptOssMxfp4) {
  auto config = real_config("openai__gpt-oss-120b");
  config["num_hidden_layers"] = 4;
  config["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention",
                           "full_attention"};
  config["num_local_experts"] = 8;
  round_trip(config);
}

TEST(AnalyticEqualsExact, Qwen3NextHybridWithMtp) {
  auto config = real_config("Qwen__Qwen3-Next-80B-A3B-Thinking");
  config["num_hidden_layers"] = 8;
  config["num_experts"] = 8;
  round_trip(config);
}

TEST(AnalyticEqualsExact, Qwen35MoeNestedMlx4Bit) {
  auto config = real_config("Qwen__Qwen3.5-35B-A3B");
  auto& text = config["text_config"];
  text["num_hidden_layers"] = 4;
  text["layer_types"] = {"linear_attention", "linear_attention", "linear_attention",
                         "full_attention"};
  text["num_experts"] = 4;
  config["quantization"] = {{"group_size", 64}, {"bits", 4}};
  round_trip(config);
}

TEST(AnalyticEqualsExact, NemotronHMoe) {
  auto config = real_config("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16");
  config["hybrid_override_pattern"] = "MEM*EM";
  config["num_hidden_layers"] = 6;
  config["n_routed_experts"] = 4;
  round_trip(config);
}

TEST(AnalyticEqualsExact, Lfm2) { round_trip(real_config("LiquidAI__LFM2-1.2B")); }

TEST(AnalyticEqualsExact, Llama4NestedChunked) {
  auto config = real_config("meta-llama__Llama-4-Scout-17B-16E-Instruct");
  config["text_config"]["num_hidden_layers"] = 4;
  config["text_config"]["num_local_experts"] = 2;
  round_trip(config);
}

TEST(AnalyticEqualsExact, Gemma2) {
  auto config = real_config("google__gemma-2-27b");
  config["num_hidden_layers"] = 3;
  round_trip(config);
}

TEST(SpecBuilder, IndexTotalSizeMismatchWarnsWithBothNumbers) {
  auto config = real_config("HuggingFaceTB__SmolLM2-135M");
  auto analytic = analytic_spec(config);
  TempDir dir;
  write_model(dir, config, analytic.tensors, 2, uint64_t{123456});
  auto exact = load_model_spec(dir.path().string());
  bool found = false;
  for (const auto& w : exact.warnings)
    found = found || (w.find("123456") != std::string::npos &&
                      w.find("269030016") != std::string::npos);
  EXPECT_TRUE(found);
}

TEST(SpecBuilder, IndexMapsTensorToWrongShard) {
  auto config = real_config("HuggingFaceTB__SmolLM2-135M");
  auto analytic = analytic_spec(config);
  TempDir dir;
  write_model(dir, config, analytic.tensors, 2);
  // Re-point the first tensor at the second shard.
  auto index = read_json(dir.file("model.safetensors.index.json"));
  index["weight_map"]["model.embed_tokens.weight"] = "model-00002-of-00002.safetensors";
  write_json(dir.file("model.safetensors.index.json"), index);
  try {
    load_model_spec(dir.path().string());
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("model.embed_tokens.weight"), std::string::npos) << e.what();
  }
}

TEST(SpecBuilder, WhatIfRequantizeIsAnalytic) {
  auto config = real_config("HuggingFaceTB__SmolLM2-135M");
  TempDir dir;
  write_model(dir, config, analytic_spec(config).tensors);
  SpecOptions opts;
  opts.analytic.requantize = Quantization{QuantMethod::Mlx, 4, 64, {}};
  auto spec = load_model_spec(dir.path().string(), opts);
  EXPECT_EQ(spec.source, WeightSource::Analytic);
  EXPECT_EQ(spec.format, "config");
  EXPECT_EQ(spec.weight_bytes(), 75715200u);  // see Quantization.MlxFourBitSmolLM2
}

TEST(SpecBuilder, ConfigOnlyDirectory) {
  TempDir dir;
  write_json(dir.file("config.json"), real_config("Qwen__Qwen3-0.6B"));
  auto spec = load_model_spec(dir.path().string());
  EXPECT_EQ(spec.source, WeightSource::Analytic);
  EXPECT_EQ(spec.weight_bytes(), 1192099840u);  // see AnalyticWeights.Qwen3_0_6B
}

TEST(SpecBuilder, UnknownArchitectureWithWeights) {
  auto config = real_config("HuggingFaceTB__SmolLM2-135M");
  TempDir dir;
  write_model(dir, config, analytic_spec(config).tensors);
  config["model_type"] = "not_a_model";
  write_json(dir.file("config.json"), config);
  EXPECT_THROW(load_model_spec(dir.path().string()), UnsupportedArchitecture);
}

// A small llama GGUF: 2 layers, hidden 64, 4 heads / 2 KV heads, vocab 5000 (a tokenizer array
// longer than what is kept), tied embeddings.
TEST(SpecBuilder, GgufExactWeightsAndLayers) {
  TempDir dir;
  nlohmann::json md = {{"general.architecture", "llama"}, {"llama.block_count", 2},
                       {"llama.context_length", 2048}, {"llama.embedding_length", 64},
                       {"llama.feed_forward_length", 128}, {"llama.attention.head_count", 4},
                       {"llama.attention.head_count_kv", 2}};
  md["tokenizer.ggml.tokens"] = nlohmann::json::array();
  for (int i = 0; i < 5000; ++i) md["tokenizer.ggml.tokens"].push_back("t" + std::to_string(i));
  std::vector<GgufTensorData> tensors = {
      {"token_embd.weight", DType::F16, {5000, 64}, nullptr},
      {"output_norm.weight", DType::F32, {64}, nullptr},
  };
  for (int l = 0; l < 2; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    tensors.push_back({p + "attn_norm.weight", DType::F32, {64}, nullptr});
    tensors.push_back({p + "attn_q.weight", DType::Q8_0, {64, 64}, nullptr});
    tensors.push_back({p + "attn_k.weight", DType::Q8_0, {32, 64}, nullptr});
    tensors.push_back({p + "attn_v.weight", DType::Q8_0, {32, 64}, nullptr});
    tensors.push_back({p + "attn_output.weight", DType::Q8_0, {64, 64}, nullptr});
    tensors.push_back({p + "ffn_norm.weight", DType::F32, {64}, nullptr});
    tensors.push_back({p + "ffn_gate.weight", DType::Q4_0, {128, 64}, nullptr});
    tensors.push_back({p + "ffn_up.weight", DType::Q4_0, {128, 64}, nullptr});
    tensors.push_back({p + "ffn_down.weight", DType::Q4_0, {64, 128}, nullptr});
  }
  write_gguf(dir.file("model.gguf"), md, tensors);
  auto spec = load_model_spec(dir.file("model.gguf"));
  EXPECT_EQ(spec.source, WeightSource::Exact);
  EXPECT_EQ(spec.format, "gguf");
  EXPECT_EQ(spec.quant.method, QuantMethod::Gguf);
  EXPECT_EQ(spec.architecture, "llama");
  EXPECT_EQ(spec.dims.vocab_size, 5000u);
  EXPECT_TRUE(spec.tie_word_embeddings);
  EXPECT_EQ(test::kinds(spec), "ff");
  EXPECT_EQ(spec.layers[0].kv_heads, 2u);
  EXPECT_EQ(spec.layers[0].k_head_dim, 16u);  // 64 / 4
  // embed 5000 x 64 x 2 = 640000; norms (1 + 2 x 2) x 64 x 4 = 1280;
  // per layer Q8_0 (34 bytes / 32): q,o 4096/32 x 34 = 4352 each, k,v 2048/32 x 34 = 2176 each
  // -> 13056; Q4_0 (18 bytes / 32): 3 x 8192/32 x 18 = 13824; total 640000 + 1280 + 2 x 26880
  // = 695040
  EXPECT_EQ(spec.weight_bytes(), 695040u);
  auto c = test::by_component(spec);
  EXPECT_EQ(c[Component::Embeddings], 640000u);
  EXPECT_EQ(c[Component::Norms], 1280u);
  EXPECT_EQ(c[Component::Attention], 26112u);  // 2 x 13056
  EXPECT_EQ(c[Component::Mlp], 27648u);        // 2 x 13824
  EXPECT_GT(spec.header_bytes_read, 0u);
}

TEST(SpecBuilder, SplitGgufPartsAreMerged) {
  // Metadata in part 1, tensors spread over both parts; the first tensor of each part keeps its
  // part's file index. Gemma 2 layout: 2 layers, even layer sliding over 4096 tokens.
  TempDir dir;
  nlohmann::json md = {{"general.architecture", "gemma2"}, {"gemma2.block_count", 2},
                       {"gemma2.embedding_length", 64}, {"gemma2.feed_forward_length", 128},
                       {"gemma2.attention.head_count", 2}, {"gemma2.attention.head_count_kv", 1},
                       {"gemma2.attention.key_length", 32}, {"gemma2.attention.sliding_window", 4096},
                       {"gemma2.context_length", 8192}, {"gemma2.vocab_size", 1000},
                       {"split.no", 0}, {"split.count", 2}};
  write_gguf(dir.file("m-00001-of-00002.gguf"), md,
             {{"token_embd.weight", DType::BF16, {1000, 64}, nullptr},
              {"blk.0.attn_q.weight", DType::Q8_0, {64, 64}, nullptr}});
  write_gguf(dir.file("m-00002-of-00002.gguf"), {{"split.no", 1}, {"split.count", 2}},
             {{"blk.1.attn_q.weight", DType::Q8_0, {64, 64}, nullptr},
              {"output_norm.weight", DType::F32, {64}, nullptr}});
  auto spec = load_model_spec(dir.file("m-00001-of-00002.gguf"));
  EXPECT_EQ(spec.files.size(), 2u);
  ASSERT_EQ(spec.tensors.size(), 4u);
  EXPECT_EQ(spec.tensors[0].file, 0);
  EXPECT_EQ(spec.tensors[3].file, 1);
  EXPECT_EQ(test::kinds(spec), "sf");
  EXPECT_EQ(spec.float_dtype, DType::BF16);
  // 1000 x 64 x 2 = 128000; 2 x (4096 / 32 x 34) = 8704; 64 x 4 = 256 -> 136960
  EXPECT_EQ(spec.weight_bytes(), 136960u);
}

TEST(AnalyticEqualsExact, Gemma3MultimodalWrapperTextOnly) {
  auto config = nlohmann::json::parse(R"({
    "model_type": "gemma3", "torch_dtype": "bfloat16",
    "text_config": {"model_type": "gemma3_text", "hidden_size": 256, "intermediate_size": 512,
      "num_hidden_layers": 7, "num_attention_heads": 2, "num_key_value_heads": 1,
      "head_dim": 128, "vocab_size": 1000, "sliding_window": 64},
    "vision_config": {"hidden_size": 32}})");
  round_trip(config);
}

// The spec records the size of the tokenizer file beside the model (tokenizer.json first, else
// tiktoken's tokenizer.model), for the plan's tokenizer term; without one it is 0.
TEST(TokenizerFileBytes, TokenizerJsonThenTokenizerModelThenNone) {
  const auto config = real_config("HuggingFaceTB__SmolLM2-135M");
  TempDir dir;
  write_model(dir, config, analytic_spec(config).tensors);
  EXPECT_EQ(load_model_spec(dir.path().string()).tokenizer_file_bytes, 0u);
  std::ofstream(dir.path() / "tokenizer.model") << std::string(1234, 'm');
  EXPECT_EQ(load_model_spec(dir.path().string()).tokenizer_file_bytes, 1234u);
  EXPECT_TRUE(load_model_spec(dir.path().string()).tokenizer_is_tiktoken);
  std::ofstream(dir.path() / "tokenizer.json") << std::string(4321, 'j');
  EXPECT_EQ(load_model_spec(dir.path().string()).tokenizer_file_bytes, 4321u);
  EXPECT_FALSE(load_model_spec(dir.path().string()).tokenizer_is_tiktoken);
  // a config-only directory (analytic estimate) reads it too
  TempDir cfg;
  std::ofstream(cfg.path() / "config.json") << config.dump();
  std::ofstream(cfg.path() / "tokenizer.json") << std::string(77, 'j');
  EXPECT_EQ(load_model_spec(cfg.path().string()).tokenizer_file_bytes, 77u);
}

}  // namespace
}  // namespace mlxcel
