#include <gtest/gtest.h>

#include <map>

#include "estimate/specs.h"
#include "mlxcel/errors.h"
#include "mlxcel/estimate.h"

using namespace mlxcel;
using namespace mlxcel::test;

namespace {

std::map<std::string, uint64_t> buffers(const MemoryPlan& p) {
  std::map<std::string, uint64_t> m;
  for (const auto& b : p.workspace.buffers) m[b.name] = b.bytes;
  return m;
}

}  // namespace

TEST(Workspace, DenseModelBufferByBuffer) {
  // tiny_dense: hidden 64, 4 heads x 16, 2 KV heads x 16, ffn 176, vocab 512.
  // context 100, chunk 32, 1 sequence, 2 threads: R = max(min(32, 100), 1) = 32.
  MemoryPlan p = plan_memory(tiny_dense(), run_with(100, 1, 32, 2), zero_profile());
  EXPECT_EQ(p.workspace.rows, 32u);
  std::map<std::string, uint64_t> expect{
      {"hidden", 8192},            // 32 x 64 x 4
      {"normed", 8192},            // 32 x 64 x 4
      {"q", 8192},                 // 32 x (4 x 16) x 4
      {"k", 4096},                 // 32 x (2 x 16) x 4
      {"v", 4096},                 // 32 x (2 x 16) x 4
      {"attn_out", 8192},          // 32 x (4 x 16) x 4
      {"scores", 800},             // 2 threads x 100 x 4
      {"mlp_gate", 22528},         // 32 x 176 x 4
      {"mlp_up", 22528},           // 32 x 176 x 4
      {"matmul_scratch", 64},      // f32 weights: only the kernels' alignment slack
      {"logits", 2048},            // 1 x 512 x 4
  };
  EXPECT_EQ(buffers(p), expect);
  EXPECT_EQ(p.workspace.total, 88928u);
  // The buffer list keeps a fixed order: the runtime allocates it as listed.
  ASSERT_EQ(p.workspace.buffers.size(), 11u);
  EXPECT_EQ(p.workspace.buffers.front().name, "hidden");
  EXPECT_EQ(p.workspace.buffers.back().name, "logits");
}

TEST(Workspace, RowsFollowChunkContextAndSequences) {
  ModelSpec s = tiny_dense();
  EXPECT_EQ(plan_memory(s, run_with(10, 3, 32), zero_profile()).workspace.rows, 10u);
  EXPECT_EQ(plan_memory(s, run_with(100, 40, 32), zero_profile()).workspace.rows, 40u);
  EXPECT_EQ(plan_memory(s, run_with(100, 1, 32), zero_profile()).workspace.rows, 32u);
  // Logits scale with sequences: 40 x 512 x 4 = 81920.
  EXPECT_EQ(buffers(plan_memory(s, run_with(100, 40, 32), zero_profile()))["logits"], 81920u);
}

TEST(Workspace, MoeUsesTheWidestMlpAndRouterLogits) {
  ModelSpec s = tiny_dense();
  s.dims.intermediate_size = 0;
  s.dims.moe_intermediate_size = 32;
  s.dims.experts_per_token = 2;
  s.dims.num_experts = 8;
  s.dims.shared_expert_intermediate_size = 48;
  // ffn = max(0, 32 x 2, 48) = 64; R = 32
  auto b = buffers(plan_memory(s, run_with(100, 1, 32), zero_profile()));
  EXPECT_EQ(b["mlp_gate"], 8192u);        // 32 x 64 x 4
  EXPECT_EQ(b["router_logits"], 1024u);   // 32 x 8 x 4
}

TEST(Workspace, MlaUsesTheLatentForKAndV) {
  ModelSpec s = tiny_dense();
  LayerCache l = mla_layer(96);
  l.k_head_dim = 24;  // qk head dim
  l.v_head_dim = 16;
  s.layers = {l};
  auto b = buffers(plan_memory(s, run_with(100, 1, 32), zero_profile()));
  EXPECT_EQ(b["q"], 12288u);        // 32 x 4 x 24 x 4
  EXPECT_EQ(b["k"], 12288u);        // 32 x 96 x 4
  EXPECT_EQ(b["v"], 12288u);        // 32 x 96 x 4
  EXPECT_EQ(b["attn_out"], 8192u);  // 32 x 4 x 16 x 4
}

TEST(Workspace, SlidingOnlyModelScoresRowStopsAtTheWindow) {
  ModelSpec s = tiny_dense();
  s.layers = {sliding_layer(2, 16, 64), sliding_layer(2, 16, 64)};
  auto b = buffers(plan_memory(s, run_with(1000, 1, 32, 3), zero_profile()));
  EXPECT_EQ(b["scores"], 768u);  // 3 threads x min(1000, 64) x 4
}

TEST(Workspace, LinearLayersAddTheirPerTokenScratch) {
  ModelSpec s = tiny_dense();
  s.layers = {linear_layer(1000, 300), full_layer(2, 16)};
  s.tensors = {tensor("w", DType::BF16, 100, Component::Mlp)};
  s.tensors[0].shape = {10, 5};
  auto b = buffers(plan_memory(s, run_with(100, 1, 32), zero_profile()));
  EXPECT_EQ(b["linear_scratch"], 38400u);    // 32 x 300 x 4
  // the widest matmul input is now max(64, 176, 64, 300) = 300: bf16 panels 2 x 64 x 300 x 4
  // = 153600, activations as bf16 32 x 300 x 2 = 19200, + 64
  EXPECT_EQ(b["matmul_scratch"], 172864u);
}

TEST(Workspace, MatmulScratchForMlxQuantizedWeights) {
  // 4-bit group 64, widest input A = ffn 176, R = 32, 2 threads:
  //   activations: 32 rows (padded to 16s) x 176 int8 = 5632, + 3 x align64(32 x ceil(176/64)=3
  //   x 4 = 384) = 1152; panels (R >= 8): 2 x align64(32 x 176 + 64 x 3 x 4 = 6400) = 12800;
  //   + 64 slack = 19648
  ModelSpec s = tiny_dense();
  s.quant.method = QuantMethod::Mlx;
  s.quant.bits = 4;
  s.quant.group_size = 64;
  EXPECT_EQ(buffers(plan_memory(s, run_with(100, 1, 32, 2), zero_profile()))["matmul_scratch"],
            19648u);
  // 5 rows: padded to 16: 16 x 176 = 2816 + 3 x align64(16 x 3 x 4 = 192) = 576; no panels
  // below 8 rows; + 64 = 3456
  EXPECT_EQ(buffers(plan_memory(s, run_with(5, 1, 32, 2), zero_profile()))["matmul_scratch"],
            3456u);
}

TEST(Workspace, MatmulScratchForHalfPrecisionWeights) {
  // bf16 weights from 8 rows on: one 64-row f32 panel per thread: 2 x 64 x 176 x 4 = 90112,
  // the activations as bf16: 32 rows x 176 x 2 = 11264, + 64 = 101440
  ModelSpec s = tiny_dense();
  s.tensors = {tensor("w", DType::BF16, 100, Component::Mlp)};
  s.tensors[0].shape = {10, 5};
  EXPECT_EQ(buffers(plan_memory(s, run_with(100, 1, 32, 2), zero_profile()))["matmul_scratch"],
            101440u);
  EXPECT_EQ(buffers(plan_memory(s, run_with(7, 1, 32, 2), zero_profile()))["matmul_scratch"], 64u);
}

TEST(Workspace, MlxQuantizedWithoutGroupSizeIsAConfigError) {
  ModelSpec s = tiny_dense();
  s.quant.method = QuantMethod::Mlx;
  s.quant.bits = 4;
  try {
    plan_memory(s, run_with(100), zero_profile());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("group_size"), std::string::npos) << e.what();
  }
}

TEST(Workspace, LinearLayerWithoutScratchWidthIsWarnedAbout) {
  ModelSpec s = tiny_dense();
  s.layers = {full_layer(2, 16), linear_layer(1000, 0), linear_layer(1000, 0)};
  MemoryPlan p = plan_memory(s, run_with(100, 1, 32), zero_profile());
  ASSERT_EQ(p.warnings.size(), 1u);  // one warning for all of them
  EXPECT_NE(p.warnings[0].find("2 linear layer(s) (first: layer 1)"), std::string::npos)
      << p.warnings[0];
}

TEST(Workspace, MissingHiddenSizeIsAConfigError) {
  ModelSpec s = tiny_dense();
  s.dims.hidden_size = 0;
  try {
    plan_memory(s, run_with(100), zero_profile());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("hidden_size"), std::string::npos) << e.what();
  }
}

TEST(Weights, SummedByComponentAndDtypeInFixedOrder) {
  ModelSpec s = tiny_dense();
  s.source = WeightSource::Exact;
  s.tensors = {
      tensor("embed", DType::BF16, 1000, Component::Embeddings),
      tensor("q", DType::BF16, 300, Component::Attention),
      tensor("k", DType::F32, 100, Component::Attention),
      tensor("norm", DType::F32, 20, Component::Norms),
      tensor("gate", DType::U32, 700, Component::Mlp),
  };
  MemoryPlan p = plan_memory(s, run_with(100), zero_profile());
  EXPECT_EQ(p.weights.total, 2120u);
  EXPECT_EQ(p.weights.source, WeightSource::Exact);
  ASSERT_EQ(p.weights.by_component.size(), 4u);
  EXPECT_EQ(p.weights.by_component[0].name, "embeddings");
  EXPECT_EQ(p.weights.by_component[1].name, "attention");
  EXPECT_EQ(p.weights.by_component[1].bytes, 400u);
  EXPECT_EQ(p.weights.by_component[1].count, 2u);
  EXPECT_EQ(p.weights.by_component[2].name, "mlp");
  EXPECT_EQ(p.weights.by_component[3].name, "norms");
  ASSERT_EQ(p.weights.by_dtype.size(), 3u);  // DType order: U32, BF16, F32
  EXPECT_EQ(p.weights.by_dtype[0].name, "U32");
  EXPECT_EQ(p.weights.by_dtype[1].name, "BF16");
  EXPECT_EQ(p.weights.by_dtype[1].bytes, 1300u);
  EXPECT_EQ(p.weights.by_dtype[2].name, "F32");
  EXPECT_EQ(p.weights.by_dtype[2].bytes, 120u);
}

TEST(Overhead, FormulaFromTheProfile) {
  CalibrationProfile prof = zero_profile();
  prof.base_bytes = 1000;
  prof.per_thread_bytes = 100;
  prof.weights_fraction = 0.5;
  prof.kv_fraction = 0.25;
  prof.workspace_fraction = 0.1;
  prof.margin = 0.1;
  prof.calibrated = true;
  // tiny_dense at context 100, chunk 32, 2 threads: weights 1001, KV 2 layers x 128 B x 100 =
  // 25600, workspace 88928 (see DenseModelBufferByBuffer); planned = 115529.
  MemoryPlan p = plan_memory(tiny_dense(), run_with(100, 1, 32, 2), prof);
  EXPECT_EQ(p.planned, 115529u);
  EXPECT_EQ(p.overhead.base, 1000u);
  EXPECT_EQ(p.overhead.threads, 200u);     // 2 x 100
  EXPECT_EQ(p.overhead.weights, 501u);     // ceil(0.5 x 1001)
  EXPECT_EQ(p.overhead.kv, 6400u);         // 0.25 x 25600
  EXPECT_EQ(p.overhead.workspace, 8893u);  // ceil(0.1 x 88928 = 8892.8)
  // fitted = 1000 + 200 + 501 + 6400 + 8893 = 16994; margin = ceil(0.1 x (115529 + 16994))
  EXPECT_EQ(p.overhead.margin, 13253u);
  EXPECT_EQ(p.overhead.total, 30247u);
  EXPECT_EQ(p.total, 145776u);
  EXPECT_TRUE(p.overhead.calibrated);
}

TEST(Overhead, TokenizerTermScalesTheTokenizerFile) {
  CalibrationProfile prof = zero_profile();
  prof.tokenizer_heap_per_file_byte = 5.07;
  prof.margin = 0.1;
  ModelSpec spec = tiny_dense();
  spec.tokenizer_file_bytes = 2107749;  // gpt2's tokenizer.json
  MemoryPlan p = plan_memory(spec, run_with(100, 1, 32, 2), prof);
  EXPECT_EQ(p.planned, 115529u);  // as in FormulaFromTheProfile: the tokenizer is not planned
  // ceil(5.07 x 2107749 = 10686287.43)
  EXPECT_EQ(p.overhead.tokenizer, 10686288u);
  // margin = ceil(0.1 x (115529 + 10686288) = 1080181.7)
  EXPECT_EQ(p.overhead.margin, 1080182u);
  EXPECT_EQ(p.overhead.total, 10686288u + 1080182u);
  spec.tokenizer_file_bytes = 0;  // no tokenizer file: no term
  EXPECT_EQ(plan_memory(spec, run_with(100, 1, 32, 2), prof).overhead.tokenizer, 0u);
}

TEST(Overhead, TiktokenFilesTakeTheirOwnCoefficient) {
  CalibrationProfile prof = zero_profile();
  prof.tokenizer_heap_per_file_byte = 4.7;
  ModelSpec spec = tiny_dense();
  spec.tokenizer_file_bytes = 2183982;  // Llama 3's tokenizer.model
  spec.tokenizer_is_tiktoken = true;
  // no tiktoken coefficient in the profile: the tokenizer.json one applies; ceil(10264715.4)
  EXPECT_EQ(plan_memory(spec, run_with(100, 1, 32, 2), prof).overhead.tokenizer, 10264716u);
  prof.tiktoken_heap_per_file_byte = 7.33;  // ceil(16008588.06)
  EXPECT_EQ(plan_memory(spec, run_with(100, 1, 32, 2), prof).overhead.tokenizer, 16008589u);
  spec.tokenizer_is_tiktoken = false;  // a tokenizer.json of the same size
  EXPECT_EQ(plan_memory(spec, run_with(100, 1, 32, 2), prof).overhead.tokenizer, 10264716u);
}

// serve's own memory: the fitted baseline, bodies at the transport's bound, plus each preparation
// thread's measured cost per body byte; outside the overhead margin (it is a bound of its own).
TEST(ServerRequests, BaselineBodiesAndPreparationScaleWithTheFlags) {
  CalibrationProfile prof = zero_profile();
  prof.server_preparation_per_body_byte = 2.5;
  prof.server_base_bytes = 700;
  prof.margin = 0.1;
  RunConfig run = run_with(100, 3, 32, 2);
  run.server = ServerRequestLimits{1000003, 0, 2};
  MemoryPlan p = plan_memory(tiny_dense(), run, prof);
  EXPECT_EQ(p.server.bodies_in_flight, 5u);  // 3 sequences + 2
  EXPECT_EQ(p.server.bodies, 5000015u);      // 5 x 1000003
  EXPECT_EQ(p.server.preparation, 5000016u); // 2 x ceil(2.5 x 1000003 = 2500007.5)
  EXPECT_EQ(p.server.base, 700u);
  EXPECT_EQ(p.server.total, 10000731u);       // 700 + bodies + preparation
  EXPECT_EQ(p.total, p.planned + p.server.total + p.overhead.total);
  // the margin covers planned + fitted only: ceil(0.1 x planned)
  EXPECT_EQ(p.overhead.margin, (p.planned + 9) / 10);
  run.server->bodies_in_flight = 7;  // an explicit count replaces sequences + 2
  EXPECT_EQ(plan_memory(tiny_dense(), run, prof).server.bodies, 7000021u);
  run.server.reset();  // generate: no server line
  const MemoryPlan g = plan_memory(tiny_dense(), run, prof);
  EXPECT_EQ(g.server.total, 0u);
  EXPECT_EQ(g.total, g.planned + g.overhead.total);
}

TEST(ServerRequests, ZeroBodyLimitIsAUsageError) {
  RunConfig run = run_with(100, 1, 32, 2);
  run.server = ServerRequestLimits{0, 0, 2};
  EXPECT_THROW(plan_memory(tiny_dense(), run, zero_profile()), UsageError);
}

TEST(Overhead, ZeroProfileLeavesThePlannedBytes) {
  MemoryPlan p = plan_memory(tiny_dense(), run_with(100, 1, 32, 2), zero_profile());
  EXPECT_EQ(p.overhead.total, 0u);
  EXPECT_EQ(p.total, p.planned);
  EXPECT_EQ(p.total, 115529u);
}
