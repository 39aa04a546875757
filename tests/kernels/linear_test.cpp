// linear() for every weight format and ISA level against a double-precision reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernel_test_util.h"
#include "mlxcel/errors.h"

namespace mlxcel::kernels::test {
namespace {

struct Shape {
  uint64_t rows, cols, n;
};

// y = x·W^T in double over the dequantized weights.
std::vector<double> reference(const TestWeight& w, const std::vector<float>& x, uint64_t n) {
  std::vector<double> y(n * w.rows);
  for (uint64_t m = 0; m < n; ++m) {
    for (uint64_t r = 0; r < w.rows; ++r) {
      double acc = 0;
      for (uint64_t k = 0; k < w.cols; ++k) acc += w.deq[r * w.cols + k] * x[m * w.cols + k];
      y[m * w.rows + r] = acc;
    }
  }
  return y;
}

// Error allowed for output (m, r).
// Dense: f32 accumulation, |err| <= 1e-5 * Σ|w·x| + 1e-6 (bf16 GEMM paths round x to bf16
// (relative 2^-9), so bf16 uses 4e-3 * Σ|w·x|).
// Affine: x is quantized per group to int8 with d = max|x_g|/127, so |x - x̂| <= d/2 and
// |err| <= Σ_g d_g/2 · Σ_{j in g} |w_j|, plus the f32 accumulation term above.
double tolerance(const TestWeight& w, const std::vector<float>& x, uint64_t m, uint64_t r) {
  double abs_sum = 0, quant = 0;
  for (uint64_t k = 0; k < w.cols; ++k) {
    abs_sum += std::fabs(w.deq[r * w.cols + k] * x[m * w.cols + k]);
  }
  if (w.dtype == DType::U32) {
    for (uint64_t g = 0; g < w.cols / w.group; ++g) {
      double amax = 0, wsum = 0;
      for (uint64_t j = g * w.group; j < (g + 1) * w.group; ++j) {
        amax = std::max(amax, std::fabs(double{x[m * w.cols + j]}));
        wsum += std::fabs(w.deq[r * w.cols + j]);
      }
      quant += amax / 127.0 / 2.0 * wsum;
    }
  }
  const double rel = w.dtype == DType::BF16 ? 4e-3 : 1e-5;
  return quant * 1.0001 + rel * abs_sum + 1e-6;
}

void check_linear(const TestWeight& tw, uint64_t n,
                  std::mt19937& rng, const std::string& label, bool accumulate = false) {
  const Weight w = tw.view();
  const auto x = random_floats(rng, n * tw.cols);
  const auto ref = reference(tw, x, n);
  std::vector<float> y(n * tw.rows, accumulate ? 0.5f : -7.0f);
  Scratch s;
  LinearOptions opt;
  opt.accumulate = accumulate;
  linear(w, x.data(), n, y.data(), s.span(linear_scratch_bytes(w, n, num_threads())), opt);
  for (uint64_t m = 0; m < n; ++m) {
    for (uint64_t r = 0; r < tw.rows; ++r) {
      const double want = ref[m * tw.rows + r] + (accumulate ? 0.5 : 0.0);
      ASSERT_NEAR(y[m * tw.rows + r], want, tolerance(tw, x, m, r))
          << label << " m=" << m << " r=" << r << " rows=" << tw.rows << " cols=" << tw.cols
          << " n=" << n;
    }
  }
}

// Shapes with tails: rows not a multiple of any block, cols with and without a 64/128 tail,
// n = 1 (decode), small n (row kernels) and n past the GEMM threshold (with a partial tile).
// row counts on both sides of the GEMM thresholds (8 float, 16 8-bit, 32 4-bit)
const uint64_t kNs[] = {1, 3, 6, 8, 12, 15, 16, 21, 33};

TEST(Linear, DenseFormatsAllIsas) {
  for (Isa isa : available_isas()) {
    for (uint32_t threads : {1u, 2u}) {
      IsaScope scope(isa, threads);
      std::mt19937 rng(42);
      for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
        for (auto [rows, cols] : {std::pair<uint64_t, uint64_t>{37, 96}, {70, 129}, {5, 7}}) {
          const TestWeight tw = make_dense(rng, dt, rows, cols);
          for (uint64_t n : kNs) {
            check_linear(tw, n, rng,
                         isa_label(isa, threads) + " " + std::string(dtype_name(dt)));
          }
          // f16/bf16 reach the f32-widening GEMM from 64 rows on levels without the bf16 GEMM
          check_linear(tw, 66, rng, isa_label(isa, threads) + " " + std::string(dtype_name(dt)) + " n=66");
        }
      }
    }
  }
}

TEST(Linear, AffineFormatsAllIsas) {
  for (Isa isa : available_isas()) {
    for (uint32_t threads : {1u, 2u}) {
      IsaScope scope(isa, threads);
      std::mt19937 rng(7);
      for (uint32_t bits : {4u, 8u}) {
        for (uint32_t group : {32u, 64u, 128u}) {
          for (DType sdt : {DType::F16, DType::BF16, DType::F32}) {
            // cols: 2 groups, for g32/64 a length with a 32-element tail after 64-chunks,
            // 1152 (more than one 16-group factor block for every group size), and two whole
            // 16-group blocks (the 4-bit kernels' block path)
            for (uint64_t cols : {uint64_t{2} * group, group == 128 ? uint64_t{384} : uint64_t{224},
                                  uint64_t{1152}, uint64_t{32} * group}) {
              if (cols % group) continue;
              const TestWeight tw = make_affine(rng, bits, group, sdt, 45, cols);
              for (uint64_t n : kNs) {
                check_linear(tw, n, rng,
                             isa_label(isa, threads) + " q" + std::to_string(bits) + " g" +
                                 std::to_string(group));
              }
            }
          }
        }
      }
    }
  }
}

TEST(Linear, AccumulateAddsToY) {
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    std::mt19937 rng(3);
    const TestWeight d = make_dense(rng, DType::BF16, 33, 64);
    const TestWeight q = make_affine(rng, 4, 64, DType::F16, 33, 128);
    for (uint64_t n : {uint64_t{1}, uint64_t{12}}) {
      check_linear(d, n, rng, isa_label(isa, 2) + " bf16 acc", true);
      check_linear(q, n, rng, isa_label(isa, 2) + " q4 acc", true);
    }
  }
}

TEST(Linear, RowRangeAndStridesTouchOnlyTheirColumns) {
  std::mt19937 rng(11);
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    for (bool quant : {false, true}) {
      const TestWeight tw = quant ? make_affine(rng, 8, 32, DType::BF16, 40, 64)
                                  : make_dense(rng, DType::F16, 40, 64);
      const Weight w = tw.view();
      for (uint64_t n : {uint64_t{2}, uint64_t{16}}) {
        // x rows are 80 floats apart (64 used); y rows 50 apart; compute rows [9, 31).
        std::vector<float> xs(n * 80);
        std::vector<float> xp = random_floats(rng, n * 64);
        for (uint64_t m = 0; m < n; ++m) std::copy_n(&xp[m * 64], 64, &xs[m * 80]);
        const auto ref = reference(tw, xp, n);
        std::vector<float> y(n * 50, -3.0f);
        LinearOptions opt;
        opt.row_begin = 9;
        opt.row_end = 31;
        opt.x_stride = 80;
        opt.y_stride = 50;
        Scratch s;
        linear(w, xs.data(), n, y.data(), s.span(linear_scratch_bytes(w, n, num_threads())), opt);
        for (uint64_t m = 0; m < n; ++m) {
          for (uint64_t o = 0; o < 50; ++o) {
            if (o >= 9 && o < 31) {
              EXPECT_NEAR(y[m * 50 + o], ref[m * 40 + o], tolerance(tw, xp, m, o)) << isa_name(isa);
            } else {
              EXPECT_EQ(y[m * 50 + o], -3.0f) << "column " << o << " must be untouched";
            }
          }
        }
      }
    }
  }
}

TEST(Linear, LargerShapeMatchesAcrossThreadCounts) {
  // A shape where each thread gets several GEMM panels and several row blocks.
  std::mt19937 rng(5);
  const TestWeight tw = make_affine(rng, 4, 64, DType::F16, 200, 512);
  const TestWeight bf = make_dense(rng, DType::BF16, 200, 512);
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    check_linear(tw, 33, rng, isa_label(isa, 2) + " q4 large");
    check_linear(tw, 1, rng, isa_label(isa, 2) + " q4 large n1");
    check_linear(bf, 33, rng, isa_label(isa, 2) + " bf16 large");
  }
}

TEST(Linear, EmbeddingRowDequantizes) {
  std::mt19937 rng(9);
  std::vector<TestWeight> ws;
  ws.push_back(make_dense(rng, DType::F32, 4, 40));
  ws.push_back(make_dense(rng, DType::F16, 4, 40));
  ws.push_back(make_dense(rng, DType::BF16, 4, 40));
  ws.push_back(make_affine(rng, 4, 32, DType::F16, 4, 96));
  ws.push_back(make_affine(rng, 8, 64, DType::BF16, 4, 128));
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 1);
    for (const auto& tw : ws) {
      std::vector<float> out(tw.cols);
      embedding_row(tw.view(), 3, out.data());
      for (uint64_t j = 0; j < tw.cols; ++j) {
        // the f32 products scale*q + bias round once more than the double reference
        EXPECT_NEAR(out[j], tw.deq[3 * tw.cols + j], 1e-6) << isa_name(isa) << " j=" << j;
      }
    }
  }
}

TEST(Linear, WeightBytesCountsDataScalesAndBiases) {
  // 4-bit g64, 10x128: data 10*128*4/8 = 640 B; scales+biases 2 * 10*2 groups * 2 B = 80 B.
  const Weight q = affine_weight(10, 128, 4, 64, reinterpret_cast<void*>(8), DType::F16,
                                 reinterpret_cast<void*>(8), reinterpret_cast<void*>(8));
  EXPECT_EQ(weight_bytes(q), 720u);
  // bf16 10x128: 2560 B
  EXPECT_EQ(weight_bytes(dense_weight(DType::BF16, 10, 128, reinterpret_cast<void*>(8))), 2560u);
}

TEST(Linear, ScratchBytesFollowTheDocumentedFormula) {
  const void* p = reinterpret_cast<void*>(64);
  const Weight q4 = affine_weight(4096, 2048, 4, 64, p, DType::F16, p, p);
  // n = 1: 64 + a64(16*2048 = 32768) + 3*a64(16*32 groups*4 = 2048) = 64 + 32768 + 6144
  EXPECT_EQ(linear_scratch_bytes(q4, 1, 2), 38976u);
  // n = 512, 2 threads: 64 + 512*2048 (1048576) + 3*512*32*4 (196608)
  //   + 2 * (32*2048 + 256*32 = 73728) (147456) = 1392704
  EXPECT_EQ(linear_scratch_bytes(q4, 512, 2), 1392704u);
  const Weight bf = dense_weight(DType::BF16, 4096, 2048, p);
  EXPECT_EQ(linear_scratch_bytes(bf, 1, 2), 64u);
  // n = 512, 2 threads: 64 + 512*2048*2 (x as bf16, 2097152) + 2 * 256*2048 (1048576)
  EXPECT_EQ(linear_scratch_bytes(bf, 512, 2), 3145792u);
  EXPECT_EQ(linear_scratch_bytes(dense_weight(DType::F32, 4096, 2048, p), 512, 2), 64u);
}

// ---- malformed input, one case per test ----

TEST(LinearErrors, UnsupportedBits) {
  uint32_t d[4] = {};
  uint16_t s[4] = {};
  const Weight w = affine_weight(1, 64, 3, 64, d, DType::F16, s, s);
  try {
    validate_weight(w);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bits"), std::string::npos);
  }
}

TEST(LinearErrors, UnsupportedGroupSize) {
  uint32_t d[4] = {};
  uint16_t s[4] = {};
  const Weight w = affine_weight(1, 96, 4, 48, d, DType::F16, s, s);
  try {
    validate_weight(w);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("group size"), std::string::npos);
  }
}

TEST(LinearErrors, ColsNotMultipleOfGroup) {
  uint32_t d[8] = {};
  uint16_t s[4] = {};
  const Weight w = affine_weight(1, 96, 4, 64, d, DType::F16, s, s);
  try {
    validate_weight(w);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of the group"), std::string::npos);
  }
}

TEST(LinearErrors, UnsupportedDenseDtype) {
  int8_t d[4] = {};
  try {
    validate_weight(dense_weight(DType::I8, 2, 2, d));
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported weight dtype"), std::string::npos);
  }
}

TEST(LinearErrors, NullData) {
  try {
    validate_weight(dense_weight(DType::F32, 2, 2, nullptr));
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("null"), std::string::npos);
  }
}

TEST(LinearErrors, ScratchTooSmall) {
  std::mt19937 rng(1);
  const TestWeight tw = make_affine(rng, 8, 64, DType::F16, 4, 64);
  std::vector<float> x(64), y(4);
  std::vector<std::byte> s(16);
  try {
    linear(tw.view(), x.data(), 1, y.data(), s);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("scratch too small"), std::string::npos);
  }
}

TEST(LinearErrors, RowRangeInverted) {
  std::mt19937 rng(1);
  const TestWeight tw = make_dense(rng, DType::F32, 4, 8);
  std::vector<float> x(8), y(4);
  LinearOptions opt;
  opt.row_begin = 3;
  opt.row_end = 2;
  try {
    linear(tw.view(), x.data(), 1, y.data(), {}, opt);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("row range"), std::string::npos);
  }
}

TEST(LinearErrors, EmbeddingRowOutOfRange) {
  std::mt19937 rng(1);
  const TestWeight tw = make_dense(rng, DType::F32, 4, 8);
  std::vector<float> out(8);
  try {
    embedding_row(tw.view(), 4, out.data());
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos);
  }
}

}  // namespace
}  // namespace mlxcel::kernels::test
