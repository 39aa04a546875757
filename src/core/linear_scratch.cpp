#include "core/linear_scratch.h"

#include <fmt/format.h>

#include <string>

#include "core/checked.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

constexpr const char* kComponent = "linear_scratch";

// Names the call in overflow messages ("cols 4096, group 64, rows 512, threads 8").
struct Ctx {
  uint64_t cols;
  uint64_t group;
  uint64_t n;
  uint64_t threads;
  std::string text() const {
    return fmt::format("cols {}, group {}, rows {}, threads {}", cols, group, n, threads);
  }
};

[[noreturn]] void overflow(const Ctx& c) {
  throw ConfigError(kComponent, fmt::format("scratch size overflows 64 bits ({})", c.text()));
}

uint64_t add(uint64_t a, uint64_t b, const Ctx& c) {
  auto r = checked_add(a, b);
  if (!r) overflow(c);
  return *r;
}

uint64_t mul(uint64_t a, uint64_t b, const Ctx& c) {
  auto r = checked_mul(a, b);
  if (!r) overflow(c);
  return *r;
}

uint64_t align_up(uint64_t v, uint64_t a, const Ctx& c) { return mul(add(v, a - 1, c) / a, a, c); }

uint64_t groups_of(const Ctx& c) {
  if (c.group == 0)
    throw ConfigError(kComponent, fmt::format("affine weight without a group size ({})", c.text()));
  return add(c.cols, c.group - 1, c) / c.group;
}

uint64_t affine_panel(const Ctx& c) {
  const uint64_t groups = groups_of(c);
  return add(mul(kAffinePanelRows, c.cols, c), mul(mul(2 * kAffinePanelRows, groups, c), 4, c), c);
}

uint64_t dense_panel(const Ctx& c) { return mul(mul(kDensePanelRows, c.cols, c), 4, c); }

uint64_t affine_act(const Ctx& c) {
  const uint64_t groups = groups_of(c);
  const uint64_t n_pad = align_up(c.n, kGemmRowPad, c);
  const uint64_t codes = align_up(mul(n_pad, c.cols, c), kLinearScratchAlign, c);
  const uint64_t per_group = align_up(mul(mul(n_pad, groups, c), 4, c), kLinearScratchAlign, c);
  return add(codes, mul(3, per_group, c), c);
}

}  // namespace

uint64_t affine_gemm_panel_bytes(uint64_t cols, uint32_t group) {
  return affine_panel(Ctx{cols, group, 0, 1});
}

uint64_t dense_gemm_panel_bytes(uint64_t cols) { return dense_panel(Ctx{cols, 0, 0, 1}); }

uint64_t affine_act_bytes(uint64_t cols, uint32_t group, uint64_t n) {
  return affine_act(Ctx{cols, group, n, 1});
}

uint64_t gemm_min_rows(DType weight_dtype, uint32_t bits) {
  if (weight_dtype != DType::U32) return 8;
  return bits == 4 ? 32 : 16;
}

uint64_t linear_kernel_scratch_bytes(DType weight_dtype, uint64_t cols, uint32_t group_size,
                                     uint32_t bits, uint64_t n, uint64_t threads) {
  const Ctx c{cols, group_size, n, threads == 0 ? 1 : threads};
  uint64_t bytes = kLinearScratchAlign;  // slack to align the caller's pointer
  switch (weight_dtype) {
    case DType::U32:
      bytes = add(bytes, affine_act(c), c);
      if (n >= gemm_min_rows(weight_dtype, bits))
        bytes = add(bytes, mul(c.threads, align_up(affine_panel(c), kLinearScratchAlign, c), c), c);
      return bytes;
    case DType::F16:
    case DType::BF16:
      if (n >= gemm_min_rows(weight_dtype, 0)) {
        const uint64_t x_bf16 = mul(mul(align_up(n, kGemmRowPad, c), cols, c), 2, c);
        bytes = add(bytes, align_up(x_bf16, kLinearScratchAlign, c), c);
        bytes = add(bytes, mul(c.threads, align_up(dense_panel(c), kLinearScratchAlign, c), c), c);
      }
      return bytes;
    case DType::F32:
      return bytes;
    default:
      throw ConfigError(kComponent, fmt::format("no linear kernel for this weight dtype (dtype, {}; {})",
                                                dtype_name(weight_dtype), c.text()));
  }
}

}  // namespace mlxcel
