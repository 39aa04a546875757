// Quantized layouts from config (MLX affine with per-layer overrides, FP8 block scales, GPTQ,
// AWQ) and what-if requantization; byte counts worked out by hand.
#include <gtest/gtest.h>

#include "arch/registry.h"
#include "arch_test_util.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

using test::real_config;

const TensorSpec* find(const ModelSpec& spec, const std::string& name) {
  for (const auto& t : spec.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

TEST(Quantization, MlxFourBitSmolLM2) {
  // SmolLM2-135M with "quantization": {"group_size": 64, "bits": 4}: a [out, in] matrix becomes
  // weight U32 [out, in/8] (out*in/2 bytes) + bf16 scales and biases [out, in/64].
  // embed [49152,576]: 49152x72x4 = 14155776 + 2 x 49152x9x2 = 1769472 -> 15925248
  // layer: q,o [576,576]: 165888 + 20736 = 186624 each; k,v [192,576]: 55296 + 6912 = 62208
  //   each; gate,up [1536,576]: 442368 + 55296 = 497664 each; down [576,1536]: 576x192x4 =
  //   442368 + 2 x 576x24x2 = 55296 -> 497664; norms 2304 -> 1992960; x30 = 59788800
  // total 15925248 + 59788800 + 1152 = 75715200
  auto config = real_config("HuggingFaceTB__SmolLM2-135M");
  config["quantization"] = {{"group_size", 64}, {"bits", 4}};
  config["quantization_config"] = config["quantization"];
  auto spec = analytic_spec(config);
  EXPECT_EQ(spec.weight_bytes(), 75715200u);
  EXPECT_EQ(spec.quant.method, QuantMethod::Mlx);
  EXPECT_EQ(spec.quant.bits, 4u);
  EXPECT_EQ(spec.quant.group_size, 64u);
  const auto* w = find(spec, "model.layers.0.mlp.down_proj.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, DType::U32);
  EXPECT_EQ(w->shape, (std::vector<uint64_t>{576, 192}));
  const auto* s = find(spec, "model.layers.0.mlp.down_proj.scales");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->dtype, DType::BF16);
  EXPECT_EQ(s->shape, (std::vector<uint64_t>{576, 24}));
  EXPECT_NE(find(spec, "model.layers.0.mlp.down_proj.biases"), nullptr);
  EXPECT_EQ(find(spec, "model.norm.weight")->dtype, DType::BF16);
}

TEST(Quantization, MlxEightBitSmolLM2) {
  // bits 8: weight U32 [out, in/4] = out*in bytes; scales/biases as above.
  // embed 28311552 + 1769472 = 30081024
  // layer: q,o 331776 + 20736 = 352512; k,v 110592 + 6912 = 117504; gate,up,down 884736 +
  //   55296 = 940032; norms 2304 -> 3762432; x30 = 112872960
  // total 30081024 + 112872960 + 1152 = 142955136
  auto config = real_config("HuggingFaceTB__SmolLM2-135M");
  config["quantization"] = {{"group_size", 64}, {"bits", 8}};
  EXPECT_EQ(analytic_spec(config).weight_bytes(), 142955136u);
}

TEST(Quantization, MlxPerLayerOverrides) {
  // Tiny qwen3_moe, bf16: hidden 128, 2 heads / 1 KV of 64, 2 layers of 4 experts (64 wide),
  // vocab 256, untied. At 4 bits / 64 a [out,in] matrix is out*in*9/16 bytes; at 8/64,
  // out*in*17/16; at 8/32, out*in*9/8.
  // embed, head [256,128]: 18432 each; final norm 256
  // per layer: norms 512, q/k norm 256, attention q,o 9216 each, k,v 4608 each -> 27648
  // layer 0: gate override 8 bits -> 512 x 17/16 = 544; experts 4 x (3 x 4608) = 55296
  //   -> 84256
  // layer 1: gate false -> bf16 4x128x2 = 1024; down_proj override (MLX switch_mlp name)
  //   8 bits / 32 -> 9216 per expert: 4 x (4608 + 4608 + 9216) = 73728 -> 103168
  // total 36864 + 256 + 84256 + 103168 = 224544
  auto config = nlohmann::json::parse(R"({
    "model_type": "qwen3_moe", "hidden_size": 128, "intermediate_size": 256,
    "moe_intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
    "num_key_value_heads": 1, "head_dim": 64, "num_experts": 4, "num_experts_per_tok": 2,
    "vocab_size": 256, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
    "quantization": {"group_size": 64, "bits": 4,
      "model.layers.0.mlp.gate": {"group_size": 64, "bits": 8},
      "model.layers.1.mlp.gate": false,
      "model.layers.1.mlp.switch_mlp.down_proj": {"group_size": 32, "bits": 8}}})");
  auto spec = analytic_spec(config);
  EXPECT_EQ(spec.weight_bytes(), 224544u);
  const auto* g0 = find(spec, "model.layers.0.mlp.gate.weight");
  ASSERT_NE(g0, nullptr);
  EXPECT_EQ(g0->dtype, DType::U32);
  EXPECT_EQ(g0->shape, (std::vector<uint64_t>{4, 32}));  // 128 x 8 / 32
  const auto* g1 = find(spec, "model.layers.1.mlp.gate.weight");
  ASSERT_NE(g1, nullptr);
  EXPECT_EQ(g1->dtype, DType::BF16);
  EXPECT_EQ(find(spec, "model.layers.1.mlp.experts.3.down_proj.scales")->shape,
            (std::vector<uint64_t>{128, 2}));  // 64 / 32 groups
}

TEST(Quantization, MlxSkipsInputsNotDividedByGroup) {
  // hidden 96 is not a multiple of 64: every matrix reading hidden stays float; down_proj
  // (in 128) quantizes.
  auto config = nlohmann::json::parse(R"({
    "model_type": "llama", "hidden_size": 96, "intermediate_size": 128, "num_hidden_layers": 1,
    "num_attention_heads": 3, "vocab_size": 64, "torch_dtype": "float16",
    "quantization": {"group_size": 64, "bits": 4}})");
  auto spec = analytic_spec(config);
  EXPECT_EQ(find(spec, "model.layers.0.self_attn.q_proj.weight")->dtype, DType::F16);
  EXPECT_EQ(find(spec, "model.layers.0.mlp.down_proj.weight")->dtype, DType::U32);
  EXPECT_EQ(find(spec, "model.layers.0.mlp.down_proj.scales")->dtype, DType::F16);
}

TEST(Quantization, Fp8BlockScalesWithExclusion) {
  // Tiny llama, bf16, fp8 blocks 128x128, down_proj excluded: hidden 256, inter 384, 4 heads /
  // 2 KV of 64, vocab 1000, untied.
  // embed, head 1000x256x2 = 512000 each; final norm 512
  // q,o [256,256] 65536 + F32 scale 2x2x4 = 16 -> 65552 each; k,v [128,256] 32768 + 1x2x4 =
  //   32776 each; gate,up [384,256] 98304 + 3x2x4 = 98328 each; down bf16 256x384x2 = 196608;
  //   norms 1024 -> 590944
  // total 1024000 + 512 + 590944 = 1615456
  auto config = nlohmann::json::parse(R"({
    "model_type": "llama", "hidden_size": 256, "intermediate_size": 384, "num_hidden_layers": 1,
    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
    "torch_dtype": "bfloat16",
    "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128],
      "modules_to_not_convert": ["model.layers.0.mlp.down_proj"]}})");
  auto spec = analytic_spec(config);
  EXPECT_EQ(spec.weight_bytes(), 1615456u);
  EXPECT_EQ(spec.tensors.size(), 18u);
  EXPECT_EQ(find(spec, "model.layers.0.mlp.gate_proj.weight")->dtype, DType::F8_E4M3);
  EXPECT_EQ(find(spec, "model.layers.0.mlp.gate_proj.weight_scale_inv")->shape,
            (std::vector<uint64_t>{3, 2}));
  EXPECT_EQ(find(spec, "model.layers.0.mlp.down_proj.weight")->dtype, DType::BF16);
  EXPECT_EQ(find(spec, "lm_head.weight")->dtype, DType::BF16);
}

TEST(Quantization, Fp8QwenScalesInModelDtype) {
  // Qwen FP8 checkpoints store weight_scale_inv in the model dtype (BF16).
  auto spec = analytic_spec(real_config("Qwen__Qwen3-32B-FP8"));
  const auto* s = find(spec, "model.layers.0.self_attn.q_proj.weight_scale_inv");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->dtype, DType::BF16);
  EXPECT_EQ(s->shape, (std::vector<uint64_t>{64, 40}));  // 8192/128, 5120/128
}

TEST(Quantization, Fp8ModulesToNotConvertKeepsRouters) {
  auto spec = analytic_spec(real_config("Qwen__Qwen3-30B-A3B-FP8"));
  EXPECT_EQ(find(spec, "model.layers.5.mlp.gate.weight")->dtype, DType::BF16);
  EXPECT_EQ(find(spec, "model.layers.5.mlp.experts.7.up_proj.weight")->dtype, DType::F8_E4M3);
}

nlohmann::json small_gptq_like(const std::string& method) {
  auto config = nlohmann::json::parse(R"({
    "model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 1,
    "num_attention_heads": 4, "vocab_size": 1000, "torch_dtype": "float16"})");
  config["quantization_config"] = {{"quant_method", method}, {"bits", 4}, {"group_size", 128}};
  return config;
}

TEST(Quantization, Gptq) {
  // 4 bits, group 128, F16: qweight I32 [in/8, out], qzeros I32 [in/128, out/8], scales F16
  // [in/128, out], g_idx I32 [in].
  // embed, head 1000x256x2 = 512000 each; final norm 512
  // q,k,v,o [256,256]: 32x256x4 = 32768 + 2x32x4 = 256 + 2x256x2 = 1024 + 256x4 = 1024
  //   -> 35072 each -> 140288
  // gate,up [512,256]: 32x512x4 = 65536 + 2x64x4 = 512 + 2x512x2 = 2048 + 1024 -> 69120 each
  // down [256,512]: 64x256x4 = 65536 + 4x32x4 = 512 + 4x256x2 = 2048 + 512x4 = 2048 -> 70144
  // norms 1024 -> layer 349696; total 1024000 + 512 + 349696 = 1374208
  auto spec = analytic_spec(small_gptq_like("gptq"));
  EXPECT_EQ(spec.weight_bytes(), 1374208u);
  EXPECT_EQ(spec.quant.method, QuantMethod::Gptq);
  const auto* qw = find(spec, "model.layers.0.mlp.down_proj.qweight");
  ASSERT_NE(qw, nullptr);
  EXPECT_EQ(qw->dtype, DType::I32);
  EXPECT_EQ(qw->shape, (std::vector<uint64_t>{64, 256}));
  EXPECT_EQ(find(spec, "model.layers.0.mlp.down_proj.g_idx")->shape, (std::vector<uint64_t>{512}));
}

TEST(Quantization, Awq) {
  // AWQ: qweight I32 [in, out/8], qzeros I32 [in/128, out/8], scales F16 [in/128, out].
  // q,k,v,o: 256x32x4 = 32768 + 256 + 1024 = 34048 each -> 136192
  // gate,up: 256x64x4 = 65536 + 512 + 2048 = 68096 each; down: 512x32x4 = 65536 + 512 + 2048
  //   = 68096; norms 1024 -> 341504; total 1024000 + 512 + 341504 = 1366016
  auto spec = analytic_spec(small_gptq_like("awq"));
  EXPECT_EQ(spec.weight_bytes(), 1366016u);
  EXPECT_EQ(find(spec, "model.layers.0.self_attn.q_proj.qweight")->shape,
            (std::vector<uint64_t>{256, 32}));
}

TEST(Quantization, WhatIfMlxGptOssRouterAtEightBits) {
  // Tiny gpt_oss converted to MLX 4 bits / 64 as mlx-lm does: routers at 8 bits.
  // hidden 64, 2 heads / 1 KV of 32, 2 layers, 2 experts of 64, vocab 128, untied, bf16.
  // embed, head [128,64] 4-bit: 8192 x 9/16 = 4608 each; final norm 128
  // per layer: norms 256; q,o [64,64] 2304 + bias 128 each; k,v [32,64] 1152 + bias 64 each;
  //   sinks 4 -> 7300; router [2,64] 8-bit: 128 x 17/16 = 136 + bias 4; gate_up [2, 64 in,
  //   128 out] 4-bit 16384 x 9/16 = 9216 + bias 2x128x2 = 512; down [2, 64, 64] 4608 + bias 256
  //   -> 22288
  // total 9216 + 128 + 2 x 22288 = 53920
  auto config = nlohmann::json::parse(R"({
    "model_type": "gpt_oss", "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32, "num_local_experts": 2,
    "num_experts_per_tok": 1, "vocab_size": 128, "sliding_window": 16, "attention_bias": true,
    "torch_dtype": "bfloat16", "quantization_config": {"quant_method": "mxfp4"}})");
  AnalyticOptions opts;
  opts.requantize = Quantization{QuantMethod::Mlx, 4, 64, {}};
  auto spec = analytic_spec(config, opts);
  EXPECT_EQ(spec.weight_bytes(), 53920u);
  EXPECT_EQ(spec.quant.method, QuantMethod::Mlx);
  EXPECT_EQ(find(spec, "model.layers.0.mlp.router.weight")->shape,
            (std::vector<uint64_t>{2, 16}));  // 64 x 8 / 32
  EXPECT_EQ(find(spec, "model.layers.0.mlp.experts.gate_up_proj.weight")->shape,
            (std::vector<uint64_t>{2, 128, 8}));
}

TEST(Quantization, WhatIfDropsMtpForMlx) {
  // mlx-lm strips MTP layers; the FP8 HF layout keeps them.
  AnalyticOptions opts;
  opts.requantize = Quantization{QuantMethod::Mlx, 4, 64, {}};
  auto spec = analytic_spec(real_config("deepseek-ai__DeepSeek-R1"), opts);
  EXPECT_EQ(find(spec, "model.layers.61.eh_proj.weight"), nullptr);
  EXPECT_EQ(test::by_component(spec)[Component::Other], 0u);
}

TEST(Quantization, UnknownMethodIsConfigError) {
  auto config = small_gptq_like("bitsandbytes");
  try {
    analytic_spec(config);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bitsandbytes"), std::string::npos);
  }
}

TEST(Quantization, MlxMissingBitsIsConfigError) {
  auto config = small_gptq_like("gptq");
  config.erase("quantization_config");
  config["quantization"] = {{"group_size", 64}};
  try {
    analytic_spec(config);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("quantization.bits"), std::string::npos);
  }
}

TEST(Quantization, Mxfp4IsItsOwnMethod) {
  // A gpt-oss checkpoint: quant_method mxfp4 is reported as mxfp4 4-bit group 32. With
  // hidden 64, moe_inter 64, 2 experts: gate_up [2, 64 in, 128 out] -> blocks [2, 128, 2, 16]
  // (64 / 32 = 2 blocks of 16 bytes) + scales [2, 128, 2].
  auto config = nlohmann::json::parse(R"({
    "model_type": "gpt_oss", "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32, "num_local_experts": 2,
    "num_experts_per_tok": 1, "vocab_size": 128, "sliding_window": 16, "attention_bias": true,
    "torch_dtype": "bfloat16", "quantization_config": {"quant_method": "mxfp4",
      "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                 "model.embed_tokens", "lm_head"]}})");
  auto spec = analytic_spec(config);
  EXPECT_EQ(spec.quant.method, QuantMethod::Mxfp4);
  EXPECT_EQ(quant_method_name(spec.quant.method), "mxfp4");
  EXPECT_EQ(spec.quant.bits, 4u);
  EXPECT_EQ(spec.quant.group_size, 32u);
  const auto* blocks = find(spec, "model.layers.1.mlp.experts.gate_up_proj_blocks");
  ASSERT_NE(blocks, nullptr);
  EXPECT_EQ(blocks->shape, (std::vector<uint64_t>{2, 128, 2, 16}));
  EXPECT_EQ(blocks->bytes, 8192u);  // 2 x 128 x 2 x 16
  EXPECT_EQ(find(spec, "model.layers.1.mlp.experts.gate_up_proj_scales")->bytes, 512u);
  EXPECT_EQ(find(spec, "model.layers.0.self_attn.q_proj.weight")->dtype, DType::BF16);
  EXPECT_TRUE(spec.warnings.empty()) << spec.warnings.front();
}

TEST(Quantization, Mxfp4WhatIfIsUsageError) {
  AnalyticOptions opts;
  opts.requantize = Quantization{QuantMethod::Mxfp4, 4, 32, {}};
  try {
    analytic_spec(real_config("openai__gpt-oss-120b"), opts);
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("requantize, mxfp4"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mlxcel
