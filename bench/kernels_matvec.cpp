// Kernel benchmark: memory read bandwidth (measured in the same run), decode matvec throughput per
// weight format against it, and prefill matmul throughput. Prints tables; passes or fails nothing.
//
//   bench_kernels_matvec [--threads N] [--bw-mib MiB] [--reps N] [--isa NAME] [--only decode|ceiling|prefill|rows]
#include <immintrin.h>

#include <algorithm>
#include <sys/mman.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bandwidth.h"
#include "bench_args.h"
#include "core/linear_scratch.h"
#include "kernels/cpu/kernels.h"

using namespace mlxcel;
using namespace mlxcel::kernels;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// First-touched buffer (pages faulted in before timing), laid out like the runtime's allocator
// lays out weights: 2 MiB aligned and advised for transparent huge pages from 4 MiB up.
struct Buf {
  std::byte* p = nullptr;
  size_t n = 0;
  explicit Buf(size_t bytes) : n(bytes) {
    const bool huge = bytes >= (size_t{4} << 20);
    const size_t align = huge ? (size_t{2} << 20) : 64;
    const size_t size = (bytes + align - 1) / align * align;
    p = static_cast<std::byte*>(std::aligned_alloc(align, size));
    if (huge) madvise(p, size, MADV_HUGEPAGE);
    std::memset(p, 0, bytes);
  }
  ~Buf() { std::free(p); }
  Buf(const Buf&) = delete;
  Buf(Buf&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr; }
};

struct MatShape {
  const char* name;
  uint64_t rows, cols;
};

struct Model {
  const char* name;
  uint64_t hidden, ffn, vocab, heads, kv_heads, head_dim, layers;
  std::vector<MatShape> layer_mats() const {
    return {{"q", heads * head_dim, hidden},     {"k", kv_heads * head_dim, hidden},
            {"v", kv_heads * head_dim, hidden},  {"o", hidden, heads * head_dim},
            {"gate", ffn, hidden},               {"up", ffn, hidden},
            {"down", hidden, ffn}};
  }
};

enum class Fmt { BF16, F16, Q8, Q4 };
const char* fmt_name(Fmt f) {
  switch (f) {
    case Fmt::BF16: return "bf16";
    case Fmt::F16: return "f16";
    case Fmt::Q8: return "q8-g64";
    case Fmt::Q4: return "q4-g64";
  }
  return "?";
}

// A weight with random contents in its own buffers.
struct OwnedWeight {
  std::vector<Buf> bufs;
  Weight w;
};

OwnedWeight make_weight(Fmt f, uint64_t rows, uint64_t cols, std::mt19937& rng) {
  OwnedWeight o;
  auto fill = [&](Buf& b, uint16_t base, uint16_t mask) {
    auto* h = reinterpret_cast<uint16_t*>(b.p);
    for (size_t i = 0; i < b.n / 2; ++i) h[i] = static_cast<uint16_t>(base | (rng() & mask));
  };
  if (f == Fmt::BF16 || f == Fmt::F16) {
    o.bufs.emplace_back(rows * cols * 2);
    // small normal numbers of random sign: bf16 exponent ~2^-4, f16 exponent ~2^-4
    fill(o.bufs[0], f == Fmt::BF16 ? 0x3d00 : 0x2c00, f == Fmt::BF16 ? 0x80ff : 0x83ff);
    o.w = dense_weight(f == Fmt::BF16 ? DType::BF16 : DType::F16, rows, cols, o.bufs[0].p);
    return o;
  }
  const uint32_t bits = f == Fmt::Q8 ? 8 : 4;
  o.bufs.emplace_back(rows * cols * bits / 8);
  auto* w32 = reinterpret_cast<uint32_t*>(o.bufs[0].p);
  for (size_t i = 0; i < o.bufs[0].n / 4; ++i) w32[i] = static_cast<uint32_t>(rng());
  o.bufs.emplace_back(rows * cols / 64 * 2);
  o.bufs.emplace_back(rows * cols / 64 * 2);
  fill(o.bufs[1], 0x2000, 0x00ff);  // f16 scales ~ 2^-7
  fill(o.bufs[2], 0x2400, 0x80ff);  // f16 biases of random sign
  o.w = affine_weight(rows, cols, bits, 64, o.bufs[0].p, DType::F16, o.bufs[1].p, o.bufs[2].p);
  return o;
}

struct Args {
  uint32_t threads = 2;
  size_t bw_mib = 512;
  int reps = 5;
  std::string only;
};

// Decode: one token through `copies` distinct copies of a layer (so the working set is far larger
// than the caches), best of reps. Returns GB/s of weights read.
double bench_decode_layer(const Model& m, Fmt f, int reps, uint64_t* layer_bytes) {
  std::mt19937 rng(1);
  const auto mats = m.layer_mats();
  uint64_t per_layer = 0;
  std::vector<OwnedWeight> probe;
  for (const auto& s : mats) per_layer += weight_bytes(make_weight(f, s.rows, 64, rng).w) / 64 * s.cols;
  const uint64_t target = 1024ull << 20;  // >= 1 GiB of weights in the rotation
  const int copies = static_cast<int>(std::max<uint64_t>(2, target / per_layer + 1));
  std::vector<std::vector<OwnedWeight>> layers(copies);
  uint64_t bytes = 0;
  for (auto& l : layers) {
    for (const auto& s : mats) {
      l.push_back(make_weight(f, s.rows, s.cols, rng));
      bytes += weight_bytes(l.back().w);
    }
  }
  *layer_bytes = bytes / copies;
  std::vector<float> x(m.ffn), y(m.ffn);
  for (auto& v : x) v = static_cast<float>(rng() % 1000) / 1000.0f - 0.5f;
  uint64_t scratch_bytes = 0;
  for (const auto& s : layers[0]) scratch_bytes = std::max(scratch_bytes, linear_scratch_bytes(s.w, 1, num_threads()));
  Buf scratch(scratch_bytes);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    for (auto& l : layers) {
      for (auto& ow : l) linear(ow.w, x.data(), 1, y.data(), {scratch.p, scratch_bytes});
    }
    best = std::min(best, now() - t0);
  }
  return static_cast<double>(bytes) / best / 1e9;
}

double bench_decode_head(const Model& m, Fmt f, int reps, uint64_t* bytes_out) {
  std::mt19937 rng(2);
  std::vector<OwnedWeight> copies;
  uint64_t total = 0;
  // at least two copies and >= 1 GiB, so the head is never served from the caches
  while (copies.size() < 2 || total < (1024ull << 20)) {
    copies.push_back(make_weight(f, m.vocab, m.hidden, rng));
    total += weight_bytes(copies.back().w);
  }
  std::vector<float> x(m.hidden), y(m.vocab);
  for (auto& v : x) v = static_cast<float>(rng() % 1000) / 1000.0f - 0.5f;
  const uint64_t sb = linear_scratch_bytes(copies[0].w, 1, num_threads());
  Buf scratch(sb);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    for (auto& ow : copies) linear(ow.w, x.data(), 1, y.data(), {scratch.p, sb});
    best = std::min(best, now() - t0);
  }
  *bytes_out = weight_bytes(copies[0].w);
  return static_cast<double>(total) / best / 1e9;
}

// Batched decode (serving n sequences, or a short prompt): an 8192 x 2048 weight through
// linear() with n rows of x, 16 copies so the weights come from memory; ms per matrix, best of
// reps. Whether linear() took the row kernels or the GEMM follows gemm_min_rows.
double bench_rows(Fmt f, uint64_t n, int reps) {
  std::mt19937 rng(3);
  constexpr uint64_t kRows = 8192, kCols = 2048;
  constexpr int kCopies = 16;
  std::vector<OwnedWeight> ws;
  for (int c = 0; c < kCopies; ++c) ws.push_back(make_weight(f, kRows, kCols, rng));
  std::vector<float> x(n * kCols), y(n * kRows);
  for (auto& v : x) v = static_cast<float>(rng() % 1000) / 1000.0f - 0.5f;
  const uint64_t sb = linear_scratch_bytes(ws[0].w, n, num_threads());
  Buf scratch(sb);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    for (auto& ow : ws) linear(ow.w, x.data(), n, y.data(), {scratch.p, sb});
    best = std::min(best, (now() - t0) / kCopies);
  }
  return best * 1e3;
}

// Compute ceiling: a 256 x 2048 weight (at most 1 MiB, so it stays in this core's L2) through
// the matvec again and again on one thread; GB/s of weights the kernel gets through when memory
// is not the limit. Decode can reach the roofline only while this is well above the bandwidth.
double bench_ceiling(Fmt f, int reps) {
  std::mt19937 rng(4);
  const OwnedWeight ow = make_weight(f, 256, 2048, rng);
  std::vector<float> x(2048), y(256);
  for (auto& v : x) v = static_cast<float>(rng() % 1000) / 1000.0f - 0.5f;
  const uint64_t sb = linear_scratch_bytes(ow.w, 1, 1);
  Buf scratch(sb);
  const uint32_t prev = num_threads();
  set_num_threads(1);
  constexpr int kCalls = 2000;
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    for (int c = 0; c < kCalls; ++c) linear(ow.w, x.data(), 1, y.data(), {scratch.p, sb});
    best = std::min(best, now() - t0);
  }
  set_num_threads(prev);
  return static_cast<double>(weight_bytes(ow.w)) * kCalls / best / 1e9;
}

double cpu_now() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

struct PrefillTiming {
  double wall = 0, cpu = 0;        // best seconds per layer
  double linear_wall = 0;          // the linears alone
  double flops = 0;                // of the linears
};

// Prefill: one decoder layer on an R-token chunk at position 0 (rms_norm, q/k/v, rope, attention
// over the chunk, o with the residual, rms_norm, gate/up, silu, down with the residual).
PrefillTiming bench_prefill_layer(const Model& m, Fmt f, uint64_t R, int reps) {
  std::mt19937 rng(3);
  auto mats = m.layer_mats();
  std::vector<OwnedWeight> l;
  PrefillTiming pt;
  for (const auto& s : mats) {
    l.push_back(make_weight(f, s.rows, s.cols, rng));
    pt.flops += 2.0 * R * s.rows * s.cols;
  }
  const uint64_t H = m.hidden, q_dim = m.heads * m.head_dim, kv_dim = m.kv_heads * m.head_dim;
  std::vector<float> hidden(R * H), normed(R * H), q(R * q_dim), k(R * kv_dim), v(R * kv_dim),
      attn(R * q_dim), gate(R * m.ffn), up(R * m.ffn), norm_w(H, 1.0f), scores(num_threads() * R);
  for (auto& x : hidden) x = static_cast<float>(rng() % 1000) / 1000.0f - 0.5f;
  std::vector<float> inv_freq(m.head_dim / 2);
  rope_inv_freq(500000.0, static_cast<uint32_t>(m.head_dim), RopeScaling{}, inv_freq.data());
  uint64_t sb = 0;
  for (const auto& ow : l) sb = std::max(sb, linear_scratch_bytes(ow.w, R, num_threads()));
  Buf scratch(sb);
  std::span<std::byte> sc{scratch.p, sb};
  AttentionParams ap;
  ap.n_heads = static_cast<uint32_t>(m.heads);
  ap.n_kv_heads = static_cast<uint32_t>(m.kv_heads);
  ap.head_dim_k = ap.head_dim_v = static_cast<uint32_t>(m.head_dim);
  ap.scale = 0.125f;
  LinearOptions acc;
  acc.accumulate = true;
  pt.wall = pt.cpu = pt.linear_wall = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now(), c0 = cpu_now();
    double lin = 0;
    auto L = [&](int i, const float* x, float* y, const LinearOptions& o) {
      const double s0 = now();
      linear(l[i].w, x, R, y, sc, o);
      lin += now() - s0;
    };
    rms_norm(hidden.data(), normed.data(), R, H, norm_w.data(), DType::F32, 1e-5f);
    L(0, normed.data(), q.data(), {});
    L(1, normed.data(), k.data(), {});
    L(2, normed.data(), v.data(), {});
    rope(q.data(), R, static_cast<uint32_t>(m.heads), static_cast<uint32_t>(m.head_dim),
         static_cast<uint32_t>(m.head_dim), inv_freq.data(), RopeStyle::Neox, 0);
    rope(k.data(), R, static_cast<uint32_t>(m.kv_heads), static_cast<uint32_t>(m.head_dim),
         static_cast<uint32_t>(m.head_dim), inv_freq.data(), RopeStyle::Neox, 0);
    AttentionInputs in;
    in.q = q.data();
    in.n_q = R;
    in.k_new = k.data();
    in.v_new = v.data();
    in.out = attn.data();
    in.scores = scores.data();
    in.scores_stride = R;
    in.scores_rows = num_threads();
    attention(ap, in);
    L(3, attn.data(), hidden.data(), acc);
    rms_norm(hidden.data(), normed.data(), R, H, norm_w.data(), DType::F32, 1e-5f);
    L(4, normed.data(), gate.data(), {});
    L(5, normed.data(), up.data(), {});
    silu_mul(gate.data(), up.data(), gate.data(), R * m.ffn);
    L(6, gate.data(), hidden.data(), acc);
    pt.wall = std::min(pt.wall, now() - t0);
    pt.cpu = std::min(pt.cpu, cpu_now() - c0);
    pt.linear_wall = std::min(pt.linear_wall, lin);
  }
  return pt;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  bench::ArgReader r(argc, argv,
                     "usage: bench_kernels_matvec [--threads N] [--bw-mib MiB] [--reps N] [--isa NAME] "
                     "[--only decode|ceiling|prefill|rows]");
  while (r.next()) {
    const std::string& a = r.flag();
    if (a == "--threads") args.threads = static_cast<uint32_t>(r.count(1, 256));
    else if (a == "--bw-mib") args.bw_mib = r.count(2, 1u << 20);
    else if (a == "--reps") args.reps = static_cast<int>(r.count(1, 10000));
    else if (a == "--only") args.only = r.value();
    else if (a == "--isa") {
      const auto isa = isa_from_name(r.value());
      if (!isa) r.fail("--isa is scalar, avx2, avx512 or avx512bf16");
      set_isa(*isa);
    } else {
      r.fail();
    }
  }
  std::printf("isa: %s (best %s)\n", std::string(isa_name(active_isa())).c_str(),
              std::string(isa_name(best_isa())).c_str());
  bench::BandwidthProbe probe(args.bw_mib << 20);
  const double bw1 = probe.measure(1, args.reps);
  const double bw2 = probe.measure(2, args.reps);
  std::printf("peak read bandwidth (%zu MiB, huge pages, prefetching AVX sum): 1 thread %.1f GB/s, 2 threads %.1f GB/s\n",
              args.bw_mib, bw1, bw2);
  set_num_threads(args.threads);

  const Model models[] = {
      {"llama-3.2-1b", 2048, 8192, 128256, 32, 8, 64, 16},
      {"tinyllama-1.1b", 2048, 5632, 32000, 32, 4, 64, 22},
  };
  const Fmt fmts[] = {Fmt::BF16, Fmt::Q8, Fmt::Q4};

  if (args.only.empty() || args.only == "decode") {
    std::printf("\n## decode matvec, %u threads\n", args.threads);
    std::printf("(bw: the read bandwidth measured right before and after each row, the larger; the\n"
                " machine is shared, so each ratio compares against its own moment)\n");
    std::printf("%-16s %-7s %9s %10s %9s %7s %10s %9s %7s %12s\n", "model", "format", "bw GB/s",
                "layer MB", "GB/s", "of bw", "head MB", "GB/s", "of bw", "model tok/s");
    for (const auto& m : models) {
      for (Fmt f : fmts) {
        uint64_t lb = 0, hb = 0;
        const double bw_before = probe.measure(args.threads, 3);
        const double g = bench_decode_layer(m, f, args.reps, &lb);
        const double h = bench_decode_head(m, f, args.reps, &hb);
        const double bw_row = std::max(bw_before, probe.measure(args.threads, 3));
        const double t_token = m.layers * lb / (g * 1e9) + hb / (h * 1e9);
        std::printf("%-16s %-7s %9.1f %10.1f %9.1f %6.0f%% %10.1f %9.1f %6.0f%% %12.1f\n", m.name,
                    fmt_name(f), bw_row, lb / 1e6, g, 100 * g / bw_row, hb / 1e6, h,
                    100 * h / bw_row, 1.0 / t_token);
        std::printf("RESULT decode model=%s fmt=%s threads=%u layer_gbs=%.2f head_gbs=%.2f bw_gbs=%.2f layer_ratio=%.3f head_ratio=%.3f\n",
                    m.name, fmt_name(f), args.threads, g, h, bw_row, g / bw_row, h / bw_row);
      }
    }
  }
  if (args.only.empty() || args.only == "ceiling") {
    std::printf("\n## compute ceiling: L2-resident 256 x 2048 matvec, 1 thread (GB/s of weights)\n");
    for (Fmt f : fmts) {
      const double g = bench_ceiling(f, args.reps);
      std::printf("%-7s %8.1f GB/s  (%.1fx the 1-thread bandwidth)\n", fmt_name(f), g, g / bw1);
      std::printf("RESULT ceiling fmt=%s gbs=%.2f\n", fmt_name(f), g);
    }
  }
  if (args.only.empty() || args.only == "rows") {
    std::printf("\n## batched decode: 8192 x 2048 weight, n rows of x, %u threads (ms per matrix)\n", args.threads);
    std::printf("%-7s", "format");
    const uint64_t ns[] = {1, 2, 4, 8, 12, 16, 24, 32};
    for (uint64_t n : ns) std::printf(" %9lu", static_cast<unsigned long>(n));
    std::printf("\n");
    for (Fmt f : fmts) {
      std::printf("%-7s", fmt_name(f));
      const uint64_t gemm_from = f == Fmt::Q8 ? gemm_min_rows(DType::U32, 8)
                                 : f == Fmt::Q4 ? gemm_min_rows(DType::U32, 4)
                                                : gemm_min_rows(DType::BF16, 0);
      for (uint64_t n : ns) {
        const double ms = bench_rows(f, n, args.reps);
        std::printf(" %7.3f%s", ms, n >= gemm_from ? " G" : " r");
        std::fflush(stdout);
      }
      std::printf("\n");
    }
    std::printf("(r: row kernels, G: GEMM, as linear() chose by gemm_min_rows)\n");
  }
  if (args.only.empty() || args.only == "prefill") {
    std::printf("\n## prefill: one decoder layer on an R-token chunk, %u threads\n", args.threads);
    std::printf("(cpu: the same work per CPU-second x threads, i.e. what the run would take without\n"
                " other jobs on the cores)\n");
    std::printf("%-16s %-7s %5s %10s %12s %12s %12s %12s\n", "model", "format", "R", "ms/layer",
                "linear GF/s", "tok/s", "cpu GF/s", "cpu tok/s");
    for (const auto& m : models) {
      for (Fmt f : fmts) {
        for (uint64_t R : {uint64_t{128}, uint64_t{512}}) {
          const PrefillTiming t = bench_prefill_layer(m, f, R, std::max(3, args.reps / 2));
          // whole model: every layer once per chunk (the output head only for the last token,
          // left out)
          const double tok = R / (t.wall * m.layers);
          const double cpu_t = t.cpu / args.threads;
          std::printf("%-16s %-7s %5lu %10.2f %12.1f %12.1f %12.1f %12.1f\n", m.name, fmt_name(f),
                      static_cast<unsigned long>(R), t.wall * 1e3, t.flops / t.linear_wall / 1e9,
                      tok, t.flops / cpu_t / 1e9, R / (cpu_t * m.layers));
          std::printf("RESULT prefill model=%s fmt=%s R=%lu threads=%u layer_ms=%.3f linear_gflops=%.1f tok_s=%.1f cpu_tok_s=%.1f\n",
                      m.name, fmt_name(f), static_cast<unsigned long>(R), args.threads, t.wall * 1e3,
                      t.flops / t.linear_wall / 1e9, tok, R / (cpu_t * m.layers));
        }
      }
    }
  }
  return 0;
}
