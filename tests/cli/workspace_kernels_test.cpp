// The plan's matmul_scratch buffer must equal what the matmul kernels ask for
// (kernels::linear_scratch_bytes) for the widest matmul input: the runtime allocates exactly the
// plan and hands this buffer to the kernels. Both evaluate core/linear_scratch.h; this holds the
// plan's choice of width, rows and weight formats to the kernels' call. It lives with the CLI
// because that is the one test binary that links both the estimator and the kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "estimate/specs.h"
#include "kernels/cpu/kernels.h"

using namespace mlxcel;
using namespace mlxcel::test;

namespace {

uint64_t planned_matmul_scratch(const ModelSpec& s, uint64_t rows, uint32_t threads) {
  MemoryPlan p = plan_memory(s, run_with(rows, 1, rows, threads), zero_profile());
  for (const auto& b : p.workspace.buffers)
    if (b.name == "matmul_scratch") return b.bytes;
  return 0;
}

// hidden 64, ffn A: the widest matmul input is A (down_proj).
ModelSpec model_with_widest_input(uint64_t A) {
  ModelSpec s = tiny_dense();
  s.dims.intermediate_size = A;
  return s;
}

alignas(64) const uint8_t kDummy[64] = {};

}  // namespace

TEST(WorkspaceVsKernels, MlxAffineWeights) {
  for (auto [bits, group, A] : {std::tuple<uint32_t, uint32_t, uint64_t>{4, 64, 256},
                                {8, 32, 512}, {4, 128, 1024}, {8, 64, 192}}) {
    ModelSpec s = model_with_widest_input(A);
    s.quant.method = QuantMethod::Mlx;
    s.quant.bits = bits;
    s.quant.group_size = group;
    kernels::Weight w = kernels::affine_weight(64, A, bits, group, kDummy, DType::BF16, kDummy, kDummy);
    // rows on both sides of each format's GEMM threshold (16 for 8-bit, 32 for 4-bit)
    for (uint64_t rows : {1u, 5u, 8u, 11u, 12u, 15u, 16u, 17u, 31u, 32u, 512u})
      for (uint32_t threads : {1u, 2u, 4u})
        EXPECT_EQ(planned_matmul_scratch(s, rows, threads),
                  kernels::linear_scratch_bytes(w, rows, threads))
            << bits << "-bit g" << group << " A " << A << " rows " << rows << " threads " << threads;
  }
}

// A model with 4-bit layers and an 8-bit head: the plan derives each weight's bits from its
// shapes, as the runtime does, and sizes for the larger ask (the 8-bit GEMM's panels from 16
// rows, where the 4-bit weights still use the row kernels up to 31).
TEST(WorkspaceVsKernels, MlxWeightsOfMixedBits) {
  const uint64_t A = 256, group = 64;
  ModelSpec s = model_with_widest_input(A);
  s.quant.method = QuantMethod::Mlx;
  s.quant.bits = 4;
  s.quant.group_size = group;
  auto add = [&](const std::string& name, uint32_t bits, uint64_t rows) {
    s.tensors.push_back(tensor(name + ".weight", DType::U32, rows * A * bits / 8, Component::Mlp));
    s.tensors.back().shape = {rows, A * bits / 32};
    s.tensors.push_back(tensor(name + ".scales", DType::BF16, rows * (A / group) * 2, Component::Mlp));
    s.tensors.back().shape = {rows, A / group};
  };
  add("model.layers.0.mlp.down_proj", 4, 64);
  add("lm_head", 8, 64);
  kernels::Weight w4 = kernels::affine_weight(64, A, 4, group, kDummy, DType::BF16, kDummy, kDummy);
  kernels::Weight w8 = kernels::affine_weight(64, A, 8, group, kDummy, DType::BF16, kDummy, kDummy);
  for (uint64_t rows : {1u, 8u, 12u, 15u, 16u, 31u, 32u, 64u}) {
    const uint64_t want = std::max(kernels::linear_scratch_bytes(w4, rows, 2), kernels::linear_scratch_bytes(w8, rows, 2));
    EXPECT_EQ(planned_matmul_scratch(s, rows, 2), want) << "rows " << rows;
  }
  EXPECT_GT(kernels::linear_scratch_bytes(w8, 16, 2), kernels::linear_scratch_bytes(w4, 16, 2));
}

TEST(WorkspaceVsKernels, HalfAndSingleFloatWeights) {
  for (DType dt : {DType::BF16, DType::F16, DType::F32}) {
    ModelSpec s = model_with_widest_input(256);
    s.tensors = {tensor("w", dt, 64 * 256 * (dt == DType::F32 ? 4 : 2), Component::Mlp)};
    s.tensors[0].shape = {64, 256};
    kernels::Weight w = kernels::dense_weight(dt, 64, 256, kDummy);
    for (uint64_t rows : {1u, 7u, 8u, 100u})
      for (uint32_t threads : {1u, 2u, 3u})
        EXPECT_EQ(planned_matmul_scratch(s, rows, threads),
                  kernels::linear_scratch_bytes(w, rows, threads))
            << dtype_name(dt) << " rows " << rows << " threads " << threads;
  }
}
