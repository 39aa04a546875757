// Component from tensor names (HF and GGUF), and agreement with the family tables so exact and
// analytic breakdowns match.
#include <filesystem>

#include <gtest/gtest.h>

#include "arch/analytic.h"
#include "arch/registry.h"
#include "arch_test_util.h"

namespace mlxcel {
namespace {

Component classify(const std::string& name) {
  std::vector<TensorSpec> v(1);
  v[0].name = name;
  classify_tensors(v);
  return v[0].component;
}

TEST(Classify, HfNames) {
  using C = Component;
  EXPECT_EQ(classify("model.embed_tokens.weight"), C::Embeddings);
  EXPECT_EQ(classify("transformer.wte.weight"), C::Embeddings);
  EXPECT_EQ(classify("transformer.word_embeddings.weight"), C::Embeddings);
  EXPECT_EQ(classify("backbone.embeddings.weight"), C::Embeddings);
  EXPECT_EQ(classify("lm_head.weight"), C::OutputHead);
  EXPECT_EQ(classify("language_model.lm_head.weight"), C::OutputHead);
  EXPECT_EQ(classify("model.norm.weight"), C::Norms);
  EXPECT_EQ(classify("model.layers.0.input_layernorm.weight"), C::Norms);
  EXPECT_EQ(classify("transformer.h.3.ln_attn.bias"), C::Norms);
  EXPECT_EQ(classify("transformer.ln_f.weight"), C::Norms);
  EXPECT_EQ(classify("model.layers.0.self_attn.q_norm.weight"), C::Norms);
  EXPECT_EQ(classify("model.layers.0.self_attn.kv_a_layernorm.weight"), C::Norms);
  EXPECT_EQ(classify("model.layers.0.self_attn.q_proj.weight"), C::Attention);
  EXPECT_EQ(classify("model.layers.0.self_attn.q_proj.scales"), C::Attention);
  EXPECT_EQ(classify("transformer.h.0.self_attention.query_key_value.weight"), C::Attention);
  EXPECT_EQ(classify("model.layers.0.linear_attn.in_proj_qkvz.weight"), C::Attention);
  EXPECT_EQ(classify("model.layers.0.linear_attn.A_log"), C::Attention);
  EXPECT_EQ(classify("backbone.layers.0.mixer.in_proj.weight"), C::Attention);
  EXPECT_EQ(classify("backbone.layers.0.mixer.D"), C::Attention);
  EXPECT_EQ(classify("model.layers.0.conv.in_proj.weight"), C::Attention);
  EXPECT_EQ(classify("model.layers.0.mlp.gate_proj.weight"), C::Mlp);
  EXPECT_EQ(classify("model.layers.0.feed_forward.w1.weight"), C::Mlp);
  EXPECT_EQ(classify("backbone.layers.1.mixer.up_proj.weight"), C::Mlp);
  EXPECT_EQ(classify("transformer.h.0.mlp.dense_h_to_4h.weight"), C::Mlp);
  // Routers and shared experts count toward experts.
  EXPECT_EQ(classify("model.layers.0.mlp.gate.weight"), C::Experts);
  EXPECT_EQ(classify("model.layers.0.mlp.gate.e_score_correction_bias"), C::Experts);
  EXPECT_EQ(classify("model.layers.0.mlp.shared_expert_gate.weight"), C::Experts);
  EXPECT_EQ(classify("model.layers.0.mlp.shared_experts.down_proj.weight"), C::Experts);
  EXPECT_EQ(classify("model.layers.0.mlp.experts.3.up_proj.weight"), C::Experts);
  EXPECT_EQ(classify("model.layers.0.mlp.switch_mlp.up_proj.scales"), C::Experts);
  EXPECT_EQ(classify("model.layers.0.block_sparse_moe.experts.0.w1.weight"), C::Experts);
  EXPECT_EQ(classify("model.layers.0.mlp.router.bias"), C::Experts);
  EXPECT_EQ(classify("model.layers.0.feed_forward.router.weight"), C::Experts);
  EXPECT_EQ(classify("backbone.layers.1.mixer.experts.0.up_proj.weight"), C::Experts);
  // Multimodal parts.
  EXPECT_EQ(classify("vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight"), C::Other);
  EXPECT_EQ(classify("model.visual.blocks.0.attn.qkv.weight"), C::Other);
  EXPECT_EQ(classify("multi_modal_projector.linear_1.weight"), C::Other);
  EXPECT_EQ(classify("audio_tower.layers.0.fc1.weight"), C::Other);
}

TEST(Classify, GgufNames) {
  using C = Component;
  EXPECT_EQ(classify("token_embd.weight"), C::Embeddings);
  EXPECT_EQ(classify("output.weight"), C::OutputHead);
  EXPECT_EQ(classify("output_norm.weight"), C::Norms);
  EXPECT_EQ(classify("blk.0.attn_norm.weight"), C::Norms);
  EXPECT_EQ(classify("blk.0.ffn_norm.weight"), C::Norms);
  EXPECT_EQ(classify("blk.0.attn_q.weight"), C::Attention);
  EXPECT_EQ(classify("blk.0.attn_kv_a_mqa.weight"), C::Attention);
  EXPECT_EQ(classify("blk.0.ssm_in.weight"), C::Attention);
  EXPECT_EQ(classify("blk.0.ffn_gate.weight"), C::Mlp);
  EXPECT_EQ(classify("blk.0.ffn_down.weight"), C::Mlp);
  EXPECT_EQ(classify("blk.3.ffn_gate_exps.weight"), C::Experts);
  EXPECT_EQ(classify("blk.3.ffn_gate_inp.weight"), C::Experts);
  EXPECT_EQ(classify("blk.3.ffn_up_shexp.weight"), C::Experts);
  EXPECT_EQ(classify("blk.3.exp_probs_b.bias"), C::Experts);
}

// Reclassifying every analytic tensor by name gives back the table's component.
TEST(Classify, AgreesWithTablesForEveryRealConfig) {
  std::vector<std::string> configs;
  for (const auto& d : std::filesystem::directory_iterator(test::testdata("configs")))
    if (d.is_directory()) configs.push_back(d.path() / "config.json");
  configs.push_back(test::testdata("granite-3.1-1b-a400m-instruct-tokenizer/config.json"));
  ASSERT_GE(configs.size(), 30u);
  for (const auto& path : configs) {
    // MoE configs are checked with 4 experts per layer to stay fast.
    auto config = normalize_config(read_config_json(path));
    if (config.contains("n_routed_experts")) config["n_routed_experts"] = 4;
    if (config.contains("num_experts") && config["num_experts"].is_number()) config["num_experts"] = 4;
    if (config.contains("num_local_experts")) config["num_local_experts"] = 4;
    auto spec = analytic_spec(config, {}, path);
    auto reclassified = spec.tensors;
    classify_tensors(reclassified);
    arch::mark_mtp_tensors(reclassified, spec.dims.num_layers);
    for (size_t i = 0; i < spec.tensors.size(); ++i)
      EXPECT_EQ(component_name(reclassified[i].component), component_name(spec.tensors[i].component))
          << path << ": " << spec.tensors[i].name;
  }
}

}  // namespace
}  // namespace mlxcel
