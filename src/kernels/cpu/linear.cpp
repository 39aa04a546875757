// linear(): validation, scratch layout and work splitting; the arithmetic is in the per-ISA files.
#include <algorithm>
#include <cstring>
#include <string>

#include "core/checked.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/half.h"
#include "mlxcel/errors.h"

namespace mlxcel::kernels {
namespace {

constexpr uint64_t kAlign = kLinearScratchAlign;

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

[[noreturn]] void bad_weight(const std::string& what, const Weight& w) {
  throw FormatError("kernels", what + " (weight " + std::to_string(w.rows) + "x" +
                                   std::to_string(w.cols) + ", dtype " +
                                   std::string(dtype_name(w.dtype)) + ")");
}

bool is_float_dtype(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

constexpr uint64_t kWidenGemmMinRows = 64;  // f16/bf16 through the f32-widening GEMM (see linear)

// The row kernels (decode) split a matrix with detail::run_stealing: each thread streams its own
// contiguous range and an idle one steals the back half of another's rest. A static split (one
// chunk per thread, used before) left a core idle at every matrix end, and small dynamic chunks
// restart the weight stream at each chunk (see docs/performance.md for the paired readings).
constexpr uint64_t kStealRows = 16;            // rows per unit
constexpr uint64_t kMinPieceBytes = 64 << 10;  // smallest range or stolen piece: a hand-over
                                               // between cores costs about a microsecond
constexpr size_t kMaxFused = 16;               // weights linear_fused runs as one job

uint64_t min_piece_units(const Weight& w) {
  const uint64_t unit_bytes = kStealRows * std::max<uint64_t>(1, weight_bytes(w) / w.rows);
  return std::max<uint64_t>(1, (kMinPieceBytes + unit_bytes - 1) / unit_bytes);
}

struct ScratchCursor {
  std::byte* p;
  std::byte* end;
  std::byte* take(uint64_t bytes) {
    std::byte* r = p;
    p += align_up(bytes, kAlign);
    return r;
  }
};

// A cursor over the caller's scratch, aligned, after checking it holds `need` bytes.
ScratchCursor scratch_cursor(std::span<std::byte> scratch, uint64_t need, const char* who) {
  if (scratch.size() < need) {
    throw UsageError("kernels", std::string(who) + ": scratch too small (have " +
                                    std::to_string(scratch.size()) + " bytes, need " +
                                    std::to_string(need) + ")");
  }
  auto base = reinterpret_cast<uintptr_t>(scratch.data());
  return ScratchCursor{reinterpret_cast<std::byte*>(align_up(base, kAlign)),
                       scratch.data() + scratch.size()};
}

// Quantizes n rows of x (stride xs) for w's format into scratch taken from cur.
QuantAct quantize_x(const KernelTable& kt, const Weight& w, const float* x, uint64_t xs,
                    uint64_t n, bool gemm, ScratchCursor& cur) {
  const uint64_t n_pad = align_up(n, kGemmRowPad);
  QuantAct a;
  a.n = n;
  a.cols = w.cols;
  a.group = w.group_size;
  a.groups = w.cols / w.group_size;
  a.q_stride = w.cols;
  a.q = reinterpret_cast<int8_t*>(cur.take(n_pad * w.cols));
  a.d = reinterpret_cast<float*>(cur.take(n_pad * a.groups * 4));
  a.sx = reinterpret_cast<float*>(cur.take(n_pad * a.groups * 4));
  a.sq = reinterpret_cast<int32_t*>(cur.take(n_pad * a.groups * 4));
  auto quant = gemm ? kt.quantize_act_gemm : kt.quantize_act;
  // The GEMM quantizer also writes the padding rows of the last micro-tile (as zeros).
  parallel_for(gemm ? n_pad : n, gemm ? 8 : 1, [&](uint64_t m0, uint64_t m1, uint32_t) {
    quant(x, xs, a, w.bits, m0, m1);
  });
  return a;
}

bool same_format(const Weight& a, const Weight& b) {
  if (a.cols != b.cols || a.quantized() != b.quantized()) return false;
  if (!a.quantized()) return true;  // dense rows read x as floats whatever the weight dtype
  return a.bits == b.bits && a.group_size == b.group_size;
}

}  // namespace

Weight dense_weight(DType dtype, uint64_t rows, uint64_t cols, const void* data) {
  Weight w;
  w.dtype = dtype;
  w.rows = rows;
  w.cols = cols;
  w.data = data;
  return w;
}

Weight affine_weight(uint64_t rows, uint64_t cols, uint32_t bits, uint32_t group_size,
                     const void* data, DType scale_dtype, const void* scales, const void* biases) {
  Weight w;
  w.dtype = DType::U32;
  w.rows = rows;
  w.cols = cols;
  w.data = data;
  w.bits = bits;
  w.group_size = group_size;
  w.scale_dtype = scale_dtype;
  w.scales = scales;
  w.biases = biases;
  return w;
}

void validate_weight(const Weight& w) {
  if (w.rows == 0 || w.cols == 0) bad_weight("empty weight", w);
  if (w.data == nullptr) bad_weight("weight data is null", w);
  if (!checked_mul(w.rows, w.cols)) bad_weight("weight element count overflows", w);
  if (w.dtype == DType::U32) {
    if (w.bits != 4 && w.bits != 8) {
      throw ConfigError("kernels", "unsupported affine quantization bits (bits, " +
                                       std::to_string(w.bits) + "; supported 4 and 8)");
    }
    if (w.group_size != 32 && w.group_size != 64 && w.group_size != 128) {
      throw ConfigError("kernels", "unsupported affine quantization group size (group_size, " +
                                       std::to_string(w.group_size) + "; supported 32, 64, 128)");
    }
    if (w.cols % w.group_size != 0) {
      bad_weight("in features not a multiple of the group size " + std::to_string(w.group_size),
                 w);
    }
    if (w.scale_dtype != DType::F16 && w.scale_dtype != DType::BF16 &&
        w.scale_dtype != DType::F32) {
      bad_weight("scales/biases must be F16, BF16 or F32, got " +
                     std::string(dtype_name(w.scale_dtype)),
                 w);
    }
    if (w.scales == nullptr || w.biases == nullptr) bad_weight("scales or biases are null", w);
  } else if (!is_float_dtype(w.dtype)) {
    bad_weight("unsupported weight dtype", w);
  }
}

uint64_t weight_bytes(const Weight& w) {
  if (w.dtype == DType::U32) {
    const uint64_t groups = w.cols / w.group_size;
    const uint64_t sbytes = w.scale_dtype == DType::F32 ? 4 : 2;
    return w.rows * (w.cols * w.bits / 8) + 2 * w.rows * groups * sbytes;
  }
  return w.rows * w.cols * (w.dtype == DType::F32 ? 4 : 2);
}

uint64_t linear_scratch_bytes(const Weight& w, uint64_t n, uint32_t threads) {
  validate_weight(w);
  return linear_kernel_scratch_bytes(w.dtype, w.cols, w.group_size, w.bits, n, threads);
}

void linear(const Weight& w, const float* x, uint64_t n, float* y, std::span<std::byte> scratch,
            const LinearOptions& opt) {
  validate_weight(w);
  if (n == 0) return;
  if (x == nullptr || y == nullptr) throw UsageError("kernels", "linear: x or y is null");
  const uint64_t r0 = opt.row_begin;
  const uint64_t r1 = std::min(opt.row_end, w.rows);
  if (r0 > r1) {
    throw UsageError("kernels", "linear: row range begins past its end (row_begin, " +
                                    std::to_string(r0) + ")");
  }
  if (r0 == r1) return;
  const uint64_t xs = opt.x_stride ? opt.x_stride : w.cols;
  const uint64_t ys = opt.y_stride ? opt.y_stride : w.rows;
  if (xs < w.cols) throw UsageError("kernels", "linear: x_stride smaller than in features");
  if (ys < r1) throw UsageError("kernels", "linear: y_stride smaller than the output rows");
  const uint32_t threads = num_threads();
  ScratchCursor cur = scratch_cursor(scratch, linear_scratch_bytes(w, n, threads), "linear");
  const KernelTable& kt = kernel_table();
  const uint64_t rows = r1 - r0;

  if (w.quantized()) {
    const bool gemm = n >= gemm_min_rows(w.dtype, w.bits) && kt.affine_gemm != nullptr;
    const QuantAct a = quantize_x(kt, w, x, xs, n, gemm, cur);
    AffineArgs args{&w, &a, y, ys, opt.accumulate};
    if (gemm) {
      const uint64_t panel_bytes = align_up(affine_gemm_panel_bytes(w.cols, w.group_size), kAlign);
      std::byte* panels = cur.take(threads * panel_bytes);
      parallel_for(rows, 32, [&](uint64_t b, uint64_t e, uint32_t t) {
        kt.affine_gemm(args, r0 + b, r0 + e, panels + t * panel_bytes);
      });
    } else {
      detail::parallel_for_stealing(
          rows, kStealRows, min_piece_units(w),
          [&](uint64_t b, uint64_t e, uint32_t) { kt.affine_rows(args, r0 + b, r0 + e); },
          detail::matvec_threads());
    }
    return;
  }

  DenseArgs args{&w, x, xs, n, y, ys, opt.accumulate};
  if (n >= gemm_min_rows(w.dtype, 0) && w.dtype == DType::BF16 && w.cols % 2 == 0 &&
      kt.dense_gemm_bf16 != nullptr) {
    const uint64_t n_pad = align_up(n, kGemmRowPad);
    auto* xb = reinterpret_cast<uint16_t*>(cur.take(n_pad * w.cols * 2));
    parallel_for(n_pad, 1, [&](uint64_t m0, uint64_t m1, uint32_t) {
      kt.pack_x_bf16(x, xs, n, w.cols, xb, m0, m1);
    });
    args.xb = xb;
    const uint64_t panel_bytes = align_up(dense_gemm_panel_bytes(w.cols), kAlign);
    std::byte* panels = cur.take(threads * panel_bytes);
    parallel_for(rows, 32, [&](uint64_t b, uint64_t e, uint32_t t) {
      kt.dense_gemm_bf16(args, r0 + b, r0 + e, panels + t * panel_bytes);
    });
    return;
  }
  // f16/bf16 weights without the bf16 GEMM: widening 64-row panels to f32 for sgemm loses to the
  // row kernels until ~64 rows (8192 x 2048 bf16, 2 threads, 16 rows: 4.7 ms against 2.2 with
  // AVX-512, 4.9 against 3.5 with AVX2), so those stay on the row path longer. The scratch stays
  // sized for the GEMM from gemm_min_rows (the row kernels need none of it): the plan does not
  // depend on the ISA.
  const uint64_t dense_gemm_from = w.dtype == DType::F32 ? gemm_min_rows(w.dtype, 0) : kWidenGemmMinRows;
  if (n >= dense_gemm_from && kt.dense_gemm != nullptr) {
    const uint64_t panel_bytes =
        w.dtype == DType::F32 ? 0 : align_up(dense_gemm_panel_bytes(w.cols), kAlign);
    if (w.dtype != DType::F32) cur.take(align_up(n, kGemmRowPad) * w.cols * 2);  // bf16 x slot
    std::byte* panels = cur.take(threads * panel_bytes);
    parallel_for(rows, 64, [&](uint64_t b, uint64_t e, uint32_t t) {
      kt.dense_gemm(args, r0 + b, r0 + e, panels + t * panel_bytes);
    });
    return;
  }
  detail::parallel_for_stealing(
      rows, kStealRows, min_piece_units(w),
      [&](uint64_t b, uint64_t e, uint32_t) { kt.dense_rows(args, r0 + b, r0 + e); },
      detail::matvec_threads());
}

void embedding_row(const Weight& w, uint64_t row, float* out) {
  validate_weight(w);
  if (row >= w.rows) {
    throw UsageError("kernels", "embedding row out of range (row, " + std::to_string(row) +
                                    ", rows " + std::to_string(w.rows) + ")");
  }
  const uint64_t c = w.cols;
  switch (w.dtype) {
    case DType::F32:
      std::memcpy(out, static_cast<const float*>(w.data) + row * c, c * 4);
      return;
    case DType::F16:
    case DType::BF16:
      kernel_table().widen_row(static_cast<const uint16_t*>(w.data) + row * c,
                               w.dtype == DType::F16, out, c);
      return;
    default: break;
  }
  const uint64_t groups = c / w.group_size;
  const auto* bytes = static_cast<const uint8_t*>(w.data) + row * (c * w.bits / 8);
  const int kind = w.scale_dtype == DType::F32 ? 0 : (w.scale_dtype == DType::F16 ? 1 : 2);
  for (uint64_t g = 0; g < groups; ++g) {
    const float s = load_as_f32(w.scales, kind, row * groups + g);
    const float b = load_as_f32(w.biases, kind, row * groups + g);
    for (uint64_t j = g * w.group_size; j < (g + 1) * w.group_size; ++j) {
      const uint32_t q = w.bits == 8 ? bytes[j] : ((bytes[j / 2] >> ((j & 1) * 4)) & 0xf);
      out[j] = s * static_cast<float>(q) + b;
    }
  }
}

void linear_fused(std::span<const LinearOut> outs, const float* x, uint64_t n,
                  std::span<std::byte> scratch) {
  if (outs.empty() || n == 0) return;
  bool fuse = outs.size() > 1 && outs.size() <= kMaxFused;
  for (const LinearOut& o : outs) {
    validate_weight(*o.w);
    if (o.y == nullptr) throw UsageError("kernels", "linear_fused: y is null");
    fuse = fuse && same_format(*o.w, *outs[0].w);
  }
  fuse = fuse && n < gemm_min_rows(outs[0].w->dtype, outs[0].w->bits);
  if (!fuse) {
    for (const LinearOut& o : outs) linear(*o.w, x, n, o.y, scratch);
    return;
  }
  if (x == nullptr) throw UsageError("kernels", "linear_fused: x is null");
  const uint32_t threads = num_threads();
  uint64_t need = 0;
  for (const LinearOut& o : outs) need = std::max(need, linear_scratch_bytes(*o.w, n, threads));
  ScratchCursor cur = scratch_cursor(scratch, need, "linear_fused");
  const KernelTable& kt = kernel_table();
  const Weight& w0 = *outs[0].w;
  QuantAct a;
  if (w0.quantized()) a = quantize_x(kt, w0, x, w0.cols, n, false, cur);

  // One unit space over all the weights (kStealRows rows a unit; a weight's last unit may be
  // short), split as one weight's rows would be: a thread's stream runs on from one weight into
  // the next.
  uint64_t seg[kMaxFused + 1] = {0};
  for (size_t j = 0; j < outs.size(); ++j) seg[j + 1] = seg[j] + (outs[j].w->rows + kStealRows - 1) / kStealRows;
  struct Ctx {
    const KernelTable* kt;
    std::span<const LinearOut> outs;
    const uint64_t* seg;
    const QuantAct* a;
    const float* x;
    uint64_t n;
  } ctx{&kt, outs, seg, &a, x, n};
  auto task = [](void* p, uint64_t u0, uint64_t u1, uint32_t) {
    const Ctx& k = *static_cast<const Ctx*>(p);
    for (size_t j = 0; j < k.outs.size() && u0 < u1; ++j) {
      if (u0 >= k.seg[j + 1]) continue;
      const uint64_t e = std::min(u1, k.seg[j + 1]);
      const LinearOut& o = k.outs[j];
      const uint64_t r0 = (u0 - k.seg[j]) * kStealRows, r1 = std::min(o.w->rows, (e - k.seg[j]) * kStealRows);
      if (o.w->quantized()) {
        const AffineArgs args{o.w, k.a, o.y, o.w->rows, false};
        k.kt->affine_rows(args, r0, r1);
      } else {
        const DenseArgs args{o.w, k.x, o.w->cols, k.n, o.y, o.w->rows, false};
        k.kt->dense_rows(args, r0, r1);
      }
      u0 = e;
    }
  };
  detail::run_stealing(seg[outs.size()], min_piece_units(w0), task, &ctx, detail::matvec_threads());
}

}  // namespace mlxcel::kernels
