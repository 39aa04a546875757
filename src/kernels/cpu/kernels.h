// CPU kernels for the runtime: linear layers (matvec/matmul) for every weight format, norms, RoPE,
// softmax, activations, KV cache row formats and attention. One ISA dispatch point chooses the
// variant of every kernel at run time (scalar / AVX2 / AVX-512); a persistent thread pool runs them.
//
// Conventions
// - Everything is row-major. Activations are f32. A "row" of a weight is one output feature.
// - Kernels never allocate: every buffer (outputs, scratch) comes from the caller, so the runtime
//   can take them from its planned, accounted workspace. Sizes of scratch are given by the
//   *_scratch_bytes functions below (pure functions of shapes and thread count).
// - The thread pool is global: call kernels from one thread at a time. Each kernel splits its own
//   work over num_threads() threads and returns when all of it is done.
// - Bad arguments (shapes, unsupported formats, scratch too small) throw mlxcel errors
//   (FormatError for weight shapes/dtypes, ConfigError for unsupported quantization parameters,
//   UsageError for bad call arguments) with messages "[kernels] ...". Nothing is asserted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "mlxcel/dtype.h"
#include "mlxcel/estimate.h"  // KvCacheType: the cache type names shared with the estimator

namespace mlxcel::kernels {

// ---------------------------------------------------------------------------------------------
// ISA detection and dispatch
// ---------------------------------------------------------------------------------------------

// Levels are cumulative. Avx2 = AVX2+FMA+F16C. Avx512 = Avx2 + AVX-512 F/BW/VL/DQ + VNNI.
// Avx512Bf16 = Avx512 + AVX512_BF16 (vdpbf16ps for bf16 weights).
enum class Isa : uint8_t { Scalar, Avx2, Avx512, Avx512Bf16 };
std::string_view isa_name(Isa isa);                    // "scalar", "avx2", "avx512", "avx512bf16"
std::optional<Isa> isa_from_name(std::string_view s);  // the names above, case-insensitive

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vnni = false, avx512bf16 = false, avx_vnni = false;
  bool os_avx = false, os_avx512 = false;  // XCR0 says the OS saves the ymm / zmm state
};
const CpuFeatures& cpu_features();  // cpuid + xgetbv, detected once
Isa best_isa();                     // highest level this CPU and OS support

// The level kernels use now. Starts at best_isa(), lowered by env MLXCEL_ISA=<name> if set
// (a level above best_isa() is clamped down with a warning on stderr).
Isa active_isa();
// Forces a level (tests, benchmarks); UsageError if the CPU does not support it. Returns the
// previous level.
Isa set_isa(Isa isa);

// ---------------------------------------------------------------------------------------------
// Thread pool
// ---------------------------------------------------------------------------------------------

// Threads kernels run on (the caller's thread counts as one). Default: 1 until set; the
// runtime sets it from --threads. n = 0 means hardware_concurrency(). Workers spin briefly after
// a job, then sleep on a condition variable. Also sets OpenBLAS to one thread (we split work).
void set_num_threads(uint32_t n);
uint32_t num_threads();

// Runs fn(begin, end, thread) over [0, n) on the pool: the range is cut into contiguous chunks
// (about 4 per thread, boundaries multiples of `align` except the end) that threads claim in
// order, so fn may be called several times per thread; `thread` < num_threads() identifies the
// caller's per-thread scratch. Blocks until all are done. For the runtime's own loops; fn must
// not throw or call back into kernels.
template <class F>
void parallel_for(uint64_t n, uint64_t align, F&& fn);

// ---------------------------------------------------------------------------------------------
// Weights and linear layers
// ---------------------------------------------------------------------------------------------

// A weight matrix [rows = out features, cols = in features] exactly as stored in safetensors.
//  - dense: data is F32, F16 or BF16 [rows, cols].
//  - MLX affine: data is U32 [rows, cols*bits/32], element j of a row at bits (j*bits)%32 of word
//    j*bits/32 (little-endian); scales and biases are F16 or BF16 [rows, cols/group_size];
//    w = scale*q + bias. bits 4 or 8, group_size 32, 64 or 128 (F32 scales also accepted).
struct Weight {
  DType dtype = DType::F32;  // F32, F16, BF16, or U32 for MLX affine
  uint64_t rows = 0;
  uint64_t cols = 0;
  const void* data = nullptr;
  // MLX affine only
  uint32_t bits = 0;
  uint32_t group_size = 0;
  DType scale_dtype = DType::F16;  // of scales and biases
  const void* scales = nullptr;
  const void* biases = nullptr;

  bool quantized() const { return dtype == DType::U32; }
};
Weight dense_weight(DType dtype, uint64_t rows, uint64_t cols, const void* data);
Weight affine_weight(uint64_t rows, uint64_t cols, uint32_t bits, uint32_t group_size,
                     const void* data, DType scale_dtype, const void* scales, const void* biases);
// Throws if the weight is malformed: unsupported dtype/bits/group, cols not a multiple of the
// group (quantized) or of 32/bits, null pointers.
void validate_weight(const Weight& w);
// Bytes of data (+ scales + biases) the weight occupies; what one matvec reads.
uint64_t weight_bytes(const Weight& w);

struct LinearOptions {
  // Output features computed: [row_begin, row_end) of the weight's rows (end clamped to rows).
  uint64_t row_begin = 0;
  uint64_t row_end = UINT64_MAX;
  // Stride of y between activation rows, in floats; 0 means w.rows. y[r*stride + o] for o in the
  // range (the range is NOT shifted to 0: y's column o is weight row o).
  uint64_t y_stride = 0;
  // Stride of x between activation rows, in floats; 0 means w.cols.
  uint64_t x_stride = 0;
  // y += x·W^T instead of y = x·W^T (fuses a residual add).
  bool accumulate = false;
};

// Scratch the linear kernels need for `n` activation rows of weight w on `threads` threads
// (quantized activations, packed weight panels for the blocked GEMMs). Callers size one buffer
// as the max over their weights for their largest n. The same on every ISA level; exactly
// (a64(v) = v rounded up to a multiple of 64, n16 = n rounded up to a multiple of 16,
//  G = cols / group_size):
//   64 (alignment slack)
//   + affine: a64(n16*cols) + 3*a64(n16*G*4), and when n >= 8: threads * a64(32*cols + 256*G)
//   + f16/bf16 when n >= 8: a64(n16*cols*2) + threads * a64(256*cols)
//   (f32: nothing more)
uint64_t linear_scratch_bytes(const Weight& w, uint64_t n, uint32_t threads);

// y[n, rows] = x[n, cols] · W^T for any weight format, on the thread pool. n = 1 is the decode
// matvec; larger n (prefill chunks) uses blocked GEMM kernels (OpenBLAS sgemm for f32 when
// faster). Quantized weights quantize x once per call to int8 per group (float scale), use
// integer dot products and apply Σw·x = scale·Σq·x + bias·Σx per group. scratch must hold
// linear_scratch_bytes(w, n, num_threads()) bytes (UsageError otherwise); align 64 preferred.
void linear(const Weight& w, const float* x, uint64_t n, float* y, std::span<std::byte> scratch,
            const LinearOptions& opt = {});

// One output of linear_fused: y[n, w->rows] = x · W^T (y_stride w->rows, no accumulate).
struct LinearOut {
  const Weight* w;
  float* y;
};

// Several linears over the same x (q/k/v, gate/up) in one pool job: on the matvec path (n below
// the GEMM threshold) the threads meet once for all of their rows instead of once per weight, and
// quantized weights of one format share one quantization of x. Weights must have the same cols.
// Otherwise (GEMM sizes, or weights of different formats) each runs as linear(). scratch: the
// max of linear_scratch_bytes over the weights.
void linear_fused(std::span<const LinearOut> outs, const float* x, uint64_t n,
                  std::span<std::byte> scratch);

// Dequantizes/converts weight row `row` (an embedding lookup) into out[cols].
void embedding_row(const Weight& w, uint64_t row, float* out);

// ---------------------------------------------------------------------------------------------
// Element-wise and row ops (single pass, multi-threaded over rows where it pays)
// ---------------------------------------------------------------------------------------------

// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w   (w, of dtype F32/F16/BF16, length dim)
// add_one: Gemma style, multiply by (1 + w). y may equal x.
void rms_norm(const float* x, float* y, uint64_t n_rows, uint64_t dim, const void* w,
              DType w_dtype, float eps, bool add_one = false);

// x[r, :] += v (a bias such as qwen2's q/k/v bias; v of dtype F32/F16/BF16, length dim).
void add_row_vector(float* x, uint64_t n_rows, uint64_t dim, const void* v, DType v_dtype);

// out = a + b (n floats); out may alias a or b.
void add(const float* a, const float* b, float* out, uint64_t n);

// out = silu(gate) * up, silu(g) = g / (1 + exp(-g)); out may alias gate or up.
void silu_mul(const float* gate, const float* up, float* out, uint64_t n);
// out = gelu_tanh(gate) * up (Gemma's GeGLU); out may alias.
void gelu_tanh_mul(const float* gate, const float* up, float* out, uint64_t n);

// In-place softmax over each of n_rows rows of length n (max-subtracted, f32).
void softmax(float* x, uint64_t n_rows, uint64_t n);

// ---------------------------------------------------------------------------------------------
// RoPE
// ---------------------------------------------------------------------------------------------

enum class RopeStyle : uint8_t {
  Neox,        // half split: pairs (i, i + rotary_dim/2) — HF Llama/Mistral/Qwen "rotate_half"
  Interleaved  // adjacent pairs (2i, 2i+1) — GPT-J / original Meta Llama checkpoints
};

enum class RopeScalingType : uint8_t { Default, Linear, Llama3, Yarn };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::Default;
  double factor = 1.0;                           // linear, llama3, yarn
  double low_freq_factor = 1.0;                  // llama3
  double high_freq_factor = 4.0;                 // llama3
  uint64_t original_max_position_embeddings = 0; // llama3, yarn (required there)
  double beta_fast = 32.0;                       // yarn
  double beta_slow = 1.0;                        // yarn
  double attention_factor = 0.0;                 // yarn: 0 = computed as 0.1*ln(factor)+1
  double mscale = 0.0, mscale_all_dim = 0.0;     // yarn (DeepSeek style), 0 = unset
  bool truncate = true;                          // yarn: floor/ceil the correction range
};

// Writes inv_freq[rotary_dim/2] for base theta (Hugging Face semantics of rope_scaling) and
// returns the attention factor to pass to rope() (1 except for yarn). rotary_dim even, > 0;
// ConfigError on invalid parameters (factor <= 0, missing original_max_position_embeddings...).
float rope_inv_freq(double theta, uint32_t rotary_dim, const RopeScaling& scaling,
                    float* inv_freq);

// Rotates x[n_tokens, n_heads, head_dim] in place. Token t is at position pos0 + t, or
// positions[t] when positions is non-null. Only the first rotary_dim dims of each head rotate
// (partial rotary); angle for pair i = position * inv_freq[i]; cos and sin are multiplied by
// attention_factor (yarn's mscale). head_stride: floats between heads (0 = head_dim); token
// stride = n_heads * head_stride.
void rope(float* x, uint64_t n_tokens, uint32_t n_heads, uint32_t head_dim, uint32_t rotary_dim,
          const float* inv_freq, RopeStyle style, uint64_t pos0,
          const uint64_t* positions = nullptr, float attention_factor = 1.0f,
          uint32_t head_stride = 0);

// ---------------------------------------------------------------------------------------------
// KV cache rows
// ---------------------------------------------------------------------------------------------

// Supported: F32, F16, BF16, Q8_0, Q4_0, Q8, Q4 (names as the estimator: "f32" ... "q4").
// Row layouts for a row of d values (d a multiple of the block):
//   f32  d*4 B; f16/bf16 d*2 B
//   q8_0 d/32 blocks of 34 B: f16 d, 32 x int8 q; value = q*d
//   q4_0 d/32 blocks of 18 B: f16 d, 16 B; byte j: low nibble = element j, high = element j+16;
//        value = (nibble - 8) * d   (ggml layout)
//   q8   d/64 groups of 68 B: 64 x uint8 q, f16 scale, f16 bias; value = scale*q + bias
//   q4   d/64 groups of 36 B: 32 B packed as MLX (byte j: low nibble = element 2j, high = 2j+1),
//        f16 scale, f16 bias; value = scale*q + bias
bool kv_type_supported(KvCacheType t);
// Bytes of one row of `head_dim` values; UsageError if unsupported or not a whole number of
// blocks.
uint64_t kv_cache_row_bytes(KvCacheType t, uint64_t head_dim);
// Quantizes / converts one row of head_dim floats into dst (kv_cache_row_bytes bytes).
void kv_quantize_row(KvCacheType t, const float* src, uint64_t head_dim, void* dst);
// The inverse: dst[head_dim] floats.
void kv_dequantize_row(KvCacheType t, const void* src, uint64_t head_dim, float* dst);

// One layer's K (or V) cache for one sequence. Head-major: the row of kv head h at slot s is at
// data + (h*capacity + s) * kv_cache_row_bytes(type, head_dim). Position p lives in slot
// p % capacity, so a full layer has capacity = context and a sliding layer (window W) a ring of
// capacity = W rows. Bytes = n_kv_heads * capacity * row bytes.
struct KvCacheView {
  KvCacheType type = KvCacheType::F16;
  void* data = nullptr;
  uint32_t n_kv_heads = 0;
  uint32_t head_dim = 0;
  uint64_t capacity = 0;
};
uint64_t kv_cache_bytes(const KvCacheView& c);

// Stores n_tokens rows src[n_tokens, n_kv_heads, head_dim] (token t at position pos0 + t;
// src_stride floats between tokens, 0 = n_kv_heads*head_dim) into their slots. When n_tokens
// exceeds the capacity only the last `capacity` tokens are written (earlier ones would be
// overwritten anyway). Multi-threaded over rows.
void kv_store(const KvCacheView& cache, const float* src, uint64_t n_tokens, uint64_t pos0,
              uint64_t src_stride = 0);

// ---------------------------------------------------------------------------------------------
// Attention
// ---------------------------------------------------------------------------------------------

struct AttentionParams {
  uint32_t n_heads = 0;     // query heads
  uint32_t n_kv_heads = 0;  // n_heads % n_kv_heads == 0 (GQA: head h uses kv head h/(n_heads/n_kv_heads))
  uint32_t head_dim_k = 0;  // q and k
  uint32_t head_dim_v = 0;  // v and output
  float scale = 0.0f;       // usually 1/sqrt(head_dim_k)
  uint64_t window = 0;      // 0 = full; else key kp visible to query qp iff qp - kp < window
  float softcap = 0.0f;     // > 0: score = softcap * tanh(score / softcap) (Gemma 2)
  const float* sinks = nullptr;  // [n_heads] per-head sink logits joining the softmax (gpt-oss)
};

// Causal attention of n_q query tokens at positions q_pos0 .. q_pos0+n_q-1.
//  q    [n_q, n_heads, head_dim_k] (q_stride floats between tokens, 0 = n_heads*head_dim_k)
//  out  [n_q, n_heads, head_dim_v] (out_stride, 0 = n_heads*head_dim_v)
// Keys/values come from two places, both masked the same way (kp <= qp, and the window):
//  - the caches, holding positions [max(0, n_past - capacity), n_past) (those already stored
//    with kv_store; the two caches must have the same capacity and n_kv_heads);
//  - optionally the new tokens' K/V in f32, k_new [n_q, n_kv_heads, head_dim_k] and v_new
//    [n_q, n_kv_heads, head_dim_v] at the query positions (strides kv_new_stride_k/_v, 0 =
//    packed), or nullptr when the caller stored them in the caches first.
// With a sliding layer's ring of W rows, pass the chunk as k_new/v_new and call kv_store after
// attention: storing first would overwrite keys that earlier queries of the chunk still need.
// Positions of the new tokens must not also be in the cache range.
// scores: caller scratch of scores_rows rows of scores_stride floats; each thread uses one row,
// so scores_rows >= min(num_threads(), n_q*n_kv_heads) and scores_stride >= the keys one query
// can see (<= min(n_past, capacity) + n_q, itself <= context). UsageError if too small. The
// kernel walks the keys in tiles of up to 32 with an online softmax and keeps a tile of scores
// for the n_heads/n_kv_heads query heads of a kv head in the row (it needs at least that many
// floats). The plan budgets threads x context x 4 bytes for this.
struct AttentionInputs {
  const float* q = nullptr;
  uint64_t n_q = 0;
  uint64_t q_pos0 = 0;
  uint64_t q_stride = 0;
  const KvCacheView* k_cache = nullptr;  // may be null with n_past = 0
  const KvCacheView* v_cache = nullptr;
  uint64_t n_past = 0;
  const float* k_new = nullptr;
  const float* v_new = nullptr;
  uint64_t kv_new_stride_k = 0;
  uint64_t kv_new_stride_v = 0;
  float* out = nullptr;
  uint64_t out_stride = 0;
  float* scores = nullptr;
  uint64_t scores_stride = 0;
  uint32_t scores_rows = 0;
};
void attention(const AttentionParams& p, const AttentionInputs& in);

}  // namespace mlxcel::kernels

#include "kernels/cpu/thread_pool_impl.h"  // parallel_for's template body
