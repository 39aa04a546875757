// Analytic weight totals for real configs against byte counts worked out by hand (parameter
// arithmetic in the comments; bf16 = 2 bytes per parameter unless stated).
#include <gtest/gtest.h>

#include "arch/registry.h"
#include "arch_test_util.h"

namespace mlxcel {
namespace {

using test::by_component;
using test::real_config;

const TensorSpec* find(const ModelSpec& spec, const std::string& name) {
  for (const auto& t : spec.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

TEST(AnalyticWeights, SmolLM2_135M_Tied) {
  // hidden 576, inter 1536, 30 layers, 9 heads / 3 KV heads of 64, vocab 49152, tied.
  // embed 49152 x 576 = 28311552
  // layer: q 576x576 = 331776, k,v 192x576 = 110592 each, o 331776 -> 884736;
  //        mlp 3 x 576 x 1536 = 2654208; norms 2 x 576 = 1152 -> 3540096
  // 30 layers = 106202880; final norm 576; total 134515008 params x 2 = 269030016 bytes
  auto spec = analytic_spec(real_config("HuggingFaceTB__SmolLM2-135M"));
  EXPECT_EQ(spec.weight_bytes(), 269030016u);
  EXPECT_EQ(spec.tensors.size(), 1u + 30u * 9u + 1u);  // no lm_head
  EXPECT_EQ(find(spec, "lm_head.weight"), nullptr);
  EXPECT_TRUE(spec.tie_word_embeddings);
  EXPECT_EQ(spec.float_dtype, DType::BF16);
  EXPECT_EQ(spec.source, WeightSource::Analytic);
  EXPECT_EQ(spec.format, "config");
  auto c = by_component(spec);
  EXPECT_EQ(c[Component::Embeddings], 56623104u);  // 28311552 x 2
  EXPECT_EQ(c[Component::OutputHead], 0u);
}

TEST(AnalyticWeights, Llama32_1B) {
  // hidden 2048, inter 8192, 16 layers, 32 heads / 8 KV heads, head_dim 64, vocab 128256, tied.
  // embed 128256 x 2048 = 262668288
  // layer: q,o 2048x2048 = 4194304 each; k,v 512x2048 = 1048576 each -> 10485760;
  //        mlp 3 x 2048 x 8192 = 50331648; norms 4096 -> 60821504; x16 = 973144064
  // total 262668288 + 973144064 + 2048 = 1235814400 params -> 2471628800 bytes
  auto spec = analytic_spec(real_config("meta-llama__Llama-3.2-1B-Instruct"));
  EXPECT_EQ(spec.weight_bytes(), 2471628800u);
}

TEST(AnalyticWeights, Qwen25_1_5B_Biases) {
  // hidden 1536, inter 8960, 28 layers, 12 heads / 2 KV heads of 128, vocab 151936, tied,
  // q/k/v biases (qwen2).
  // embed 151936 x 1536 = 233373696
  // attn: q 1536x1536 = 2359296 + 1536; k,v 256x1536 = 393216 + 256 each; o 2359296
  //       -> 5507072; mlp 3 x 1536 x 8960 = 41287680; norms 3072 -> 46797824; x28 = 1310339072
  // total 233373696 + 1310339072 + 1536 = 1543714304 params -> 3087428608 bytes
  auto spec = analytic_spec(real_config("Qwen__Qwen2.5-1.5B"));
  EXPECT_EQ(spec.weight_bytes(), 3087428608u);
  const auto* qb = find(spec, "model.layers.0.self_attn.q_proj.bias");
  ASSERT_NE(qb, nullptr);
  EXPECT_EQ(qb->shape, (std::vector<uint64_t>{1536}));
  EXPECT_NE(find(spec, "model.layers.27.self_attn.v_proj.bias"), nullptr);
  EXPECT_EQ(find(spec, "model.layers.0.self_attn.o_proj.bias"), nullptr);
}

TEST(AnalyticWeights, Qwen3_0_6B_QkNormTiedHeadDim) {
  // hidden 1024, head_dim 128 (not 1024/16 = 64), 16 heads / 8 KV, inter 3072, 28 layers,
  // vocab 151936, tied, q/k RMSNorm of 128.
  // embed 151936 x 1024 = 155582464
  // attn: q 2048x1024 = 2097152, k,v 1024x1024 = 1048576 each, o 1024x2048 = 2097152,
  //       q/k norm 128 each -> 6291712; mlp 3 x 1024 x 3072 = 9437184; norms 2048
  //       -> 15730944; x28 = 440466432
  // total 155582464 + 440466432 + 1024 = 596049920 params -> 1192099840 bytes
  auto spec = analytic_spec(real_config("Qwen__Qwen3-0.6B"));
  EXPECT_EQ(spec.weight_bytes(), 1192099840u);
  const auto* q = find(spec, "model.layers.3.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->shape, (std::vector<uint64_t>{2048, 1024}));
  const auto* qn = find(spec, "model.layers.3.self_attn.q_norm.weight");
  ASSERT_NE(qn, nullptr);
  EXPECT_EQ(qn->component, Component::Norms);
  EXPECT_EQ(find(spec, "lm_head.weight"), nullptr);
}

TEST(AnalyticWeights, Mixtral8x22B) {
  // hidden 6144, inter 16384, 56 layers, 48 heads / 8 KV of 128, 8 experts, vocab 32000.
  // embed = head = 32000 x 6144 = 196608000
  // layer: q,o 6144x6144 = 37748736 each; k,v 1024x6144 = 6291456 each -> 88080384;
  //        router 8 x 6144 = 49152; experts 8 x 3 x 6144 x 16384 = 2415919104; norms 12288
  //        -> 2504060928; x56 = 140227411968
  // total 2 x 196608000 + 140227411968 + 6144 = 140620634112 params -> 281241268224 bytes
  // (published: 141B parameters)
  auto spec = analytic_spec(real_config("mistralai__Mixtral-8x22B-v0.1"));
  EXPECT_EQ(spec.weight_bytes(), 281241268224u);
  auto c = by_component(spec);
  // experts incl. routers: 56 x (49152 + 2415919104) x 2 = 270588444672
  EXPECT_EQ(c[Component::Experts], 270588444672u);
  EXPECT_EQ(spec.dims.num_experts, 8u);
}

TEST(AnalyticWeights, DeepSeekR1Fp8WithMtp) {
  // FP8 e4m3 weights (1 byte) with F32 128x128 block scales on every decoder Linear; router,
  // norms, embeddings and heads BF16; e_score_correction_bias F32. hidden 7168, 61 layers
  // (3 dense, 58 MoE), 128 heads, q_lora 1536, kv_lora 512, rope 64, nope 128, v 128,
  // inter 18432, moe_inter 2048, 256 experts + 1 shared, vocab 129280, 1 MTP layer.
  // Attention per layer:
  //   q_a [1536,7168] 11010048 + scale 12x56x4 = 2688; q_b [24576,1536] 37748736 + 192x12x4
  //   = 9216; kv_a [576,7168] 4128768 + 5x56x4 = 1120; kv_b [32768,512] 16777216 + 256x4x4
  //   = 4096; o [7168,16384] 117440512 + 56x128x4 = 28672; q_a/kv_a norms (1536+512) x 2 = 4096
  //   -> 187155168 bytes (4096 of it norms)
  // Layer norms 2 x 7168 x 2 = 28672.
  // Dense MLP: 3 x [18432x7168] 132120576 + 3 x 144x56x4 = 96768 -> 396458496
  // MoE: router 256x7168x2 = 3670016; bias 256x4 = 1024; each expert (and the shared one)
  //   3 x 2048x7168 = 44040192 + 3 x 16x56x4 = 10752 -> 44050944; 257 of them = 11321092608
  //   -> 11324763648
  // MTP layer 61: decoder 187155168 + 28672 + 11324763648, plus embed 1853358080, enorm/hnorm/
  //   shared_head.norm 3 x 14336, eh_proj [7168,14336] BF16 205520896, head 1853358080
  //   -> 15424227552
  // Total: embed+head 3706716160 + norm 14336 + 61 x 28672 + 61 x 187155168 + 3 x 396458496
  //   + 58 x 11324763648 + 15424227552 = 688574839360 bytes.
  auto spec = analytic_spec(real_config("deepseek-ai__DeepSeek-R1"));
  EXPECT_EQ(spec.weight_bytes(), 688574839360u);
  EXPECT_EQ(spec.quant.method, QuantMethod::Fp8);
  EXPECT_EQ(spec.quant.weight_block_size, (std::vector<uint32_t>{128, 128}));
  auto c = by_component(spec);
  EXPECT_EQ(c[Component::Other], 15424227552u);     // the MTP layer
  EXPECT_EQ(c[Component::Experts], 656836291584u);  // 58 x 11324763648
  EXPECT_EQ(c[Component::Mlp], 1189375488u);        // 3 x 396458496
  const auto* s = find(spec, "model.layers.3.mlp.experts.255.down_proj.weight_scale_inv");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->dtype, DType::F32);
  EXPECT_EQ(s->shape, (std::vector<uint64_t>{56, 16}));
  const auto* eh = find(spec, "model.layers.61.eh_proj.weight");
  ASSERT_NE(eh, nullptr);
  EXPECT_EQ(eh->dtype, DType::BF16);
  const auto* bias = find(spec, "model.layers.3.mlp.gate.e_score_correction_bias");
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(bias->dtype, DType::F32);
  EXPECT_EQ(find(spec, "model.layers.2.mlp.gate.weight"), nullptr);  // first_k_dense_replace 3
  EXPECT_NE(find(spec, "model.layers.2.mlp.gate_proj.weight_scale_inv"), nullptr);
}

TEST(AnalyticWeights, GptOss120bMxfp4) {
  // hidden 2880, 36 layers, 64 heads / 8 KV of 64, 128 experts of 2880, vocab 201088, BF16
  // except MXFP4 experts (16 bytes of 32 FP4 values + 1 scale byte per 32 inputs).
  // embed = head = 201088 x 2880 x 2 = 1158266880
  // attn: q [4096,2880] 11796480 + 4096; k,v [512,2880] 1474560 + 512 each; o [2880,4096]
  //   11796480 + 2880; sinks 64 -> 26550144 params -> 53100288 bytes; x36 = 1911610368
  // norms (36 x 2 + 1) x 2880 x 2 = 420480
  // MoE: router (128x2880 + 128) x 2 = 737536; gate_up blocks 128x5760x90x16 = 1061683200,
  //   scales 128x5760x90 = 66355200, bias 128x5760x2 = 1474560; down blocks 128x2880x90x16 =
  //   530841600, scales 33177600, bias 128x2880x2 = 737280 -> 1695006976; x36 = 61020251136
  // total 2 x 1158266880 + 1911610368 + 420480 + 61020251136 = 65248815744 bytes
  // Parameters: 1158266880 + 955805184 + 210240 + 36 x 3186524288 = 116829156672, the
  // published 116.83B.
  auto spec = analytic_spec(real_config("openai__gpt-oss-120b"));
  EXPECT_EQ(spec.weight_bytes(), 65248815744u);
  EXPECT_EQ(spec.quant.method, QuantMethod::Mxfp4);
  EXPECT_EQ(quant_method_name(spec.quant.method), "mxfp4");
  EXPECT_EQ(spec.quant.bits, 4u);
  EXPECT_EQ(spec.quant.group_size, 32u);
  for (const auto& w : spec.warnings) EXPECT_EQ(w.find("mxfp4"), std::string::npos) << w;
  const auto* blocks = find(spec, "model.layers.0.mlp.experts.gate_up_proj_blocks");
  ASSERT_NE(blocks, nullptr);
  EXPECT_EQ(blocks->shape, (std::vector<uint64_t>{128, 5760, 90, 16}));
  EXPECT_EQ(blocks->dtype, DType::U8);
  const auto* sinks = find(spec, "model.layers.0.self_attn.sinks");
  ASSERT_NE(sinks, nullptr);
  EXPECT_EQ(sinks->shape, (std::vector<uint64_t>{64}));
  EXPECT_NE(find(spec, "model.layers.35.mlp.router.bias"), nullptr);
  // Attention and router stay BF16 (modules_to_not_convert).
  EXPECT_EQ(find(spec, "model.layers.0.self_attn.q_proj.weight")->dtype, DType::BF16);

  // What-if BF16: every parameter at 2 bytes = 2 x 116829156672.
  AnalyticOptions bf16;
  bf16.requantize = Quantization{};
  bf16.float_dtype = DType::BF16;
  EXPECT_EQ(analytic_spec(real_config("openai__gpt-oss-120b"), bf16).weight_bytes(),
            233658313344u);
}

TEST(AnalyticWeights, Lfm2FfDimAutoAdjust) {
  // LFM2-1.2B: block_ff_dim 12288 -> 2/3 = 8192 -> x1.0 -> multiple of 256 = 8192.
  // embed 65536 x 2048 = 134217728 (tied)
  // attention layers (6): q,out 2048x2048 = 4194304 each, k,v 512x2048 = 1048576 each,
  //   q/k layernorm 64 each -> 10485888
  // conv layers (10): in_proj 6144x2048 = 12582912, conv 2048x1x3 = 6144, out 2048x2048 =
  //   4194304 -> 16783360
  // every layer: w1,w3,w2 3 x 2048 x 8192 = 50331648; 2 norms 4096
  // total 134217728 + 6 x 10485888 + 10 x 16783360 + 16 x 50335744 + 2048 (embedding_norm)
  //   = 1170340608 params -> 2340681216 bytes
  auto spec = analytic_spec(real_config("LiquidAI__LFM2-1.2B"));
  EXPECT_EQ(spec.weight_bytes(), 2340681216u);
  EXPECT_EQ(find(spec, "model.layers.0.feed_forward.w1.weight")->shape,
            (std::vector<uint64_t>{8192, 2048}));
  EXPECT_NE(find(spec, "model.layers.2.self_attn.out_proj.weight"), nullptr);
  EXPECT_NE(find(spec, "model.layers.0.conv.conv.weight"), nullptr);
}

TEST(AnalyticWeights, GraniteMoeTied) {
  // granite-3.1-1b-a400m: hidden 1024, 24 layers, 16 heads / 8 KV of 64, 32 experts of 512,
  // vocab 49155, tied.
  // embed 49155 x 1024 = 50334720
  // attn: q,o 1024x1024 = 1048576 each, k,v 512x1024 = 524288 each -> 3145728
  // moe: router 32 x 1024 = 32768; input_linear 32 x 1024 x 1024 = 33554432; output_linear
  //   32 x 1024 x 512 = 16777216 -> 50364416; norms 2048 -> 53512192 per layer
  // total 50334720 + 24 x 53512192 + 1024 = 1334628352 params -> 2669256704 bytes
  auto spec = analytic_spec(real_config("granite-3.1-1b-a400m-instruct-tokenizer/config.json"));
  EXPECT_EQ(spec.architecture, "granitemoe");
  EXPECT_EQ(spec.weight_bytes(), 2669256704u);
}

TEST(AnalyticWeights, NestedTextConfigPrefixAndVisionWarning) {
  auto spec = analytic_spec(real_config("meta-llama__Llama-4-Scout-17B-16E-Instruct"));
  EXPECT_NE(find(spec, "language_model.model.layers.0.feed_forward.experts.gate_up_proj"), nullptr);
  EXPECT_NE(find(spec, "language_model.lm_head.weight"), nullptr);
  bool warned = false;
  for (const auto& w : spec.warnings) warned = warned || w.find("vision") != std::string::npos;
  EXPECT_TRUE(warned);
}

}  // namespace
}  // namespace mlxcel
