#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "mlxcel/errors.h"
#include "runtime/sampler.h"

namespace mlxcel::runtime {
namespace {

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  Sampler s({});
  std::vector<float> l = {0.1f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(s.sample(l, {}), 1);
}

// argmax keeps four running maxima; it must still give the lowest id of the maximum wherever
// the ties fall, for every length (tails of 0..3 after the four-wide body) and skip NaN.
TEST(Sampler, ArgmaxMatchesTheFirstMaximumForEveryLengthAndTie) {
  std::mt19937 rng(3);
  for (size_t n = 1; n <= 40; ++n) {
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<float> l(n);
      // few distinct values, so ties across lanes and the tail are common
      for (float& v : l) v = static_cast<float>(rng() % 4);
      if (trial % 5 == 0) l[rng() % n] = std::nanf("");
      if (trial % 7 == 0) l[rng() % n] = -std::numeric_limits<float>::infinity();
      int32_t want = -1;
      for (size_t i = 0; i < n; ++i) {
        if (std::isnan(l[i])) continue;
        if (want < 0 || l[i] > l[static_cast<size_t>(want)]) want = static_cast<int32_t>(i);
      }
      if (want < 0 || l[static_cast<size_t>(want)] == -std::numeric_limits<float>::infinity()) want = 0;
      ASSERT_EQ(argmax(l), want) << "n=" << n << " trial=" << trial;
    }
  }
  const std::vector<float> nans(9, std::nanf(""));
  EXPECT_EQ(argmax(nans), 0);
}

TEST(Sampler, RepeatPenaltyDividesPositiveMultipliesNegative) {
  std::vector<float> l = {2.0f, -1.0f, 3.0f};
  std::vector<int32_t> hist = {0, 1, 0};
  apply_repeat_penalty(l, hist, 2.0f, 64);
  EXPECT_FLOAT_EQ(l[0], 1.0f);   // 2 / 2, once although seen twice
  EXPECT_FLOAT_EQ(l[1], -2.0f);  // -1 * 2
  EXPECT_FLOAT_EQ(l[2], 3.0f);
}

TEST(Sampler, RepeatPenaltyOnlyLooksAtLastN) {
  std::vector<float> l = {2.0f, 2.0f};
  std::vector<int32_t> hist = {0, 1};
  apply_repeat_penalty(l, hist, 2.0f, 1);
  EXPECT_FLOAT_EQ(l[0], 2.0f);
  EXPECT_FLOAT_EQ(l[1], 1.0f);
}

TEST(Sampler, RepeatPenaltyChangesGreedyChoice) {
  Sampler s({.repeat_penalty = 2.0f});
  std::vector<float> l = {3.0f, 2.0f};
  std::vector<int32_t> hist = {0};
  EXPECT_EQ(s.sample(l, hist), 1);  // 3 / 2 = 1.5 < 2
}

TEST(Sampler, SameSeedSameSequence) {
  SamplerConfig c{.temperature = 1.0f, .seed = 42};
  Sampler a(c), b(c);
  std::vector<int32_t> ra, rb;
  for (int i = 0; i < 50; ++i) {
    std::vector<float> l = {0.0f, 0.5f, 1.0f, 0.2f, -0.3f};
    std::vector<float> m = l;
    ra.push_back(a.sample(l, {}));
    rb.push_back(b.sample(m, {}));
  }
  EXPECT_EQ(ra, rb);
}

TEST(Sampler, TemperatureOneFollowsSoftmax) {
  // logits log(0.5), log(0.25), log(0.25): expected frequencies 0.5 / 0.25 / 0.25.
  Sampler s({.temperature = 1.0f, .seed = 7});
  int counts[3] = {0, 0, 0};
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = {std::log(0.5f), std::log(0.25f), std::log(0.25f)};
    counts[s.sample(l, {})]++;
  }
  EXPECT_NEAR(counts[0] / double(n), 0.5, 0.02);
  EXPECT_NEAR(counts[1] / double(n), 0.25, 0.02);
  EXPECT_NEAR(counts[2] / double(n), 0.25, 0.02);
}

TEST(Sampler, TopKOneIsGreedy) {
  Sampler s({.temperature = 5.0f, .top_k = 1, .seed = 3});
  for (int i = 0; i < 100; ++i) {
    std::vector<float> l = {0.0f, 0.1f, 0.05f};
    EXPECT_EQ(s.sample(l, {}), 1);
  }
}

TEST(Sampler, TopPKeepsSmallestPrefixReachingP) {
  // probabilities 0.5 / 0.25 / 0.25: cumulative 0.5 reaches top_p 0.5 after the first token.
  Sampler s({.temperature = 1.0f, .top_p = 0.5f, .seed = 11});
  for (int i = 0; i < 200; ++i) {
    std::vector<float> l = {std::log(0.5f), std::log(0.25f), std::log(0.25f)};
    EXPECT_EQ(s.sample(l, {}), 0);
  }
}

TEST(Sampler, MinPDropsTokensBelowFractionOfTop) {
  // 0.25 < 0.6 * 0.5 = 0.3: only token 0 survives.
  Sampler s({.temperature = 1.0f, .min_p = 0.6f, .seed = 5});
  for (int i = 0; i < 200; ++i) {
    std::vector<float> l = {std::log(0.5f), std::log(0.25f), std::log(0.25f)};
    EXPECT_EQ(s.sample(l, {}), 0);
  }
}

TEST(Sampler, LogitBiasPlus100ForcesATokenWhileSampling) {
  Sampler s({.temperature = 1.5f, .seed = 9, .logit_bias = {{2, 100.0f}}});
  for (int i = 0; i < 200; ++i) {
    std::vector<float> l = {3.0f, 2.0f, -1.0f, 0.5f};
    EXPECT_EQ(s.sample(l, {}), 2);
  }
}

TEST(Sampler, LogitBiasMinus100BansAToken) {
  Sampler s({.logit_bias = {{1, -100.0f}, {99, 5.0f}}});  // an id outside the logits is skipped
  std::vector<float> l = {0.0f, 3.0f, 1.0f};
  EXPECT_EQ(s.sample(l, {}), 2);
}

// Greedy on logits {1.0, 0.9, 0.8}: without penalties always token 0.
std::vector<int32_t> greedy_run(const SamplerConfig& c, int n) {
  Sampler s(c);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = {1.0f, 0.9f, 0.8f};
    out.push_back(s.sample(l, {}));
  }
  return out;
}

TEST(Sampler, FrequencyPenaltyGrowsWithCount) {
  EXPECT_EQ(greedy_run({}, 4), (std::vector<int32_t>{0, 0, 0, 0}));
  // 0.15 per occurrence: 1.0 -> 0.85 (token 1 at 0.9 wins), then 0.85 vs 0.75 vs 0.8 ...
  EXPECT_EQ(greedy_run({.frequency_penalty = 0.15f}, 6), (std::vector<int32_t>{0, 1, 0, 2, 1, 0}));
}

TEST(Sampler, PresencePenaltyCountsOnce) {
  // 0.5 once a token occurred: 0 (0.5), 1 (0.4), then 2 (0.8) and then 0.5 / 0.4 / 0.3: token 0
  // forever, as the penalty does not grow.
  EXPECT_EQ(greedy_run({.presence_penalty = 0.5f}, 6), (std::vector<int32_t>{0, 1, 2, 0, 0, 0}));
}

TEST(Sampler, NegativePresencePenaltyFavoursRepetition) {
  Sampler s({.presence_penalty = -2.0f});
  std::vector<float> first = {1.0f, 0.0f};
  EXPECT_EQ(s.sample(first, {}), 0);
  std::vector<float> then = {0.0f, 1.5f};  // 0 + 2 > 1.5
  EXPECT_EQ(s.sample(then, {}), 0);
}

TEST(Sampler, PenaltiesIgnoreThePromptHistory) {
  Sampler s({.presence_penalty = 2.0f, .frequency_penalty = 2.0f});
  std::vector<float> l = {1.0f, 0.0f};
  const std::vector<int32_t> prompt = {0, 0, 0};
  EXPECT_EQ(s.sample(l, prompt), 0);
}

TEST(Sampler, LogprobsAreOfTheBiasedDistributionBeforeTemperature) {
  // Temperature and top-k change what is drawn, not the reported log-probabilities.
  Sampler s({.temperature = 0.5f, .top_k = 1, .seed = 1, .logit_bias = {{2, std::log(2.0f)}},
             .top_logprobs = 2});
  std::vector<float> l = {std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.125f)};
  SampledLogprobs lp;
  EXPECT_EQ(s.sample(l, {}, &lp), 0);
  // biased: 0.5 / 0.25 / 0.25 / 0.125, normalized by 1.125
  EXPECT_NEAR(lp.logprob, std::log(0.5 / 1.125), 1e-5);
  ASSERT_EQ(lp.top.size(), 2u);
  EXPECT_EQ(lp.top[0].token, 0);
  EXPECT_EQ(lp.top[1].token, 1);  // tied with token 2: the lower id
  EXPECT_NEAR(lp.top[1].logprob, std::log(0.25 / 1.125), 1e-5);
}

TEST(Sampler, LogprobsOfTheSampledTokenOutsideTheTop) {
  std::vector<float> l = {0.0f, 5.0f, 1.0f};
  const SampledLogprobs lp = compute_logprobs(l, 0, 1);
  ASSERT_EQ(lp.top.size(), 1u);
  EXPECT_EQ(lp.top[0].token, 1);
  double sum = std::exp(0.0) + std::exp(5.0) + std::exp(1.0);
  EXPECT_NEAR(lp.logprob, -std::log(sum), 1e-5);
  EXPECT_EQ(compute_logprobs(l, 1, 0).top.size(), 0u);
  EXPECT_EQ(compute_logprobs(l, 1, 10).top.size(), 3u);
}

TEST(Sampler, RejectsNonFinitePenaltiesAndBiases) {
  EXPECT_THROW(Sampler({.presence_penalty = std::numeric_limits<float>::infinity()}), UsageError);
  EXPECT_THROW(Sampler({.logit_bias = {{0, std::nanf("")}}}), UsageError);
}

TEST(Sampler, RejectsTopPZero) {
  EXPECT_THROW(Sampler({.temperature = 1.0f, .top_p = 0.0f}), UsageError);
}

TEST(Sampler, RejectsNegativeRepeatPenalty) {
  EXPECT_THROW(Sampler({.repeat_penalty = -1.0f}), UsageError);
}

}  // namespace
}  // namespace mlxcel::runtime
