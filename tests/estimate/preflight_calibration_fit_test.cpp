// The calibration fit: non-negative least squares and the margin that bounds every point, on
// synthetic measurements whose overhead coefficients are known.
#include <gtest/gtest.h>

#include <cmath>

#include "estimate/calibration_fit.h"
#include "estimate/specs.h"
#include "mlxcel/errors.h"

using namespace mlxcel;
using namespace mlxcel::test;

namespace {

// hidden 128, 2 heads / 2 KV heads of 64, ffn 256, vocab 512, 2 full layers, one weight tensor.
// With f16 KV at prefill chunk R <= context c, t threads (docs/memory-model.md):
//   KV 1024c; workspace R rows x 5120 B + scores 4tc + matmul_scratch 64 + logits 2048
//   = 5120R + 2112 + 4tc; planned = weights + 1024c + 5120R + 2112 + 4tc.
ModelSpec dense64(uint64_t weight_bytes) {
  ModelSpec s;
  s.architecture = "llama";
  s.dims.hidden_size = 128;
  s.dims.intermediate_size = 256;
  s.dims.num_layers = 2;
  s.dims.num_heads = 2;
  s.dims.num_kv_heads = 2;
  s.dims.head_dim = 64;
  s.dims.vocab_size = 512;
  s.layers = {full_layer(2, 64), full_layer(2, 64)};
  s.tensors.push_back(tensor("w", DType::U8, weight_bytes, Component::Other));
  return s;
}

struct Truth {
  double base = 3000000, per_thread = 250000, wf = 0.05, kf = 0.02, sf = 0.1;
};

uint64_t workspace(uint64_t c, uint32_t t, uint64_t r) { return 5120 * r + 2112 + 4 * t * c; }

uint64_t planned(uint64_t w, uint64_t c, uint32_t t, uint64_t r) { return w + 1024 * c + workspace(c, t, r); }

// Peak RSS = planned + the true overhead, times (1 + extra) for one noisy point.
uint64_t peak(const Truth& x, uint64_t w, uint64_t c, uint32_t t, uint64_t r, double extra = 0) {
  double over = x.base + x.per_thread * t + x.wf * static_cast<double>(w) + x.kf * 1024.0 * static_cast<double>(c) +
                x.sf * static_cast<double>(workspace(c, t, r));
  return static_cast<uint64_t>(std::llround((static_cast<double>(planned(w, c, t, r)) + over) * (1 + extra)));
}

struct Fixture {
  std::vector<ModelSpec> specs{dense64(1000000), dense64(20000000), dense64(300000000)};
  std::vector<CalibrationSample> samples(const Truth& x, double noisy_extra = 0) {
    std::vector<CalibrationSample> out;
    const uint64_t contexts[] = {64, 1000, 20000};
    size_t n = 0;
    for (size_t m = 0; m < specs.size(); ++m) {
      for (uint64_t c : contexts) {
        for (uint32_t t : {1u, 2u}) {
          for (uint64_t r : {32u, 64u}) {
            CalibrationSample s;
            s.spec = &specs[m];
            s.run = run_with(c, 1, r, t);
            const uint64_t w = specs[m].tensors[0].bytes;
            s.peak_rss = peak(x, w, c, t, r, n == 7 ? noisy_extra : 0);
            s.label = std::to_string(n++);
            out.push_back(s);
          }
        }
      }
    }
    return out;
  }
};

}  // namespace

TEST(Nnls, RecoversAnExactSolution) {
  // y = 1 + 2x at x = 1, 2, 3
  std::vector<double> x = nnls_small({{1, 1}, {1, 2}, {1, 3}}, {3, 5, 7});
  ASSERT_EQ(x.size(), 2u);
  EXPECT_NEAR(x[0], 1.0, 1e-9);
  EXPECT_NEAR(x[1], 2.0, 1e-9);
}

TEST(Nnls, ClampsANegativeCoefficientToZero) {
  // Unconstrained: x = (2, -1). With x >= 0 the second is 0 and the first stays 2.
  std::vector<double> x = nnls_small({{1, 0}, {0, 1}}, {2, -1});
  EXPECT_NEAR(x[0], 2.0, 1e-12);
  EXPECT_EQ(x[1], 0.0);
}

TEST(Nnls, CollinearColumnsStillGiveABestFit) {
  // Columns 1 and 2 are equal: any split of 4 between them fits; the fit must be exact.
  std::vector<double> x = nnls_small({{1, 1}, {2, 2}, {3, 3}}, {4, 8, 12});
  EXPECT_NEAR(x[0] + x[1], 4.0, 1e-9);
  EXPECT_GE(x[0], 0.0);
  EXPECT_GE(x[1], 0.0);
}

TEST(Nnls, RejectsMalformedProblems) {
  EXPECT_THROW(nnls_small({}, {}), UsageError);
  EXPECT_THROW(nnls_small({{1, 2}, {1}}, {1, 2}), UsageError);
}

TEST(CalibrationFit, RecoversKnownCoefficients) {
  Fixture f;
  Truth x;
  FitReport r = fit_calibration(f.samples(x));
  EXPECT_EQ(r.points, 36u);
  // Peaks are rounded to whole bytes, so the coefficients come back to within that rounding.
  EXPECT_NEAR(static_cast<double>(r.profile.base_bytes), x.base, 2.0);
  EXPECT_NEAR(static_cast<double>(r.profile.per_thread_bytes), x.per_thread, 2.0);
  EXPECT_NEAR(r.profile.weights_fraction, x.wf, 2e-6);
  EXPECT_NEAR(r.profile.kv_fraction, x.kf, 2e-6);
  EXPECT_NEAR(r.profile.workspace_fraction, x.sf, 2e-6);
  EXPECT_LE(r.profile.margin, 2e-5);
  EXPECT_LT(r.rms_fit_error, 1e-6);
  EXPECT_TRUE(r.profile.calibrated);
}

TEST(CalibrationFit, AGivenTokenizerTermIsLeftOutOfTheFittedBase) {
  // Every model carries a 100000-byte tokenizer file; at 4 bytes of heap per file byte the peaks
  // hold 400000 more bytes, which the given coefficient accounts for, so base stays the truth's.
  Fixture f;
  for (auto& spec : f.specs) spec.tokenizer_file_bytes = 100000;
  Truth x;
  std::vector<CalibrationSample> s = f.samples(x);
  for (auto& sample : s) sample.peak_rss += 400000;
  CalibrationProfile terms;
  terms.tokenizer_heap_per_file_byte = 4.0;
  terms.tiktoken_heap_per_file_byte = 7.0;
  FitReport r = fit_calibration(s, terms);
  EXPECT_DOUBLE_EQ(r.profile.tokenizer_heap_per_file_byte, 4.0);
  EXPECT_EQ(r.profile.tiktoken_heap_per_file_byte, 7.0);  // carried into the written profile
  EXPECT_NEAR(static_cast<double>(r.profile.base_bytes), x.base, 2.0);
  EXPECT_NEAR(r.profile.weights_fraction, x.wf, 2e-6);
  EXPECT_GE(r.min_error, 0.0);  // the errors are those of the profile with the term
}

TEST(CalibrationFit, TheEstimateBoundsEveryPoint) {
  // Point 7 is 3% above its model: the least squares cannot follow it, the margin must.
  Fixture f;
  std::vector<CalibrationSample> s = f.samples(Truth{}, 0.03);
  FitReport r = fit_calibration(s);
  ASSERT_EQ(r.totals.size(), s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    EXPECT_GE(plan_memory(*s[i].spec, s[i].run, r.profile).total, s[i].peak_rss) << i;
    EXPECT_EQ(r.totals[i], plan_memory(*s[i].spec, s[i].run, r.profile).total);
  }
  EXPECT_GE(r.min_error, 0.0);
  EXPECT_GT(r.profile.margin, 0.0);
  // The margin is the smallest step that works: one step less leaves some point under.
  CalibrationProfile less = r.profile;
  less.margin -= 1e-5;
  bool some_under = false;
  for (const auto& x : s) some_under |= plan_memory(*x.spec, x.run, less).total < x.peak_rss;
  EXPECT_TRUE(some_under);
}

TEST(CalibrationFit, OverheadBelowZeroIsClampedNotNegative) {
  // Peaks below the planned bytes (untouched pages) pull every coefficient to 0 but none below.
  Fixture f;
  std::vector<CalibrationSample> s = f.samples(Truth{});
  for (auto& x : s) {
    const uint64_t w = x.spec->tensors[0].bytes;
    x.peak_rss = planned(w, x.run.context, x.run.threads, x.run.prefill_chunk) * 99 / 100;
  }
  FitReport r = fit_calibration(s);
  EXPECT_EQ(r.profile.base_bytes, 0u);
  EXPECT_EQ(r.profile.per_thread_bytes, 0u);
  EXPECT_EQ(r.profile.weights_fraction, 0.0);
  EXPECT_EQ(r.profile.kv_fraction, 0.0);
  EXPECT_EQ(r.profile.workspace_fraction, 0.0);
  EXPECT_EQ(r.profile.margin, 0.0);
  EXPECT_GT(r.min_error, 0.0);  // planned alone is above every peak
}

TEST(CalibrationFit, NeedsFivePoints) {
  Fixture f;
  std::vector<CalibrationSample> s = f.samples(Truth{});
  s.resize(4);
  try {
    fit_calibration(s);
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("at least 5 measured points"), std::string::npos) << e.what();
  }
}

TEST(CalibrationFit, SampleWithoutPeakIsRejected) {
  Fixture f;
  std::vector<CalibrationSample> s = f.samples(Truth{});
  s[2].peak_rss = 0;
  try {
    fit_calibration(s);
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("sample without a peak RSS"), std::string::npos) << e.what();
  }
}
