#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "mlxcel/errors.h"
#include "runtime/convert.h"
#include "runtime/half.h"
#include "runtime/mlx_quant.h"
#include "runtime/pread_file.h"
#include "support/test_paths.h"

namespace mlxcel::runtime {
namespace {

namespace fs = std::filesystem;

// A float16 model: a [4, 64] projection, a [3, 40] projection (40 not a multiple of 32) and a norm.
class QuantizeModel : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(in);
    proj.resize(4 * 64);
    for (size_t i = 0; i < proj.size(); ++i) proj[i] = f32_to_f16(std::cos(0.1f * static_cast<float>(i)));
    odd.assign(3 * 40, f32_to_f16(0.5f));
    norm.assign(64, f32_to_f16(1.0f));
    write_safetensors((in / "model.safetensors").string(),
                      {{"model.layers.0.mlp.up_proj.weight", DType::F16, {4, 64}, proj.data()},
                       {"model.layers.0.mlp.odd_proj.weight", DType::F16, {3, 40}, odd.data()},
                       {"model.norm.weight", DType::F16, {64}, norm.data()}});
    std::ofstream(in / "config.json") << R"({"model_type": "llama", "torch_dtype": "float16"})";
    std::ofstream(in / "tokenizer.json") << "{}";
  }

  test::TempDir dir;
  fs::path in = dir.path() / "in";
  fs::path out = dir.path() / "out";
  std::vector<uint16_t> proj, odd, norm;
};

TEST_F(QuantizeModel, QuantizesDivisibleWeightsAndShards) {
  // Shard limit 200 bytes: up_proj packed is 4*64/2 = 128 B, scales 4*2*2 = 16 B, biases 16 B
  // (160 B, shard 1); odd_proj 3*40*2 = 240 B (shard 2); the norm 128 B (shard 3).
  QuantizeReport r = quantize_model(in.string(), out.string(), {.bits = 4, .group_size = 32, .max_shard_bytes = 200});
  EXPECT_EQ(r.tensors_quantized, 1u);
  EXPECT_EQ(r.tensors_kept, 2u);
  EXPECT_EQ(r.shards, 3u);
  EXPECT_EQ(r.bytes_out, 128u + 16u + 16u + 240u + 128u);
  SafetensorsIndex idx = read_safetensors_index((out / "model.safetensors.index.json").string());
  EXPECT_EQ(idx.total_size, 528u);
  EXPECT_EQ(idx.weight_map["model.layers.0.mlp.up_proj.scales"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(idx.weight_map["model.norm.weight"], "model-00003-of-00003.safetensors");

  SafetensorsHeader h = read_safetensors_header((out / "model-00001-of-00003.safetensors").string());
  ASSERT_EQ(h.tensors.size(), 3u);
  std::map<std::string, TensorSpec> byname;
  for (auto& t : h.tensors) byname[t.name] = t;
  EXPECT_EQ(byname["model.layers.0.mlp.up_proj.weight"].dtype, DType::U32);
  EXPECT_EQ(byname["model.layers.0.mlp.up_proj.weight"].shape, (std::vector<uint64_t>{4, 8}));  // 64*4/32
  EXPECT_EQ(byname["model.layers.0.mlp.up_proj.scales"].dtype, DType::F16);
  EXPECT_EQ(byname["model.layers.0.mlp.up_proj.scales"].shape, (std::vector<uint64_t>{4, 2}));

  // The stored weight dequantizes to within one step of the original.
  PreadFile f(h.path, "test");
  MlxQuantized q;
  q.packed.resize(128);
  q.scales.resize(16);
  q.biases.resize(16);
  f.read(byname["model.layers.0.mlp.up_proj.weight"].offset, q.packed.data(), 128);
  f.read(byname["model.layers.0.mlp.up_proj.scales"].offset, q.scales.data(), 16);
  f.read(byname["model.layers.0.mlp.up_proj.biases"].offset, q.biases.data(), 16);
  std::vector<float> d = mlx_dequantize(q, 4, 64, 4, 32, DType::F16);
  for (size_t i = 0; i < d.size(); ++i) EXPECT_NEAR(d[i], f16_to_f32(proj[i]), 2.0 / 15 + 1e-3) << i;

  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(out / "config.json"));
  EXPECT_EQ(cfg["quantization"]["bits"], 4);
  EXPECT_EQ(cfg["quantization"]["group_size"], 32);
  EXPECT_TRUE(fs::exists(out / "tokenizer.json"));
}

TEST_F(QuantizeModel, SingleShardIsModelSafetensors) {
  QuantizeReport r = quantize_model(in.string(), out.string(), {.bits = 8, .group_size = 64});
  EXPECT_EQ(r.shards, 1u);
  EXPECT_TRUE(fs::exists(out / "model.safetensors"));
  EXPECT_TRUE(fs::exists(out / "model.safetensors.index.json"));
}

TEST_F(QuantizeModel, RejectsAlreadyQuantized) {
  quantize_model(in.string(), out.string(), {.bits = 8, .group_size = 64});
  try {
    quantize_model(out.string(), (dir.path() / "again").string(), {.bits = 4, .group_size = 64});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("already quantized"), std::string::npos);
  }
}

TEST_F(QuantizeModel, RejectsGroupSize48) {
  EXPECT_THROW(quantize_model(in.string(), out.string(), {.bits = 4, .group_size = 48}), UsageError);
}

}  // namespace
}  // namespace mlxcel::runtime
