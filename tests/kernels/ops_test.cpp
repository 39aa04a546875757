// Element-wise ops, RMSNorm, softmax, RoPE and inv_freq tables against double references and
// hand-worked values.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "kernel_test_util.h"
#include "mlxcel/errors.h"

namespace mlxcel::kernels::test {
namespace {

// Lengths around the SIMD widths (8, 16) and the parallel threshold (32768).
const uint64_t kLens[] = {1, 7, 16, 33, 100, 40000};

TEST(Ops, SiluMulMatchesReference) {
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    std::mt19937 rng(1);
    for (uint64_t n : kLens) {
      auto g = random_floats(rng, n, -12, 12), u = random_floats(rng, n);
      std::vector<float> o(n);
      silu_mul(g.data(), u.data(), o.data(), n);
      for (uint64_t i = 0; i < n; ++i) {
        const double want = g[i] / (1.0 + std::exp(-double{g[i]})) * u[i];
        ASSERT_NEAR(o[i], want, 2e-6 * (std::fabs(want) + 1e-3)) << isa_name(isa) << " n=" << n << " i=" << i;
      }
    }
  }
}

TEST(Ops, SiluMulHandCheckedValues) {
  // silu(0) = 0; silu(1) = 1/(1+e^-1) = 0.7310585786; silu(-1) = -0.2689414214; times up = 2.
  const float g[3] = {0, 1, -1}, u[3] = {2, 2, 2};
  float o[3];
  silu_mul(g, u, o, 3);
  EXPECT_FLOAT_EQ(o[0], 0.0f);
  EXPECT_NEAR(o[1], 1.4621171573, 1e-6);
  EXPECT_NEAR(o[2], -0.5378828427, 1e-6);
}

TEST(Ops, GeluTanhMulMatchesReference) {
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    std::mt19937 rng(2);
    for (uint64_t n : kLens) {
      auto g = random_floats(rng, n, -6, 6), u = random_floats(rng, n);
      std::vector<float> o(n);
      gelu_tanh_mul(g.data(), u.data(), o.data(), n);
      for (uint64_t i = 0; i < n; ++i) {
        const double x = g[i];
        const double want = 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) * u[i];
        ASSERT_NEAR(o[i], want, 3e-6 * (std::fabs(x * u[i]) + 1e-3)) << isa_name(isa) << " i=" << i;
      }
    }
  }
}

TEST(Ops, SoftmaxMatchesReference) {
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    std::mt19937 rng(3);
    for (uint64_t n : kLens) {
      const uint64_t rows = 3;
      auto x = random_floats(rng, rows * n, -30, 30);
      auto y = x;
      softmax(y.data(), rows, n);
      for (uint64_t r = 0; r < rows; ++r) {
        double mx = -1e300, sum = 0;
        for (uint64_t i = 0; i < n; ++i) mx = std::max(mx, double{x[r * n + i]});
        for (uint64_t i = 0; i < n; ++i) sum += std::exp(x[r * n + i] - mx);
        for (uint64_t i = 0; i < n; ++i) {
          const double want = std::exp(x[r * n + i] - mx) / sum;
          // f32 sums over n terms: relative error grows with n
          ASSERT_NEAR(y[r * n + i], want, (2e-6 + 1e-9 * n) * want + 1e-9) << isa_name(isa) << " n=" << n;
        }
      }
    }
  }
}

TEST(Ops, SoftmaxHandCheckedValues) {
  // softmax(0, ln 3) = (1/4, 3/4)
  float x[2] = {0.0f, std::log(3.0f)};
  softmax(x, 1, 2);
  EXPECT_NEAR(x[0], 0.25, 1e-7);
  EXPECT_NEAR(x[1], 0.75, 1e-7);
}

TEST(Ops, RmsNormAllWeightDtypes) {
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    std::mt19937 rng(4);
    for (uint64_t dim : {uint64_t{7}, uint64_t{64}, uint64_t{2049}}) {
      const uint64_t rows = 20;
      auto x = random_floats(rng, rows * dim, -3, 3);
      auto wf = random_floats(rng, dim, 0.5, 1.5);
      std::vector<uint16_t> wb(dim);
      for (uint64_t i = 0; i < dim; ++i) wb[i] = ref_to_bf16_trunc(wf[i]);
      for (bool add_one : {false, true}) {
        for (bool bf16 : {false, true}) {
          std::vector<float> y(rows * dim);
          rms_norm(x.data(), y.data(), rows, dim, bf16 ? static_cast<const void*>(wb.data()) : wf.data(),
                   bf16 ? DType::BF16 : DType::F32, 1e-5f, add_one);
          for (uint64_t r = 0; r < rows; ++r) {
            double ss = 0;
            for (uint64_t i = 0; i < dim; ++i) ss += double{x[r * dim + i]} * x[r * dim + i];
            const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
            for (uint64_t i = 0; i < dim; ++i) {
              const double wv = (bf16 ? ref_bf16(wb[i]) : wf[i]) + (add_one ? 1.0 : 0.0);
              const double want = x[r * dim + i] * inv * wv;
              ASSERT_NEAR(y[r * dim + i], want, 2e-6 * (std::fabs(want) + 1e-3)) << isa_name(isa);
            }
          }
        }
      }
    }
  }
}

TEST(Ops, RmsNormHandChecked) {
  // x = (3, 4): mean square = 12.5, 1/sqrt(12.5) = 0.28284271; w = (1, 2) -> (0.8485281, 2.2627417)
  const float x[2] = {3, 4}, w[2] = {1, 2};
  float y[2];
  rms_norm(x, y, 1, 2, w, DType::F32, 0.0f);
  EXPECT_NEAR(y[0], 0.8485281374, 1e-6);
  EXPECT_NEAR(y[1], 2.2627416998, 1e-6);
  // Gemma style (1 + w): (2, 3) -> (1.6970563, 3.3941125)
  rms_norm(x, y, 1, 2, w, DType::F32, 0.0f, true);
  EXPECT_NEAR(y[0], 1.6970562748, 1e-6);
  EXPECT_NEAR(y[1], 3.3941125497, 1e-6);
}

TEST(Ops, AddAndRowVector) {
  std::mt19937 rng(5);
  for (uint64_t n : kLens) {
    auto a = random_floats(rng, n), b = random_floats(rng, n);
    std::vector<float> o(n);
    add(a.data(), b.data(), o.data(), n);
    for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(o[i], a[i] + b[i]);
  }
  // 2 rows of 3 plus bf16 bias (1, -2, 0.5): 1.0 = 0x3f80, -2.0 = 0xc000, 0.5 = 0x3f00
  float x[6] = {0, 1, 2, 3, 4, 5};
  const uint16_t v[3] = {0x3f80, 0xc000, 0x3f00};
  add_row_vector(x, 2, 3, v, DType::BF16);
  const float want[6] = {1, -1, 2.5, 4, 2, 5.5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(x[i], want[i]);
}

// ---- RoPE ----

TEST(Rope, InvFreqDefault) {
  // theta 10000, dim 8: 10000^(-i/4) for i = 0..3 = 1, 0.1, 0.01, 0.001
  float f[4];
  EXPECT_EQ(rope_inv_freq(10000.0, 8, RopeScaling{}, f), 1.0f);
  EXPECT_NEAR(f[0], 1.0, 1e-9);
  EXPECT_NEAR(f[1], 0.1, 1e-8);
  EXPECT_NEAR(f[2], 0.01, 1e-9);
  EXPECT_NEAR(f[3], 0.001, 1e-10);
}

TEST(Rope, InvFreqLinearDividesByFactor) {
  RopeScaling s;
  s.type = RopeScalingType::Linear;
  s.factor = 4;
  float f[4];
  rope_inv_freq(10000.0, 8, s, f);
  EXPECT_NEAR(f[0], 0.25, 1e-9);
  EXPECT_NEAR(f[1], 0.025, 1e-9);
}

TEST(Rope, InvFreqLlama3MatchesNumpyReference) {
  // Llama 3.1/3.2: theta 500000, head_dim 64, factor 32, low 1, high 4, original 8192.
  // Expected values from an independent numpy implementation of HF's _compute_llama3_parameters.
  RopeScaling s;
  s.type = RopeScalingType::Llama3;
  s.factor = 32;
  s.low_freq_factor = 1;
  s.high_freq_factor = 4;
  s.original_max_position_embeddings = 8192;
  float f[32];
  EXPECT_EQ(rope_inv_freq(500000.0, 64, s, f), 1.0f);
  const std::pair<int, double> want[] = {{0, 1.0},
                                         {5, 0.12868738174438477},
                                         {10, 0.016560440883040428},
                                         {12, 0.00729266507551074},
                                         {15, 0.0012905480107292533},
                                         {20, 8.570255886297673e-06},
                                         {31, 9.41830720080361e-08}};
  for (auto [i, v] : want) EXPECT_NEAR(f[i], v, 2e-6 * v) << i;
}

TEST(Rope, InvFreqYarnMatchesNumpyReference) {
  // theta 10000, dim 64, factor 4, original 4096: correction range [10, 23]; attention factor
  // 0.1*ln(4) + 1 = 1.1386294361.
  RopeScaling s;
  s.type = RopeScalingType::Yarn;
  s.factor = 4;
  s.original_max_position_embeddings = 4096;
  float f[32];
  EXPECT_NEAR(rope_inv_freq(10000.0, 64, s, f), 1.1386294361, 1e-6);
  const std::pair<int, double> want[] = {{0, 1.0},
                                         {5, 0.23713737726211548},
                                         {8, 0.10000000149011612},
                                         {12, 0.027973994612693787},
                                         {20, 0.0013378866715356708},
                                         {31, 3.333803761051968e-05}};
  for (auto [i, v] : want) EXPECT_NEAR(f[i], v, 2e-6 * v) << i;
}

TEST(Rope, RotatesBothStylesWithPartialRotary) {
  std::mt19937 rng(6);
  const uint32_t heads = 3, hd = 10, rot = 6;
  const uint64_t tokens = 12, pos0 = 5;
  float inv[3] = {1.0f, 0.3f, 0.01f};
  for (RopeStyle style : {RopeStyle::Neox, RopeStyle::Interleaved}) {
    auto x = random_floats(rng, tokens * heads * hd);
    auto y = x;
    rope(y.data(), tokens, heads, hd, rot, inv, style, pos0, nullptr, 1.5f);
    for (uint64_t t = 0; t < tokens; ++t) {
      for (uint32_t h = 0; h < heads; ++h) {
        const float* a = &x[(t * heads + h) * hd];
        const float* b = &y[(t * heads + h) * hd];
        for (uint32_t i = 0; i < rot / 2; ++i) {
          const double ang = double(pos0 + t) * inv[i];
          const uint32_t i0 = style == RopeStyle::Neox ? i : 2 * i;
          const uint32_t i1 = style == RopeStyle::Neox ? i + rot / 2 : 2 * i + 1;
          const double c = std::cos(ang) * 1.5, s = std::sin(ang) * 1.5;
          EXPECT_NEAR(b[i0], a[i0] * c - a[i1] * s, 1e-5);
          EXPECT_NEAR(b[i1], a[i1] * c + a[i0] * s, 1e-5);
        }
        for (uint32_t i = rot; i < hd; ++i) EXPECT_EQ(b[i], a[i]) << "past rotary_dim";
      }
    }
  }
}

TEST(Rope, ExplicitPositionsAndHandValue) {
  // One head, dim 2, inv_freq 1, position pi/2: (1, 0) -> (cos, sin) = (0, 1)
  float x[2] = {1, 0};
  const float inv = 1.0f;
  const uint64_t pos = 0;
  rope(x, 1, 1, 2, 2, &inv, RopeStyle::Neox, 99, &pos);  // positions[] wins over pos0
  EXPECT_FLOAT_EQ(x[0], 1.0f);
  EXPECT_FLOAT_EQ(x[1], 0.0f);
  float y[2] = {1, 0};
  const float inv2 = 1.5707963267948966f / 3.0f;
  rope(y, 1, 1, 2, 2, &inv2, RopeStyle::Neox, 3);
  EXPECT_NEAR(y[0], 0.0, 1e-6);
  EXPECT_NEAR(y[1], 1.0, 1e-6);
}

TEST(RopeErrors, OddRotaryDim) {
  float f[4];
  try {
    rope_inv_freq(10000.0, 7, RopeScaling{}, f);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("rotary_dim"), std::string::npos);
  }
}

TEST(RopeErrors, Llama3WithoutOriginalContext) {
  RopeScaling s;
  s.type = RopeScalingType::Llama3;
  s.factor = 8;
  float f[4];
  try {
    rope_inv_freq(10000.0, 8, s, f);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("original_max_position_embeddings"), std::string::npos);
  }
}

TEST(RopeErrors, NonPositiveFactor) {
  RopeScaling s;
  s.type = RopeScalingType::Linear;
  s.factor = 0;
  float f[4];
  try {
    rope_inv_freq(10000.0, 8, s, f);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("factor"), std::string::npos);
  }
}

TEST(RopeErrors, RotaryDimPastHeadDim) {
  float x[4] = {}, inv[4] = {};
  try {
    rope(x, 1, 1, 4, 6, inv, RopeStyle::Neox, 0);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("rotary_dim"), std::string::npos);
  }
}

TEST(OpsErrors, RmsNormWeightDtype) {
  float x[2] = {}, y[2] = {};
  int8_t w[2] = {};
  try {
    rms_norm(x, y, 1, 2, w, DType::I8, 1e-5f);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("rms_norm"), std::string::npos);
  }
}

// ---- thread pool ----

TEST(ThreadPool, ParallelForCoversRangeInAlignedBlocks) {
  for (uint32_t threads : {1u, 2u, 3u}) {
    IsaScope scope(best_isa(), threads);
    for (uint64_t n : {uint64_t{1}, uint64_t{5}, uint64_t{100}, uint64_t{1000}, uint64_t{100000}}) {
      std::vector<int> hits(n, 0);
      std::vector<std::vector<uint64_t>> begins(threads);
      parallel_for(n, 16, [&](uint64_t b, uint64_t e, uint32_t t) {
        ASSERT_LT(t, threads);
        begins[t].push_back(b);
        for (uint64_t i = b; i < e; ++i) hits[i]++;
      });
      for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << "n=" << n << " i=" << i;
      for (const auto& v : begins) {
        for (uint64_t b : v) EXPECT_EQ(b % 16, 0u);
      }
    }
  }
}

TEST(ThreadPool, ThreadCapKeepsWorkOnTheCallingThread) {
  // The row kernels' cap (MLXCEL_MATVEC_THREADS) runs a job on fewer threads than the pool has.
  IsaScope scope(best_isa(), 2);
  std::vector<int> hits(1000, 0);
  detail::parallel_for_stealing(
      1000, 16, 1,
      [&](uint64_t b, uint64_t e, uint32_t t) {
        EXPECT_EQ(t, 0u);
        for (uint64_t i = b; i < e; ++i) hits[i]++;
      },
      1);
  for (int h : hits) ASSERT_EQ(h, 1);
}

TEST(ThreadPool, MatvecThreadCapFromTheEnvironment) {
  EXPECT_EQ(detail::matvec_thread_cap(nullptr), 0u);  // unset: no cap
  EXPECT_EQ(detail::matvec_thread_cap(""), 0u);
  EXPECT_EQ(detail::matvec_thread_cap("1"), 1u);
  EXPECT_EQ(detail::matvec_thread_cap("4096"), 4096u);
  // malformed: warned about and ignored, never a cap of 0 threads or a partial number
  for (const char* bad : {"0", "-1", "two", "2x", " 2", "4097", "99999999999"}) {
    EXPECT_EQ(detail::matvec_thread_cap(bad), 0u) << bad;
  }
}

TEST(ThreadPool, TwoCallingThreadsAtOnceEachGetTheirWholeRange) {
  // The pool runs one job at a time; the other caller's jobs run on its own thread.
  IsaScope scope(best_isa(), 2);
  auto caller = [](int* bad) {
    for (int job = 0; job < 300; ++job) {
      std::vector<int> hits(777, 0);
      parallel_for(777, 8, [&](uint64_t b, uint64_t e, uint32_t) {
        for (uint64_t i = b; i < e; ++i) hits[i]++;
      });
      for (int h : hits) *bad += h != 1;
    }
  };
  int bad_a = 0, bad_b = 0;
  std::thread a(caller, &bad_a), b(caller, &bad_b);
  a.join();
  b.join();
  EXPECT_EQ(bad_a, 0);
  EXPECT_EQ(bad_b, 0);
}

TEST(ThreadPool, ManySmallJobsBackToBack) {
  // Exercises the claim protocol across generations: every job's chunks run exactly once.
  IsaScope scope(best_isa(), 2);
  std::vector<int> hits(64);
  for (int job = 0; job < 2000; ++job) {
    std::fill(hits.begin(), hits.end(), 0);
    parallel_for(64, 1, [&](uint64_t b, uint64_t e, uint32_t) {
      for (uint64_t i = b; i < e; ++i) hits[i]++;
    });
    for (int h : hits) ASSERT_EQ(h, 1) << "job " << job;
  }
}

TEST(StealingSplit, CoversRangeOnceInAlignedPieces) {
  for (uint32_t threads : {1u, 2u, 3u}) {
    IsaScope scope(best_isa(), threads);
    for (uint64_t n : {uint64_t{1}, uint64_t{5}, uint64_t{100}, uint64_t{1000}, uint64_t{100000}}) {
      for (uint64_t min_units : {uint64_t{1}, uint64_t{4}, uint64_t{1000}}) {
        std::vector<int> hits(n, 0);
        std::mutex mu;
        detail::parallel_for_stealing(
            n, 16, min_units,
            [&](uint64_t b, uint64_t e, uint32_t t) {
              std::lock_guard<std::mutex> lock(mu);
              ASSERT_LT(t, threads);
              ASSERT_LT(b, e);
              EXPECT_EQ(b % 16, 0u);
              EXPECT_TRUE(e % 16 == 0 || e == n);
              for (uint64_t i = b; i < e; ++i) hits[i]++;
            },
            threads);
        for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << "n=" << n << " min " << min_units << " i=" << i;
      }
    }
  }
}

TEST(StealingSplit, IdleThreadStealsFromASlowRangeWhoseOwnerRunsOnInOrder) {
  // Two ranges of 64 units. The thread holding the first piece of range 0 waits (at most 20 s)
  // until another piece of range 0 has run: while it waits, only the other thread, idle once
  // range 1 is done, can take one, by stealing from the back of range 0. Range 0's owner then
  // goes on from where its own last piece ended.
  IsaScope scope(best_isa(), 2);
  constexpr uint64_t n = 128;
  std::mutex mu;
  std::condition_variable cv;
  bool stolen = false;
  std::vector<std::pair<uint64_t, uint64_t>> pieces[2];
  detail::parallel_for_stealing(
      n, 1, 1,
      [&](uint64_t b, uint64_t e, uint32_t t) {
        std::unique_lock<std::mutex> lock(mu);
        pieces[t].emplace_back(b, e);
        if (b == 0) {
          cv.wait_for(lock, std::chrono::seconds(20), [&] { return stolen; });
        } else if (b < n / 2 && !stolen) {
          stolen = true;
          cv.notify_all();
        }
      },
      2);
  EXPECT_TRUE(stolen) << "the idle thread took nothing from range 0";
  const uint32_t owner = !pieces[0].empty() && pieces[0].front().first == 0 ? 0 : 1;
  const auto& own = pieces[owner];
  ASSERT_EQ(own.front().first, 0u);
  for (size_t i = 1; i < own.size() && own[i].first < n / 2; ++i) {
    EXPECT_EQ(own[i].first, own[i - 1].second) << "owner's piece " << i;
  }
}

TEST(Isa, NamesRoundTripAndForcingAboveBestFails) {
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16}) {
    EXPECT_EQ(isa_from_name(isa_name(i)), i);
  }
  EXPECT_EQ(isa_from_name("AVX2"), Isa::Avx2);
  EXPECT_FALSE(isa_from_name("sse9").has_value());
  if (best_isa() < Isa::Avx512Bf16) {
    EXPECT_THROW(set_isa(Isa::Avx512Bf16), UsageError);
  }
}

}  // namespace
}  // namespace mlxcel::kernels::test
