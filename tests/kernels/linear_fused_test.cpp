// linear_fused() gives each weight exactly what linear() gives it alone (the rows are computed by
// the same row kernels, only split among the threads differently), on every ISA level, for one
// and two threads, on the matvec path, the small-batch path and the GEMM fallback.
#include <gtest/gtest.h>

#include <vector>

#include "kernel_test_util.h"
#include "mlxcel/errors.h"

namespace mlxcel::kernels::test {
namespace {

// Runs the weights through linear_fused and through linear() one by one; outputs must be equal.
void check_fused(const std::vector<TestWeight>& tws, uint64_t n, std::mt19937& rng, const std::string& label) {
  const uint64_t cols = tws[0].cols;
  const auto x = random_floats(rng, n * cols);
  std::vector<Weight> ws;
  uint64_t scratch = 0;
  for (const TestWeight& tw : tws) {
    ws.push_back(tw.view());
    scratch = std::max(scratch, linear_scratch_bytes(ws.back(), n, num_threads()));
  }
  std::vector<std::vector<float>> fused(ws.size()), alone(ws.size());
  std::vector<LinearOut> outs;
  for (size_t j = 0; j < ws.size(); ++j) {
    fused[j].assign(n * ws[j].rows, -7.0f);
    alone[j].assign(n * ws[j].rows, -9.0f);
    outs.push_back({&ws[j], fused[j].data()});
  }
  Scratch s;
  linear_fused(outs, x.data(), n, s.span(scratch));
  for (size_t j = 0; j < ws.size(); ++j) {
    Scratch s1;
    linear(ws[j], x.data(), n, alone[j].data(), s1.span(linear_scratch_bytes(ws[j], n, num_threads())));
    for (uint64_t i = 0; i < alone[j].size(); ++i) {
      ASSERT_EQ(fused[j][i], alone[j][i]) << label << " weight " << j << " element " << i << " n=" << n;
    }
  }
}

TEST(LinearFused, EqualsOneLinearPerWeight) {
  for (Isa isa : available_isas()) {
    for (uint32_t threads : {1u, 2u}) {
      IsaScope scope(isa, threads);
      std::mt19937 rng(5);
      // q/k/v-like sets: the first weight is large enough (> 128 KiB) to be cut into several
      // chunks, the others are small and have row counts that are no multiple of 16.
      const std::vector<TestWeight> q4 = {make_affine(rng, 4, 64, DType::BF16, 1000, 512),
                                          make_affine(rng, 4, 64, DType::BF16, 200, 512),
                                          make_affine(rng, 4, 64, DType::BF16, 37, 512)};
      const std::vector<TestWeight> q8 = {make_affine(rng, 8, 32, DType::F16, 600, 256),
                                          make_affine(rng, 8, 32, DType::F16, 45, 256)};
      // dense weights of different float types share the row path (x is read as f32)
      const std::vector<TestWeight> dense = {make_dense(rng, DType::BF16, 700, 256),
                                             make_dense(rng, DType::F16, 300, 256),
                                             make_dense(rng, DType::F32, 70, 256)};
      // mixed formats fall back to one linear() each
      const std::vector<TestWeight> mixed = {make_affine(rng, 4, 64, DType::BF16, 40, 256),
                                             make_dense(rng, DType::BF16, 30, 256)};
      for (uint64_t n : {uint64_t{1}, uint64_t{3}, uint64_t{6}, uint64_t{9}}) {
        const std::string label = isa_label(isa, threads);
        check_fused(q4, n, rng, label + " q4");
        check_fused(q8, n, rng, label + " q8");
        check_fused(dense, n, rng, label + " dense");
        check_fused(mixed, n, rng, label + " mixed");
      }
    }
  }
}

TEST(LinearFused, NullOutputIsAUsageError) {
  std::mt19937 rng(1);
  const TestWeight a = make_dense(rng, DType::F32, 4, 8), b = make_dense(rng, DType::F32, 4, 8);
  const Weight wa = a.view(), wb = b.view();
  std::vector<float> x(8, 1.0f), y(4);
  const LinearOut outs[2] = {{&wa, y.data()}, {&wb, nullptr}};
  Scratch s;
  try {
    linear_fused(outs, x.data(), 1, s.span(linear_scratch_bytes(wa, 1, num_threads())));
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("y is null"), std::string::npos) << e.what();
  }
}

TEST(LinearFused, ScratchTooSmallIsAUsageError) {
  std::mt19937 rng(2);
  const TestWeight a = make_affine(rng, 4, 64, DType::F16, 16, 128);
  const TestWeight b = make_affine(rng, 4, 64, DType::F16, 16, 128);
  const Weight wa = a.view(), wb = b.view();
  std::vector<float> x(128, 1.0f), ya(16), yb(16);
  const LinearOut outs[2] = {{&wa, ya.data()}, {&wb, yb.data()}};
  Scratch s;
  try {
    linear_fused(outs, x.data(), 1, s.span(8));
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("scratch too small"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mlxcel::kernels::test
