// The loader allocates exactly the memory plan and reads tensor data only through the plan's
// tensors; sequences, chunking and limits behave.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "arch/registry.h"
#include "mlxcel/errors.h"
#include "mlxcel/memory.h"
#include "model_helpers.h"
#include "runtime/model.h"
#include "support/test_paths.h"

namespace mlxcel::runtime {
namespace {

using namespace test_helpers;

RandomModelOptions tiny() { return tiny_model_options(99); }

class Loader : public ::testing::Test {
 protected:
  void SetUp() override {
    nlohmann::json c = testdata_config("mistralai__Mistral-7B-v0.1");
    c.erase("sliding_window_size");
    c["sliding_window"] = 6;
    model = make_model(dir.file("m"), c, tiny());
    spec = load_model_spec(model);
    run.context = 40;
    run.prefill_chunk = 8;
    run.sequences = 2;
    run.threads = 2;
    run.cache_type_k = KvCacheType::F32;
    run.cache_type_v = KvCacheType::F16;
  }
  LoadOptions options() {
    LoadOptions lo;
    lo.run = run;
    lo.progress = false;
    return lo;
  }
  test::TempDir dir;
  std::string model;
  ModelSpec spec;
  RunConfig run;
};

TEST_F(Loader, ActiveMemoryAfterLoadEqualsThePlan) {
  const uint64_t before = active_memory();
  std::unique_ptr<Model> m = Model::load(spec, options());
  const MemoryPlan& p = m->plan();
  EXPECT_EQ(active_memory() - before, p.weights.total + p.kv.total + p.workspace.total)
      << "the forward pass allocated " << m->unplanned_bytes() << " bytes the plan does not list";
  EXPECT_EQ(m->unplanned_bytes(), 0u);
  // Sliding window 6 < context 40: each layer keeps 6 tokens x 2 kv heads x (16 f32 + 16 f16)
  // = 6 * 2 * (64 + 32) = 1152 bytes per sequence, 2304 for two.
  ASSERT_EQ(p.kv.layers.size(), 2u);
  EXPECT_EQ(p.kv.layers[0].bytes, 2304u);
  m.reset();
  EXPECT_EQ(active_memory(), before);
}

TEST_F(Loader, ReadsTensorDataOnlyThroughThePlansTensors) {
  std::map<std::string, int> reads;
  uint64_t bytes = 0;
  LoadOptions lo = options();
  lo.on_tensor_read = [&](const TensorSpec& t) {
    reads[t.name]++;
    bytes += t.bytes;
  };
  std::unique_ptr<Model> m = Model::load(spec, lo);
  EXPECT_EQ(reads.size(), spec.tensors.size());
  for (const TensorSpec& t : spec.tensors) EXPECT_EQ(reads[t.name], 1) << t.name;
  EXPECT_EQ(bytes, m->plan().weights.total);
  EXPECT_EQ(m->bytes_loaded(), m->plan().weights.total);
}

TEST(LoaderLargeTensors, SlicedParallelReadGivesTheSameModel) {
  // An embedding of 17.9 MB (70000 x 64 f32) is read in 8 MiB slices by the pool's threads;
  // with one thread it is one pread. Both must give the same logits, bit for bit.
  test::TempDir dir;
  RandomModelOptions o = tiny_model_options(7);
  o.vocab = 70000;
  o.hidden = 64;
  const std::string model = make_model(dir.file("big"), testdata_config("meta-llama__Llama-3.2-1B-Instruct"), o);
  ModelSpec spec = load_model_spec(model);
  bool big = false;
  for (const TensorSpec& t : spec.tensors) big = big || t.bytes >= (16u << 20);
  ASSERT_TRUE(big) << "no tensor large enough for the sliced read";
  RunConfig run;
  run.context = 16;
  run.prefill_chunk = 8;
  const std::vector<int32_t> tokens = {1, 500, 69999, 42, 7};
  // The sliced read first, each load on fresh buffers (the allocator's cache would otherwise
  // hand the second load the first one's bytes).
  clear_cache();
  run.threads = 2;
  const std::vector<float> two = runtime_logits(model, tokens, 3, run);
  clear_cache();
  run.threads = 1;
  const std::vector<float> one = runtime_logits(model, tokens, 3, run);
  ASSERT_EQ(one.size(), two.size());
  EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float)));
}

TEST_F(Loader, MemoryLimitBelowThePlanThrowsAndFreesEverything) {
  const uint64_t before = active_memory();
  const uint64_t old = set_memory_limit(before + 1000);
  EXPECT_THROW(Model::load(spec, options()), MemoryLimitExceeded);
  set_memory_limit(old);
  EXPECT_EQ(active_memory(), before);
  EXPECT_NO_THROW(Model::load(spec, options()));
}

TEST_F(Loader, ChunkSizeDoesNotChangeLogits) {
  // f32 caches: a chunk attends its own keys in f32 while earlier chunks come from the cache, so
  // a rounding cache type would make the chunk size visible.
  run.cache_type_v = KvCacheType::F32;
  const std::vector<int32_t> tokens = test_tokens(23, 300, 3);
  std::unique_ptr<Model> a = Model::load(spec, options());
  std::vector<float> la;
  {
    std::span<float> l = a->prefill(0, tokens);
    la.assign(l.begin(), l.end());
  }
  RunConfig r1 = run;
  r1.prefill_chunk = 1;  // every token on its own (R = max(1, sequences) = 2)
  LoadOptions lo = options();
  lo.run = r1;
  std::unique_ptr<Model> b = Model::load(spec, lo);
  std::span<float> lb = b->prefill(0, tokens);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(la[i], lb[i], 1e-4) << i;
}

TEST_F(Loader, BatchedDecodeEqualsSeparateSequences) {
  const std::vector<int32_t> p0 = test_tokens(9, 300, 1), p1 = test_tokens(4, 300, 2);
  std::unique_ptr<Model> m = Model::load(spec, options());
  m->prefill(0, p0);
  m->prefill(1, p1);
  const DecodeRow rows[2] = {{1, 17}, {0, 42}};
  std::span<float> both = m->decode(rows);
  std::vector<float> batched(both.begin(), both.end());

  std::unique_ptr<Model> s = Model::load(spec, options());
  s->prefill(0, p1);
  const DecodeRow r1{0, 17};
  std::vector<float> one = [&] { auto l = s->decode(std::span<const DecodeRow>(&r1, 1)); return std::vector<float>(l.begin(), l.end()); }();
  s->reset(0);
  s->prefill(0, p0);
  const DecodeRow r0{0, 42};
  std::vector<float> zero = [&] { auto l = s->decode(std::span<const DecodeRow>(&r0, 1)); return std::vector<float>(l.begin(), l.end()); }();
  for (size_t i = 0; i < 300; ++i) {
    EXPECT_NEAR(batched[i], one[i], 1e-4);
    EXPECT_NEAR(batched[300 + i], zero[i], 1e-4);
  }
  EXPECT_EQ(m->length(0), 10u);
  EXPECT_EQ(m->length(1), 5u);
}

TEST_F(Loader, PrefillPastTheContextIsAUsageError) {
  std::unique_ptr<Model> m = Model::load(spec, options());
  try {
    m->prefill(0, test_tokens(41, 300, 5));
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("context is full"), std::string::npos) << e.what();
  }
}

TEST_F(Loader, TokenOutsideVocabularyIsAUsageError) {
  std::unique_ptr<Model> m = Model::load(spec, options());
  const std::vector<int32_t> bad = {5, 300};
  EXPECT_THROW(m->prefill(0, bad), UsageError);
}

TEST(LoaderFamilies, GemmaIsNotRunnable) {
  test::TempDir dir;
  RandomModelOptions o = tiny();
  const std::string m = make_model(dir.file("g"), testdata_config("google__gemma-3-1b-it"), o);
  LoadOptions lo;
  lo.progress = false;
  lo.run.context = 16;
  try {
    Model::load(load_model_spec(m), lo);
    FAIL();
  } catch (const UnsupportedArchitecture& e) {
    EXPECT_NE(std::string(e.what()).find("gemma"), std::string::npos) << e.what();
  }
}

TEST(LoaderFamilies, AnalyticSpecHasNoWeightsToLoad) {
  nlohmann::json c = testdata_config("HuggingFaceTB__SmolLM2-135M");
  ModelSpec spec = analytic_spec(c);
  LoadOptions lo;
  lo.progress = false;
  EXPECT_THROW(Model::load(spec, lo), UsageError);
}

}  // namespace
}  // namespace mlxcel::runtime
