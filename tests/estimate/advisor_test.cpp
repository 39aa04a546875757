#include <gtest/gtest.h>

#include "estimate/advisor.h"
#include "arch/registry.h"
#include "estimate/specs.h"
#include "mlxcel/errors.h"

using namespace mlxcel;
using namespace mlxcel::test;

namespace {

uint64_t total_at(const ModelSpec& s, RunConfig r, const CalibrationProfile& p, uint64_t c) {
  r.context = c;
  return plan_memory(s, r, p).total;
}

// tiny_dense with a zero profile, chunk 32, 1 sequence, 2 threads (see workspace_test):
//   rows cost 2688 B each (hidden, normed, q 256 each, k, v 128 each, attn_out 256, mlp 2 x 704),
//   scores 8c, logits 2048, matmul_scratch 64 (f32 weights):
//   c >= 32: weights 1001 + KV 256c + workspace (2688 x 32 + 8c + 2112) = 89129 + 264c
//   c <= 32: rows = c: total = 1001 + 256c + 2696c + 2112 = 3113 + 2952c
const RunConfig kRun = run_with(100, 1, 32, 2);

}  // namespace

TEST(Verdict, FitsOrShortBy) {
  MemoryPlan p = plan_memory(tiny_dense(), kRun, zero_profile());  // total 115529
  Verdict yes = judge(p, budget_available_memory(200000));
  EXPECT_TRUE(yes.fits);
  EXPECT_EQ(yes.headroom, 84471u);
  Verdict no = judge(p, budget_available_memory(100000));
  EXPECT_FALSE(no.fits);
  EXPECT_EQ(no.shortfall, 15529u);
  EXPECT_TRUE(judge(p, budget_available_memory(115529)).fits);
}

TEST(MaxContext, SolvedInTheLinearPieceAboveTheChunk) {
  ModelSpec s = tiny_dense();
  MaxContext m = solve_max_context(s, kRun, zero_profile(), 1000000);
  // (1000000 - 89129) / 264 = 3450.27 -> 3450: 999929 fits, 3451 -> 1000193 does not
  EXPECT_EQ(m.tokens, 3450u);
  EXPECT_EQ(m.total_at_tokens, 999929u);
  EXPECT_EQ(m.total_at_next, 1000193u);
  EXPECT_FALSE(m.clamped);
  EXPECT_LT(m.plans_evaluated, 16u);  // solved, not searched token by token
}

TEST(MaxContext, SolvedBelowTheChunkWhereRowsStillGrow) {
  MaxContext m = solve_max_context(tiny_dense(), kRun, zero_profile(), 50000);
  // (50000 - 3113) / 2952 = 15.9 -> 15: 47393 fits, 16 -> 50345 does not
  EXPECT_EQ(m.tokens, 15u);
  EXPECT_EQ(m.total_at_tokens, 47393u);
  EXPECT_EQ(m.total_at_next, 50345u);
}

TEST(MaxContext, SlidingWindowChangesTheSlope) {
  // Layer 1 slides with window 1000 (128 B/token): for 32 <= c <= 1000 total = 89129 + 264c,
  // for c >= 1000 total = 89129 + 128000 + 136c = 217129 + 136c.
  ModelSpec s = tiny_dense();
  s.layers[1] = sliding_layer(2, 16, 1000);
  EXPECT_EQ(total_at(s, kRun, zero_profile(), 1000), 353129u);

  MaxContext above = solve_max_context(s, kRun, zero_profile(), 500000);
  // (500000 - 217129) / 136 = 2079.9 -> 2079: 499873 fits, 2080 -> 500009 does not
  EXPECT_EQ(above.tokens, 2079u);
  EXPECT_EQ(above.total_at_tokens, 499873u);
  EXPECT_EQ(above.total_at_next, 500009u);

  MaxContext below = solve_max_context(s, kRun, zero_profile(), 300000);
  // (300000 - 89129) / 264 = 798.7 -> 798: 299801 fits, 799 -> 300065 does not
  EXPECT_EQ(below.tokens, 798u);
  EXPECT_EQ(below.total_at_next, 300065u);
}

TEST(MaxContext, ClampedToMaxPositionEmbeddings) {
  MaxContext m = solve_max_context(tiny_dense(), kRun, zero_profile(), uint64_t{1} << 40);
  EXPECT_EQ(m.tokens, 8192u);
  EXPECT_TRUE(m.clamped);
  EXPECT_TRUE(m.from_max_position);
  EXPECT_EQ(m.limit, 8192u);
}

TEST(MaxContext, NotEvenOneToken) {
  MaxContext m = solve_max_context(tiny_dense(), kRun, zero_profile(), 6000);
  EXPECT_EQ(m.tokens, 0u);  // one token needs 3113 + 2952 = 6065
  EXPECT_EQ(m.total_at_next, 6065u);
}

TEST(MaxContext, WithoutMaxPositionTheSearchCapApplies) {
  ModelSpec s = tiny_dense();
  s.dims.max_position_embeddings = 0;
  MaxContext m = solve_max_context(s, kRun, zero_profile(), 1000000);
  EXPECT_EQ(m.tokens, 3450u);
  EXPECT_FALSE(m.from_max_position);
  EXPECT_EQ(m.limit, kContextSearchCap);
}

TEST(MaxContext, ExactAtTheBoundaryWithRoundedOverheadAndManyPieces) {
  // Overhead fractions round up per plan, margins multiply, windows and sequences add pieces:
  // whatever the budget, the solved context fits and one more token does not.
  ModelSpec s = llama31_8b_like();
  for (int i = 0; i < 32; i += 2) s.layers[i] = sliding_layer(8, 128, 4096 + 37 * i);
  CalibrationProfile prof = zero_profile();
  prof.base_bytes = 123457;
  prof.per_thread_bytes = 8191;
  prof.weights_fraction = 0.0137;
  prof.kv_fraction = 0.0311;
  prof.workspace_fraction = 0.173;
  prof.margin = 0.0719;
  s.tensors.push_back(tensor("w", DType::BF16, 16000000000ull, Component::Other));
  RunConfig run = run_with(4096, 3, 512, 2);
  for (uint64_t budget : {18000000000ull, 19000000000ull, 20000000000ull, 25000000000ull,
                          35000000000ull, 40000000000ull}) {
    MaxContext m = solve_max_context(s, run, prof, budget);
    ASSERT_GT(m.tokens, 0u) << budget;
    ASSERT_LT(m.tokens, 131072u) << budget;
    EXPECT_LE(total_at(s, run, prof, m.tokens), budget) << budget;
    EXPECT_GT(total_at(s, run, prof, m.tokens + 1), budget) << budget;
    EXPECT_LT(m.plans_evaluated, 48u) << budget;
  }
}

TEST(Advice, KvCacheTypesSkipInvalidOnesAndJudgeTheRest) {
  ModelSpec s = tiny_dense();
  s.layers = {full_layer(2, 96), full_layer(2, 96)};  // 96: ggml blocks yes, MLX groups of 64 no
  // f16 KV at context 100: 2 layers x 2 x (192 + 192) x 100 = 153600
  RunConfig run = kRun;
  uint64_t f16_total = plan_memory(s, run, zero_profile()).total;
  auto options = advise_kv_cache_types(s, run, zero_profile(), f16_total - 1);
  ASSERT_EQ(options.size(), 10u);
  for (const auto& o : options) {
    if (o.name == "q4" || o.name == "q8") {
      EXPECT_FALSE(o.valid) << o.name;
      EXPECT_NE(o.problem.find("96"), std::string::npos) << o.problem;
    } else {
      EXPECT_TRUE(o.valid) << o.name;
    }
    if (o.name == "f16" || o.name == "f32" || o.name == "bf16") {
      EXPECT_FALSE(o.fits) << o.name;
    }
    if (o.name == "q8_0") {
      // q8_0 row of 96 = 3 x 34 = 102: KV = 2 x 2 x 204 x 100 = 81600 instead of 153600
      EXPECT_TRUE(o.fits);
      EXPECT_EQ(f16_total - o.total, 72000u);
    }
  }
}

TEST(Advice, WeightFormatsAskTheSpecMakerForEachFormat) {
  // A stand-in for the registry: bf16 = 3000000 B, 8bit = 1600000 B, 4bit = 850000 B.
  SpecForFormat make = [](const AnalyticOptions& o) {
    ModelSpec s = tiny_dense();
    uint64_t bytes = 3000000;
    if (o.requantize && o.requantize->bits == 8) bytes = 1600000;
    if (o.requantize && o.requantize->bits == 4) bytes = 850000;
    s.tensors = {tensor("w", DType::U8, bytes, Component::Other)};
    return s;
  };
  // plan without weights at context 100: 25600 KV + 88928 workspace = 114528
  auto formats = advisor_weight_formats();
  ASSERT_EQ(formats.size(), 3u);
  EXPECT_EQ(formats[0].options.requantize->method, QuantMethod::None);  // plain floats
  EXPECT_EQ(formats[0].options.float_dtype, DType::BF16);
  EXPECT_EQ(formats[1].options.requantize->method, QuantMethod::Mlx);
  EXPECT_EQ(formats[1].options.requantize->bits, 8u);
  EXPECT_EQ(formats[2].options.requantize->group_size, 64u);
  auto options = advise_weight_formats(make, kRun, zero_profile(), 2000000);
  ASSERT_EQ(options.size(), 3u);
  EXPECT_EQ(options[0].name, "bf16");
  EXPECT_EQ(options[0].total, 3114528u);
  EXPECT_FALSE(options[0].fits);
  EXPECT_EQ(options[1].name, "8bit");
  EXPECT_EQ(options[1].total, 1714528u);
  EXPECT_TRUE(options[1].fits);
  EXPECT_EQ(options[2].name, "4bit");
  EXPECT_TRUE(options[2].fits);

  // The model as given is the bf16 stand-in (3000000 B): it does not fit, 8bit does.
  const ModelSpec as_is = make(advisor_weight_formats()[0].options);
  auto rec = recommend(as_is, make, kRun, zero_profile(), 2000000);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->weight_format, "8bit");
  EXPECT_EQ(rec->cache_type, KvCacheType::F16);
  // Given as 4-bit, nothing larger is proposed: 4bit itself is "as-is" and fits.
  const ModelSpec four = make(advisor_weight_formats()[2].options);
  auto rec4 = recommend(four, make, kRun, zero_profile(), 2000000);
  ASSERT_TRUE(rec4.has_value());
  EXPECT_EQ(rec4->weight_format, kAsIsFormat);
  // A budget only 4-bit meets (850000 + 114528 = 964528), given as 8-bit: 4bit is proposed.
  const ModelSpec eight = make(advisor_weight_formats()[1].options);
  auto down = recommend(eight, make, kRun, zero_profile(), 1000000);
  ASSERT_TRUE(down.has_value());
  EXPECT_EQ(down->weight_format, "4bit");
  EXPECT_EQ(down->total, 964528u);
}

TEST(Advice, RecommendKeepsTheWeightsPreciseAndShrinksTheCache) {
  // Same stand-in, with 2 KV heads of 32 (ggml blocks of 32 now divide the head dim).
  SpecForFormat make = [](const AnalyticOptions& o) {
    ModelSpec s = tiny_dense();
    s.layers = {full_layer(2, 32), full_layer(2, 32)};
    s.tensors = {tensor("w", DType::U8, o.requantize->bits ? 1600000 : 3000000, Component::Other)};
    return s;
  };
  // Workspace at R = 32: hidden 8192 + normed 8192 + q 32x128x4 = 16384 + k 8192 + v 8192 +
  // attn_out 16384 + scores 800 + mlp 2 x 22528 + matmul_scratch 64 + logits 2048 = 113504.
  // KV at 100 tokens, 2 layers x 2 heads: q4_0 rows 18 -> 14400, q4_1 rows 20 -> 16000.
  // bf16 + q4_0 = 3000000 + 113504 + 14400 = 3127904; bf16 + q4_1 = 3129504.
  // Given as 8-bit and fitting as is, the model is left as it is.
  const ModelSpec eight = make(advisor_weight_formats()[1].options);
  auto as_is = recommend(eight, make, kRun, zero_profile(), 3129000);
  ASSERT_TRUE(as_is.has_value());
  EXPECT_EQ(as_is->weight_format, kAsIsFormat);
  EXPECT_EQ(as_is->cache_type, KvCacheType::F16);
  // Given as an f32 model of 6000000 B that fits nowhere as is: bf16 with the largest cache that
  // fits.
  ModelSpec f32 = make(advisor_weight_formats()[0].options);
  f32.tensors = {tensor("w", DType::U8, 6000000, Component::Other)};
  auto rec = recommend(f32, make, kRun, zero_profile(), 3129000);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->weight_format, "bf16");
  EXPECT_EQ(rec->cache_type, KvCacheType::Q4_0);
  EXPECT_EQ(rec->total, 3127904u);
  EXPECT_FALSE(recommend(f32, make, kRun, zero_profile(), 1000).has_value());
}

TEST(Advice, WeightFormatTheRegistryRejectsIsListedWithItsProblem) {
  SpecForFormat make = [](const AnalyticOptions& o) -> ModelSpec {
    if (o.requantize->bits) throw ConfigError("arch", "cannot quantize this (config.json, bits, 4)");
    return tiny_dense();
  };
  auto options = advise_weight_formats(make, kRun, zero_profile(), 2000000);
  EXPECT_TRUE(options[0].valid);
  EXPECT_FALSE(options[1].valid);
  EXPECT_NE(options[1].problem.find("cannot quantize"), std::string::npos);
}

TEST(Advice, EveryWeightFormatAlternativeCarriesTheModelsTokenizer) {
  // A llama config with a 2 MB tiktoken tokenizer beside it: the derived 4-bit spec keeps the
  // tokenizer, so its plan's overhead has the same tokenizer term as the model's own plan.
  const nlohmann::json config = {{"model_type", "llama"},        {"hidden_size", 256},
                                 {"intermediate_size", 512},      {"num_hidden_layers", 2},
                                 {"num_attention_heads", 4},      {"num_key_value_heads", 2},
                                 {"vocab_size", 1000},            {"max_position_embeddings", 512},
                                 {"torch_dtype", "bfloat16"}};
  ModelSpec spec = analytic_spec(config);
  spec.tokenizer_file_bytes = 2000000;
  spec.tokenizer_is_tiktoken = true;
  CalibrationProfile profile = zero_profile();
  profile.tokenizer_heap_per_file_byte = 3.0;
  profile.tiktoken_heap_per_file_byte = 5.0;
  const auto formats = advisor_weight_formats();
  const ModelSpec four_bit = spec_for_format_from_config(spec)(formats.back().options);
  EXPECT_EQ(four_bit.tokenizer_file_bytes, 2000000u);
  EXPECT_TRUE(four_bit.tokenizer_is_tiktoken);
  EXPECT_EQ(plan_memory(four_bit, kRun, profile).overhead.tokenizer, 10000000u);
  EXPECT_EQ(plan_memory(spec, kRun, profile).overhead.tokenizer, 10000000u);
}
