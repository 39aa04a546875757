// Plausibility bounds (arch/limits.h) and bounded config reading: a config of a few bytes must not
// make the registry list millions of tensors, nor the JSON reader crash. Each malformed case is
// its own test checking the error type and that the message names file, field and value.
#include <unistd.h>

#include <chrono>
#include <fstream>

#include <gtest/gtest.h>

#include "arch/registry.h"
#include "arch_test_util.h"
#include "io/gguf.h"
#include "mlxcel/errors.h"
#include "support/test_paths.h"

namespace mlxcel {
namespace {

using test::tiny_llama;

std::string config_error(const nlohmann::json& config) {
  try {
    analytic_spec(config, {}, "/m/config.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected ConfigError";
  return {};
}

bool has(const std::string& msg, const std::string& part) { return msg.find(part) != std::string::npos; }

TEST(Plausibility, LayerCountOverBound) {
  auto c = tiny_llama();
  c["num_hidden_layers"] = 100000;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string msg = config_error(c);
  EXPECT_TRUE(has(msg, "implausible num_hidden_layers: 100000 is more than the 4096 layers")) << msg;
  EXPECT_TRUE(has(msg, "(/m/config.json, num_hidden_layers, 100000)")) << msg;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(Plausibility, LayerCountAliasNamed) {
  auto c = tiny_llama();
  c.erase("num_hidden_layers");
  c["n_layer"] = 5000;
  const std::string msg = config_error(c);
  EXPECT_TRUE(has(msg, "(/m/config.json, n_layer, 5000)")) << msg;
}

TEST(Plausibility, LayerCountAtBoundIsPlanned) {
  auto c = tiny_llama();
  c["num_hidden_layers"] = 4096;
  ModelSpec spec = analytic_spec(c, {}, "config.json");
  EXPECT_EQ(spec.layers.size(), 4096u);
  // embed + 4096 x (2 norms + q k v o + gate up down) + final norm + lm_head
  EXPECT_EQ(spec.tensors.size(), 1u + 4096u * 9u + 2u);
}

TEST(Plausibility, ExpertsPerLayerOverBound) {
  // 65,536 experts x 61 layers took 3.7 GB and 25 s in inspect before this bound.
  auto c = test::real_config("deepseek-ai__DeepSeek-R1");
  c["n_routed_experts"] = 65536;
  const std::string msg = config_error(c);
  EXPECT_TRUE(has(msg, "implausible n_routed_experts: 65536 is more than the 4096 experts per layer"))
      << msg;
  EXPECT_TRUE(has(msg, "(/m/config.json, n_routed_experts, 65536)")) << msg;
}

TEST(Plausibility, ExpertLayersOverBound) {
  // DeepSeek-R1: 61 layers, the first 3 dense, plus 1 MTP layer = 59 MoE layers;
  // 4096 x 59 = 241,664 expert-layers > 131,072.
  auto c = test::real_config("deepseek-ai__DeepSeek-R1");
  c["n_routed_experts"] = 4096;
  const std::string msg = config_error(c);
  EXPECT_TRUE(has(msg, "4096 experts x 59 MoE layers = 241664 expert-layers, more than the 131072"))
      << msg;
  EXPECT_TRUE(has(msg, "(/m/config.json, n_routed_experts, 4096)")) << msg;
}

TEST(Plausibility, ExpertLayersOfTheLargestRealModelsPass) {
  // Kimi K2: 384 experts x (61 - 1 dense) layers = 23,040 expert-layers.
  ModelSpec spec = analytic_spec(test::real_config("moonshotai__Kimi-K2-Instruct"));
  EXPECT_EQ(spec.dims.num_experts, 384u);
}

TEST(Plausibility, HiddenSizeOverBound) {
  auto c = tiny_llama();
  c["hidden_size"] = 1ull << 32;
  const std::string msg = config_error(c);
  EXPECT_TRUE(has(msg, "implausible hidden_size: 4294967296 is more than the 16777216")) << msg;
  EXPECT_TRUE(has(msg, "(/m/config.json, hidden_size, 4294967296)")) << msg;
}

TEST(Plausibility, VocabSizeOverBound) {
  auto c = tiny_llama();
  c["vocab_size"] = 16777217;
  const std::string msg = config_error(c);
  EXPECT_TRUE(has(msg, "(/m/config.json, vocab_size, 16777217)")) << msg;
}

TEST(Plausibility, IntermediateSizeOverBound) {
  auto c = tiny_llama();
  c["intermediate_size"] = 1ull << 40;
  const std::string msg = config_error(c);
  EXPECT_TRUE(has(msg, "(/m/config.json, intermediate_size, 1099511627776)")) << msg;
}

TEST(Plausibility, MoeIntermediateSizeOverBound) {
  auto c = test::real_config("deepseek-ai__DeepSeek-R1");
  c["moe_intermediate_size"] = 1ull << 30;
  const std::string msg = config_error(c);
  EXPECT_TRUE(has(msg, "(/m/config.json, moe_intermediate_size, 1073741824)")) << msg;
}

TEST(Plausibility, HeadCountOverBound) {
  auto c = tiny_llama();
  c["num_attention_heads"] = 1 << 20;
  c["num_key_value_heads"] = 1 << 20;
  const std::string msg = config_error(c);
  EXPECT_TRUE(has(msg, "(/m/config.json, num_attention_heads, 1048576)")) << msg;
}

TEST(Plausibility, HeadDimOverBound) {
  auto c = tiny_llama();
  c["head_dim"] = 1 << 17;
  const std::string msg = config_error(c);
  EXPECT_TRUE(has(msg, "(/m/config.json, head_dim, 131072)")) << msg;
}

TEST(Plausibility, HybridPatternOverBound) {
  auto c = test::real_config("nvidia__Nemotron-H-56B-Base-8K");
  c.erase("num_hidden_layers");
  c["hybrid_override_pattern"] = std::string(5000, 'M');
  const std::string msg = config_error(c);
  EXPECT_TRUE(has(msg, "(/m/config.json, hybrid_override_pattern, 5000)")) << msg;
}

// block_count 0xFFFFFFFF used to size per-layer vectors of 32 GiB (bad_alloc, exit 1).
TEST(Plausibility, GgufBlockCountOverBound) {
  GgufFile g;
  g.path = "/m/model.gguf";
  g.metadata = {{"general.architecture", "llama"},    {"llama.block_count", 4294967295u},
                {"llama.embedding_length", 64},       {"llama.attention.head_count", 4},
                {"llama.attention.head_count_kv", 2}, {"llama.vocab_size", 100}};
  try {
    config_from_gguf(g);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_TRUE(has(msg, "implausible block_count: 4294967295")) << msg;
    EXPECT_TRUE(has(msg, "(/m/model.gguf, llama.block_count, 4294967295)")) << msg;
  }
}

class ConfigFile : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  test::TempDir dir;
  std::string path = dir.file("config.json");
};

std::string format_error(const std::string& path) {
  try {
    read_config_json(path);
  } catch (const FormatError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected FormatError";
  return {};
}

// Nested 100,000 deep: a segfault (exit 139, empty stderr) before try_parse_json.
TEST_F(ConfigFile, Nested100000DeepIsFormatError) {
  write(R"({"model_type": "llama", "rope_scaling": )" + std::string(100000, '[') +
        std::string(100000, ']') + "}");
  const std::string msg = format_error(path);
  EXPECT_TRUE(has(msg, "[arch] invalid JSON in config (" + path + ", rope_scaling[0][0]")) << msg;
  EXPECT_TRUE(has(msg, "nested deeper than 128 levels")) << msg;
}

// 1e400 used to escape as a raw library exception (exit 1).
TEST_F(ConfigFile, NumberOverflowNamesFieldAndValue) {
  write(R"({"model_type": "llama", "rope_theta": 1e400})");
  const std::string msg = format_error(path);
  EXPECT_TRUE(has(msg, "(" + path + ", rope_theta, number overflow parsing '1e400')")) << msg;
}

TEST_F(ConfigFile, NumberOverflowInNestedConfig) {
  write(R"({"text_config": {"hidden_size": 64, "rope_scaling": {"factor": -1e999}}})");
  const std::string msg = format_error(path);
  EXPECT_TRUE(has(msg, "text_config.rope_scaling.factor, number overflow parsing '-1e999'")) << msg;
}

TEST_F(ConfigFile, OverSixteenMiBIsRefusedUnread) {
  write("{}");
  ASSERT_EQ(::truncate(path.c_str(), (16 << 20) + 1), 0);
  const std::string msg = format_error(path);
  EXPECT_TRUE(has(msg, "config too large: 16777217 bytes, the limit is 16777216 (" + path)) << msg;
}

TEST_F(ConfigFile, DirectoryIsIoError) {
  EXPECT_THROW(read_config_json(dir.path().string()), IoError);
}

}  // namespace
}  // namespace mlxcel
