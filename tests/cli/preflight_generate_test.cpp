// End to end: the memory preflight, the memory limit guard, --recommend-quant and the post-load
// validation of `mlxcel generate`, through the real binary on a small random-weight model.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "cli/cli_util.h"

using namespace mlxcel;
using namespace mlxcel::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The tiny Llama of cli_util.h (f32, 632064 bytes of weights) with random values and the
// byte-level tokenizer: "Hello" is BOS + 5 bytes = 6 tokens, so --max-tokens 10 plans a context
// of 16. With the base-only test profile, 2 threads, chunk 512 (inspect_test.cpp derives it):
//   total(c) = 632064 + 1000000 + 2048 (logits) + 64 (matmul_scratch) + 2952c for c <= 512;
//   c = 16: KV 256 x 16 = 4096, workspace 2688 x 16 + 8 x 16 + 64 + 2048 = 45248,
//   planned 632064 + 4096 + 45248 = 681408, total 1681408.
// Largest context under 1681407: (1681407 - 1634176) / 2952 = 15.99 -> 15 = 6 + --max-tokens 9.
class GeneratePreflight : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    write_text(dir_->file("config.json"), kTinyLlamaConfig);
    write_text(dir_->file("profile.json"), kTestProfile);
    CliResult r = run_mlxcel({"make-random-model", dir_->file("config.json"), "--out", model(), "--dtype", "f32"});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string model() { return dir_->file("model"); }
  static std::string profile() { return dir_->file("profile.json"); }

  // generate on the tiny model with the test profile and 2 threads, plus extra arguments.
  static CliResult generate(std::vector<std::string> extra) {
    std::vector<std::string> a = {"generate", model(), "--prompt", "Hello", "--max-tokens", "10",
                                  "--threads", "2", "--calibration", profile(), "--no-echo"};
    a.insert(a.end(), extra.begin(), extra.end());
    return run_mlxcel(a);
  }
  json stats_file() const { return json::parse(read_text(stats.file("stats.json"))); }

  static TempDir* dir_;
  TempDir stats;
};
TempDir* GeneratePreflight::dir_ = nullptr;

}  // namespace

TEST_F(GeneratePreflight, RefusedJustBelowTheNeedWithNumbersSourcesAndAlternatives) {
  CliResult r = generate({"--memory-budget", "1681407", "--json-stats", stats.file("stats.json")});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_TRUE(contains(r.err, "[preflight] generate refused")) << r.err;
  EXPECT_TRUE(contains(r.err, "(1681408 B)")) << r.err;
  EXPECT_TRUE(contains(r.err, "(1681407 B) from --memory-budget")) << r.err;
  EXPECT_TRUE(contains(r.err, "(prompt 6 + --max-tokens 10)")) << r.err;
  EXPECT_TRUE(contains(r.err, "weights 617.25 KiB (632064 B) (exact, from the safetensors headers of 1 file)"))
      << r.err;
  EXPECT_TRUE(contains(r.err, "--max-tokens 9")) << r.err;
  EXPECT_TRUE(contains(r.err, "largest context that fits: 15 tokens")) << r.err;
  EXPECT_TRUE(contains(r.err, "--force (alias --no-memory-check)")) << r.err;
  json j = stats_file();
  EXPECT_EQ(j["preflight"]["refused"], true);
  EXPECT_EQ(j["preflight"]["shortfall_bytes"], 1u);
  EXPECT_EQ(j["preflight"]["max_context"], 15u);
  EXPECT_EQ(j["plan"]["total_bytes"], 1681408u);
  EXPECT_TRUE(j["after_load"].is_null());
  EXPECT_TRUE(j["memory_limit"].is_null());
}

TEST_F(GeneratePreflight, ForceRunsWithAWarning) {
  CliResult r = generate({"--memory-budget", "1681407", "--force", "--json-stats", stats.file("stats.json")});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "warning: [preflight] the plan does not fit, running anyway because of --force"))
      << r.err;
  json j = stats_file();
  EXPECT_EQ(j["preflight"]["forced"], true);
  EXPECT_FALSE(j["after_run"].is_null());
  // --memory-budget plans for a machine; it is not a limit: the guard is the plan's total.
  EXPECT_EQ(j["memory_limit"]["bytes"], 1681408u);
  EXPECT_EQ(j["memory_limit"]["source"], "plan total");
}

TEST_F(GeneratePreflight, NoMemoryCheckIsTheSameAsForce) {
  CliResult r = generate({"--memory-budget", "1681407", "--no-memory-check"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "running anyway because of --force")) << r.err;
}

TEST_F(GeneratePreflight, RunsAtTheNeedAndJustAbove) {
  for (const char* budget : {"1681408", "1681409"}) {
    CliResult r = generate({"--memory-budget", budget});
    EXPECT_EQ(r.code, 0) << budget << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, "[preflight] fits")) << r.err;
  }
}

TEST_F(GeneratePreflight, ARealLimitBelowThePlannedBytesFailsCleanly) {
  // The allocator holds 681408 planned bytes; a 600000-byte limit stops the load.
  CliResult r = generate({"--memory-limit", "600000", "--force", "--json-stats", stats.file("stats.json")});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "error: [memory] cannot allocate")) << r.err;
  EXPECT_TRUE(contains(r.err, "the memory limit is")) << r.err;
  EXPECT_TRUE(contains(r.err, "from --memory-limit")) << r.err;
  json j = stats_file();
  EXPECT_EQ(j["error"]["type"], "MemoryLimitExceeded");
  EXPECT_EQ(j["memory_limit"]["bytes"], 600000u);
  EXPECT_EQ(j["memory_limit"]["source"], "--memory-limit");
}

TEST_F(GeneratePreflight, InspectPreflightAndLoaderAgreeToTheByte) {
  // The single-estimator rule: the same numbers from inspect --json, the preflight's plan and the
  // allocator after loading. Hand-derived above: weights 632064, KV 4096, workspace 45248.
  CliResult i = run_mlxcel({"inspect", model(), "--max-tokens", "16", "--threads", "2", "--calibration", profile(),
                            "--json"});
  ASSERT_EQ(i.code, 0) << i.err;
  json ij = json::parse(i.out);
  CliResult g = generate({"--json-stats", stats.file("stats.json")});
  ASSERT_EQ(g.code, 0) << g.err;
  json gj = stats_file();
  EXPECT_EQ(ij["weights"]["total_bytes"], 632064u);
  EXPECT_EQ(ij["kv"]["total_bytes"], 4096u);
  EXPECT_EQ(ij["workspace"]["total_bytes"], 45248u);
  EXPECT_EQ(gj["plan"]["weights_bytes"], 632064u);
  EXPECT_EQ(gj["plan"]["kv_bytes"], 4096u);
  EXPECT_EQ(gj["plan"]["workspace_bytes"], 45248u);
  EXPECT_EQ(gj["after_load"]["allocator_weights_bytes"], 632064u);
  EXPECT_EQ(gj["after_load"]["allocator_kv_workspace_bytes"], 49344u);  // 4096 + 45248
  EXPECT_EQ(gj["after_load"]["allocator_active_bytes"], 681408u);
  EXPECT_EQ(gj["after_load"]["unplanned_bytes"], 0u);
  EXPECT_EQ(gj["after_run"]["allocator_peak_bytes"], 681408u);
  EXPECT_EQ(ij["total_bytes"], gj["plan"]["total_bytes"]);
  EXPECT_TRUE(contains(g.err, "weights exact: allocator 632,064 vs plan 632,064")) << g.err;
  EXPECT_TRUE(contains(g.err, "KV + workspace exact: allocator 49,344 vs plan 49,344")) << g.err;
  EXPECT_TRUE(contains(g.err, "[validate] after the run: plan total")) << g.err;
  EXPECT_TRUE(contains(g.err, "RSS high-water (VmHWM)")) << g.err;
}

TEST_F(GeneratePreflight, EstimateMemoryPrintsTheInspectTableFirst) {
  CliResult r = generate({"--estimate-memory"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Weights (exact)")) << r.out;
  EXPECT_TRUE(contains(r.out, "632,064 B")) << r.out;
  EXPECT_TRUE(contains(r.out, "Total")) << r.out;
  EXPECT_TRUE(contains(r.out, "1,681,408 B")) << r.out;
  EXPECT_TRUE(contains(r.out, "Max context")) << r.out;
}

TEST_F(GeneratePreflight, JsonStatsOnStdoutIsTheOnlyThingThere) {
  CliResult r = generate({"--json-stats", "-"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);  // throws if anything else is on stdout
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["command"], "generate");
  EXPECT_EQ(j["run"]["context"], 16u);
  EXPECT_EQ(j["run"]["context_origin"], "prompt 6 + --max-tokens 10");
  EXPECT_TRUE(j["generation"]["text"].is_string());
  EXPECT_GT(j["after_run"]["rss_peak_bytes"].get<uint64_t>(), 0u);
}

TEST_F(GeneratePreflight, CtxSizeIsAdvisedAsCtxSize) {
  // --ctx-size 100: total 1634176 + 295200 = 1929376; budget 1900000 -> (1900000 - 1634176) / 2952
  // = 90.05 -> 90 tokens.
  CliResult r = generate({"--ctx-size", "100", "--memory-budget", "1900000"});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_TRUE(contains(r.err, "(1929376 B)")) << r.err;
  EXPECT_TRUE(contains(r.err, "context 100 tokens (--ctx-size)")) << r.err;
  EXPECT_TRUE(contains(r.err, "--ctx-size 90 ")) << r.err;
}

TEST_F(GeneratePreflight, RecommendQuantKeepsAFittingModel) {
  CliResult r = generate({"--recommend-quant", "--memory-budget", "1681408"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "[recommend-quant] weights as given with a f16 KV cache: total 1.60 MiB")) << r.err;
}

TEST_F(GeneratePreflight, RecommendQuantNamesASmallerWeightFormat) {
  // As given nothing fits 1681407 (head_dim 16 allows only f32/f16/bf16 KV); the bf16 weights are
  // half of 632064, so bf16 with an f16 cache fits and is the highest precision that does.
  CliResult r = generate({"--recommend-quant", "--memory-budget", "1681407"});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_TRUE(contains(r.err, "[recommend-quant] the weights as given do not fit 16 tokens")) << r.err;
  EXPECT_TRUE(contains(r.err, "bf16 weights with a f16 KV cache do")) << r.err;
  EXPECT_TRUE(contains(r.err, "[preflight] generate refused")) << r.err;
}

TEST_F(GeneratePreflight, BadSizesAreUsageErrors) {
  CliResult r = generate({"--memory-limit", "lots"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "--memory-limit")) << r.err;
  CliResult b = generate({"--memory-budget", "12XB"});
  EXPECT_EQ(b.code, 2) << b.err;
  EXPECT_TRUE(contains(b.err, "--memory-budget")) << b.err;
}

TEST_F(GeneratePreflight, MissingCalibrationProfileIsAnIoError) {
  CliResult r = run_mlxcel({"generate", model(), "--calibration", stats.file("nope.json")});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "cannot open calibration profile")) << r.err;
}

TEST_F(GeneratePreflight, LargestContextInspectAllowsRunsUnderThatLimitAndTenPercentMoreIsRefused) {
  // With the shipped (calibrated) profile: a limit a little above the plan at 600 tokens, the
  // largest context inspect says fits under it, then generate under that very limit.
  auto inspect = [](std::vector<std::string> extra) {
    std::vector<std::string> a = {"inspect", model(), "--threads", "2", "--json"};
    a.insert(a.end(), extra.begin(), extra.end());
    CliResult r = run_mlxcel(a);
    EXPECT_EQ(r.code, 0) << r.err;
    return json::parse(r.out);
  };
  const uint64_t limit = inspect({"--max-tokens", "600"})["total_bytes"].get<uint64_t>() + 1000;
  const json plan = inspect({"--memory-budget", std::to_string(limit)});
  const uint64_t c = plan["max_context"]["tokens"].get<uint64_t>();
  ASSERT_GE(c, 600u);
  ASSERT_LT(c, 700u);
  ASSERT_LE(plan["max_context"]["total_bytes_at_tokens"].get<uint64_t>(), limit);

  auto run = [&](uint64_t context, const std::string& stats_path) {
    return run_mlxcel({"generate", model(), "--prompt", "Hello", "--max-tokens", "4", "--threads", "2", "--ctx-size",
                       std::to_string(context), "--memory-limit", std::to_string(limit), "--no-echo", "--json-stats",
                       stats_path});
  };
  CliResult ok = run(c, stats.file("stats.json"));
  ASSERT_EQ(ok.code, 0) << ok.err;
  json j = stats_file();
  EXPECT_EQ(j["run"]["context"], c);
  EXPECT_EQ(j["memory_limit"]["bytes"], limit);
  EXPECT_EQ(j["memory_limit"]["source"], "--memory-limit");
  EXPECT_LE(j["after_run"]["allocator_peak_bytes"].get<uint64_t>(), limit);
#if !defined(__SANITIZE_ADDRESS__) && defined(NDEBUG)
  // Only a release build's process is what the shipped profile was calibrated on.
  EXPECT_LE(j["after_run"]["rss_peak_bytes"].get<uint64_t>(), limit);
#endif

  const uint64_t more = (c * 11 + 9) / 10;  // 10% more, rounded up
  CliResult refused = run(more, stats.file("refused.json"));
  EXPECT_EQ(refused.code, 3) << refused.err;
  EXPECT_TRUE(contains(refused.err, fmt::format("({} B) from --memory-limit", limit))) << refused.err;
  EXPECT_TRUE(contains(refused.err, fmt::format("--ctx-size {} ", c))) << refused.err;  // the same answer
}

// One adviser: inspect's recommendation and generate --recommend-quant are the same function, so
// for the same model, context, threads, profile and budget they name the same KV cache type and
// total; and the ggml types q5_1 / q5_0 / q4_1 that the advice can name run. The model has
// head_dim 64 so that every block type applies; each budget is exactly one type's planned total,
// so that type is the finest that fits.
TEST(OneAdviser, InspectAndRecommendQuantAgreeAndTheAdvisedTypeRuns) {
  TempDir dir;
  std::string config = kTinyLlamaConfig;
  config.replace(config.find("\"hidden_size\": 64"), 17, "\"hidden_size\": 256");
  write_text(dir.file("config.json"), config);
  write_text(dir.file("profile.json"), kTestProfile);
  ASSERT_EQ(run_mlxcel({"make-random-model", dir.file("config.json"), "--out", dir.file("m"), "--dtype", "f32"}).code, 0);
  const std::vector<std::string> same = {"--ctx-size", "16", "--threads", "2", "--calibration", dir.file("profile.json")};
  auto inspect = [&](const std::string& budget) {
    std::vector<std::string> a = {"inspect", dir.file("m"), "--json", "--memory-budget", budget};
    a.insert(a.end(), same.begin(), same.end());
    CliResult r = run_mlxcel(a);
    EXPECT_EQ(r.code, 0) << r.err;
    return json::parse(r.out);
  };
  const json all = inspect("1GiB");
  ASSERT_EQ(all["model"]["hidden_size"], 256) << all.dump();  // 4 heads of 64
  std::map<std::string, uint64_t> totals;
  for (const auto& o : all["advice"]["kv_cache_types"]) totals[o["name"]] = o["total_bytes"];
  for (const std::string type : {"q5_1", "q5_0", "q4_1"}) {
    const std::string budget = std::to_string(totals.at(type));
    const json rec = inspect(budget)["advice"]["recommended"];
    EXPECT_EQ(rec["weight_format"], "as-is") << type;
    EXPECT_EQ(rec["cache_type"], type);
    EXPECT_EQ(rec["total_bytes"], totals.at(type));
    std::vector<std::string> g = {"generate", dir.file("m"), "--prompt", "Hello", "--max-tokens", "10",
                                  "--no-echo", "--recommend-quant", "--memory-budget", budget};
    g.insert(g.end(), same.begin(), same.end());
    CliResult r = run_mlxcel(g);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.err, fmt::format("[recommend-quant] weights as given with a {} KV cache", type))) << r.err;
    EXPECT_TRUE(contains(r.err, fmt::format("using --cache-type-k {} --cache-type-v {}", type, type))) << r.err;
  }
}
