// The memory preflight: verdict, refusal message and alternatives, each checked against numbers
// worked out by hand from the formulas of docs/memory-model.md.
#include <gtest/gtest.h>

#include "estimate/preflight.h"
#include "estimate/specs.h"
#include "mlxcel/errors.h"

using namespace mlxcel;
using namespace mlxcel::test;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// hidden 128, 2 heads and 2 KV heads of 64, ffn 256, vocab 512, 2 full layers, one weight tensor
// of `weight_bytes` (no shape, so no bf16 GEMM panels). At chunk 32, 2 threads, context c >= 32:
//   KV f16: 2 layers x 2 heads x (128 + 128) B = 1024 B/token; q8_0/q8: 64 values = 68 B a row ->
//   544 B/token; q4_0/q4: 36 B a row -> 288; q5_1 48 -> 384; q5_0 44 -> 352; q4_1 40 -> 320.
//   workspace: 32 rows x (hidden, normed, q, k, v, attn_out 6 x 512 + mlp_gate, mlp_up 2 x 1024)
//   = 163840, scores 2 x c x 4 = 8c, matmul_scratch 64, logits 2048 -> 165952 + 8c.
//   total (zero profile) = weights + 165952 + 1032c (f16); at c = 100: weights + 269152.
ModelSpec dense64(uint64_t weight_bytes) {
  ModelSpec s;
  s.architecture = "llama";
  s.format = "safetensors";
  s.source = WeightSource::Exact;
  s.root = "/models/dense64";
  s.files = {"/models/dense64/model.safetensors"};
  s.dims.hidden_size = 128;
  s.dims.intermediate_size = 256;
  s.dims.num_layers = 2;
  s.dims.num_heads = 2;
  s.dims.num_kv_heads = 2;
  s.dims.head_dim = 64;
  s.dims.vocab_size = 512;
  s.dims.max_position_embeddings = 8192;
  s.layers = {full_layer(2, 64), full_layer(2, 64)};
  s.tensors.push_back(tensor("w", DType::U8, weight_bytes, Component::Other));
  return s;
}

PreflightRequest request(uint64_t budget, uint64_t context = 100) {
  PreflightRequest r;
  r.command = "generate";
  r.run = run_with(context, 1, 32, 2);
  r.available = budget_available_memory(budget);
  r.context.flag = "--ctx-size";
  r.context.origin = "--ctx-size";
  return r;
}

// Weight formats as a bf16 model of 200000 bytes would have them: bf16 200000, 8bit 106250,
// 4bit 56250 (quant left None so the workspace stays as above).
SpecForFormat formats_of_200k() {
  return [](const AnalyticOptions& o) {
    if (!o.requantize || o.requantize->method == QuantMethod::None) return dense64(200000);
    return dense64(o.requantize->bits == 8 ? 106250 : 56250);
  };
}

const auto& zero = zero_profile;

}  // namespace

TEST(Preflight, FitsWithOnePlanAndNoAdvice) {
  // 1001 + 269152 = 270153 <= 300000
  PreflightResult r = run_preflight(dense64(1001), request(300000), zero());
  EXPECT_TRUE(r.verdict.fits);
  EXPECT_EQ(r.plan.total, 270153u);
  EXPECT_EQ(r.verdict.headroom, 29847u);
  EXPECT_TRUE(r.refusal.empty());
  EXPECT_TRUE(r.alternatives.empty());
  EXPECT_FALSE(r.max_context.has_value());
  EXPECT_TRUE(contains(r.summary, "--memory-budget")) << r.summary;
}

TEST(Preflight, RefusalStatesBothNumbersAndTheirSources) {
  PreflightResult r = run_preflight(dense64(1001), request(250000), zero());
  ASSERT_FALSE(r.verdict.fits);
  EXPECT_EQ(r.verdict.shortfall, 20153u);  // 270153 - 250000
  const std::string& m = r.refusal;
  EXPECT_TRUE(contains(m, "[preflight] generate refused")) << m;
  EXPECT_TRUE(contains(m, "(270153 B)")) << m;
  EXPECT_TRUE(contains(m, "(250000 B)")) << m;
  EXPECT_TRUE(contains(m, "short by")) << m;
  EXPECT_TRUE(contains(m, "(20153 B)")) << m;
  EXPECT_TRUE(contains(m, "available: 244.14 KiB (250000 B) from --memory-budget")) << m;
  EXPECT_TRUE(contains(m, "weights 1001 B (1001 B) (exact, from the safetensors headers of 1 file)")) << m;
  EXPECT_TRUE(contains(m, "KV cache 100.00 KiB (102400 B)")) << m;
  EXPECT_TRUE(contains(m, "workspace 162.84 KiB (166752 B)")) << m;
  EXPECT_TRUE(contains(m, "UNCALIBRATED profile (test)")) << m;
  EXPECT_TRUE(contains(m, "context 100 tokens (--ctx-size) x 1 sequence")) << m;
  EXPECT_TRUE(contains(m, "--force (alias --no-memory-check)")) << m;
}

TEST(Preflight, LargestContextIsOffered) {
  // (250000 - 1001 - 165952) / 1032 = 80.5 -> 80: total 1001 + 165952 + 82560 = 249513
  PreflightResult r = run_preflight(dense64(1001), request(250000), zero());
  ASSERT_TRUE(r.max_context.has_value());
  EXPECT_EQ(r.max_context->tokens, 80u);
  ASSERT_FALSE(r.alternatives.empty());
  const PreflightAlternative& a = r.alternatives[0];
  EXPECT_EQ(a.kind, AlternativeKind::Context);
  EXPECT_EQ(a.change, "--ctx-size 80");
  EXPECT_EQ(a.total, 249513u);
  EXPECT_TRUE(contains(r.refusal, "--ctx-size 80")) << r.refusal;
}

TEST(Preflight, ContextAdviceIsSpelledAsMaxTokensAfterThePrompt) {
  PreflightRequest req = request(250000);
  req.context.flag = "--max-tokens";
  req.context.offset = 30;  // a 30-token prompt: context 80 = 30 + 50
  req.context.origin = "prompt 30 + --max-tokens 70";
  PreflightResult r = run_preflight(dense64(1001), req, zero());
  ASSERT_FALSE(r.alternatives.empty());
  EXPECT_EQ(r.alternatives[0].change, "--max-tokens 50");
  EXPECT_TRUE(contains(r.refusal, "(prompt 30 + --max-tokens 70)")) << r.refusal;
}

TEST(Preflight, NoContextAdviceWhenThePromptAloneDoesNotFit) {
  PreflightRequest req = request(250000);
  req.context.flag = "--max-tokens";
  req.context.offset = 90;  // 80 tokens fit, the prompt is 90
  PreflightResult r = run_preflight(dense64(1001), req, zero());
  for (const auto& a : r.alternatives) EXPECT_NE(a.kind, AlternativeKind::Context);
  EXPECT_TRUE(contains(r.refusal, "the prompt alone is 90 tokens; the largest context that fits is 80")) << r.refusal;
}

TEST(Preflight, HighestPrecisionKvCacheTypeThatFits) {
  // q8_0: 1001 + 54400 + 166752 = 222153 <= 250000; f32, f16, bf16 do not fit
  PreflightResult r = run_preflight(dense64(1001), request(250000), zero());
  const PreflightAlternative* kv = nullptr;
  for (const auto& a : r.alternatives)
    if (a.kind == AlternativeKind::KvCacheType) kv = &a;
  ASSERT_NE(kv, nullptr);
  EXPECT_EQ(kv->change, "--cache-type-k q8_0 --cache-type-v q8_0");
  EXPECT_EQ(kv->total, 222153u);
}

TEST(Preflight, KvAdviceTakesTheFinestFormatThatFits) {
  // 200000-byte weights, budget 400000: q8_0 421152, q5_1 405152, q5_0 401952 do not fit;
  // q4_1: 200000 + 32000 + 166752 = 398752 does (and runs: every type the advisor names does).
  PreflightResult r = run_preflight(dense64(200000), request(400000), zero());
  std::string change = "none";
  for (const auto& a : r.alternatives)
    if (a.kind == AlternativeKind::KvCacheType) change = a.change + " " + std::to_string(a.total);
  EXPECT_EQ(change, "--cache-type-k q4_1 --cache-type-v q4_1 398752");
}

TEST(Preflight, WeightFormatAdviceNamesTheConvertCommand) {
  // As given 200000 + 269152 = 469152; bf16 is no smaller; 8bit: 106250 + 269152 = 375402 fits.
  PreflightRequest req = request(400000);
  req.make_spec = formats_of_200k();
  ModelSpec spec = dense64(200000);
  PreflightResult r = run_preflight(spec, req, zero());
  const PreflightAlternative* w = nullptr;
  for (const auto& a : r.alternatives)
    if (a.kind == AlternativeKind::WeightFormat) w = &a;
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->change, "8bit weights");
  EXPECT_EQ(w->total, 375402u);
  EXPECT_EQ(w->note, "make it with: mlxcel convert --quantize 8bit /models/dense64 --out /models/dense64-8bit");
  for (const auto& a : r.alternatives) EXPECT_NE(a.kind, AlternativeKind::Combined);
}

TEST(Preflight, CombinedAdviceWhenNoSingleChangeFits) {
  // Budget 320000. KV alone: q4_0 395552 > budget. Weights alone: 8bit 375402, 4bit
  // 56250 + 269152 = 325402 > budget. 8bit with q5_1: 106250 + 38400 + 166752 = 311402 fits
  // (8bit with q8_0 = 327402 and with q8 do not).
  PreflightRequest req = request(320000);
  req.make_spec = formats_of_200k();
  PreflightResult r = run_preflight(dense64(200000), req, zero());
  const PreflightAlternative* c = nullptr;
  for (const auto& a : r.alternatives) {
    EXPECT_NE(a.kind, AlternativeKind::KvCacheType);
    EXPECT_NE(a.kind, AlternativeKind::WeightFormat);
    if (a.kind == AlternativeKind::Combined) c = &a;
  }
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->change, "8bit weights with --cache-type-k q5_1 --cache-type-v q5_1");
  EXPECT_EQ(c->total, 311402u);
}

TEST(Preflight, NothingFitsSaysSo) {
  // Even 1 token: weights 200000 alone exceed 100000.
  PreflightRequest req = request(100000);
  req.make_spec = formats_of_200k();
  PreflightResult r = run_preflight(dense64(200000), req, zero());
  EXPECT_TRUE(r.alternatives.empty());
  EXPECT_TRUE(contains(r.refusal, "No alternative fits")) << r.refusal;
}

TEST(Preflight, ServeAdviceLowersParallel) {
  // tiny_dense (1001 B of weights, KV 256 B/token, 32 rows of 2688 B), chunk 32, context 100:
  // total(s) = 1001 + 25600s + 86016 + 800 + 64 + 2048s = 87881 + 27648s; s = 4: 198473.
  // Budget 150000: s = floor(62119 / 27648) = 2 -> 143177.
  PreflightRequest req = request(150000);
  req.command = "serve";
  req.run.sequences = 4;
  req.sequences_flag = "--parallel";
  PreflightResult r = run_preflight(tiny_dense(), req, zero());
  EXPECT_EQ(r.plan.total, 198473u);
  const PreflightAlternative* s = nullptr;
  for (const auto& a : r.alternatives)
    if (a.kind == AlternativeKind::Sequences) s = &a;
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->change, "--parallel 2");
  EXPECT_EQ(s->total, 143177u);
  EXPECT_TRUE(contains(r.refusal, "[preflight] serve refused")) << r.refusal;
}

TEST(Preflight, PlanErrorsPropagate) {
  PreflightRequest req = request(1000000);
  req.run.cache_type_k = KvCacheType::Q8_0;  // tiny_dense's head dim 16 is not a block of 32
  EXPECT_THROW(run_preflight(tiny_dense(), req, zero()), ConfigError);
}

TEST(Recommend, FinestKvTypeForTheWeightsAsGiven) {
  // As given, budget 400000: q4_1 (398752) is the finest type that fits.
  ModelSpec spec = dense64(200000);
  RunConfig run = run_with(100, 1, 32, 2);
  auto rec = recommend(spec, formats_of_200k(), run, zero(), 400000);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->weight_format, kAsIsFormat);
  EXPECT_EQ(rec->cache_type, KvCacheType::Q4_1);
  EXPECT_EQ(rec->total, 398752u);
}

TEST(Recommend, HighestPrecisionWeightsFirst) {
  // Budget 380000: nothing as given (q4_0 and q4 395552); 8bit with f16 = 375402 fits.
  ModelSpec spec = dense64(200000);
  RunConfig run = run_with(100, 1, 32, 2);
  auto rec = recommend(spec, formats_of_200k(), run, zero(), 380000);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->weight_format, "8bit");
  EXPECT_EQ(rec->cache_type, KvCacheType::F16);
  EXPECT_EQ(rec->total, 375402u);
}

TEST(Recommend, NothingFits) {
  ModelSpec spec = dense64(200000);
  EXPECT_FALSE(recommend(spec, formats_of_200k(), run_with(100, 1, 32, 2), zero(), 100000));
}

TEST(GuardMemoryLimit, UserLimitElseThePlanTotal) {
  MemoryPlan plan = plan_memory(dense64(1001), run_with(100, 1, 32, 2), zero());
  EXPECT_EQ(guard_memory_limit(plan, std::nullopt), 270153u);
  EXPECT_EQ(guard_memory_limit(plan, 123456u), 123456u);
}

TEST(WeightFormatInstruction, ConvertOnlyForUnquantizedSafetensors) {
  ModelSpec s = dense64(1);
  EXPECT_EQ(weight_format_instruction(s, "4bit"),
            "make it with: mlxcel convert --quantize 4bit /models/dense64 --out /models/dense64-4bit");
  EXPECT_EQ(weight_format_instruction(s, "bf16"), "use a bf16 copy of this model");
  s.quant.method = QuantMethod::Mlx;
  s.quant.bits = 8;
  EXPECT_EQ(weight_format_instruction(s, "4bit"), "use a 4bit copy of this model (MLX affine, group 64)");
}
