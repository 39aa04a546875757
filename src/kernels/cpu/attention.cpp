// Causal attention with GQA, sliding windows (ring-buffer caches), soft-capping and sinks, reading
// K/V in any cache row format. One (query token, head) per work item; each thread uses one row of
// the caller's scores scratch.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/cpu/common.h"
#include "kernels/cpu/kv_rows.h"
#include "mlxcel/errors.h"

namespace mlxcel::kernels {
namespace {

[[noreturn]] void bad_args(const std::string& what) {
  throw UsageError("kernels", "attention: " + what);
}

// Elements dequantized at a time by the generic kernels (a multiple of every block size).
constexpr uint64_t kChunk = 256;

void generic_scores(KvCacheType t, const void* rows, uint64_t row_bytes, uint64_t n,
                    const float* q, uint64_t d, float scale, float* out) {
  const KernelTable& kt = kernel_table();
  const KvRowFormat f = kv_row_format(t);
  float buf[kChunk];
  for (uint64_t i = 0; i < n; ++i) {
    const auto* row = static_cast<const uint8_t*>(rows) + i * row_bytes;
    float acc = 0;
    for (uint64_t e = 0; e < d; e += kChunk) {
      const uint64_t len = std::min(kChunk, d - e);
      kv_dequantize_row(t, row + e / f.block * f.block_bytes, len, buf);
      acc += kt.dot(buf, q + e, len);
    }
    out[i] = acc * scale;
  }
}

void generic_accum(KvCacheType t, const void* rows, uint64_t row_bytes, uint64_t n,
                   const float* p, uint64_t d, float* out) {
  const KernelTable& kt = kernel_table();
  const KvRowFormat f = kv_row_format(t);
  float buf[kChunk];
  for (uint64_t i = 0; i < n; ++i) {
    const auto* row = static_cast<const uint8_t*>(rows) + i * row_bytes;
    for (uint64_t e = 0; e < d; e += kChunk) {
      const uint64_t len = std::min(kChunk, d - e);
      kv_dequantize_row(t, row + e / f.block * f.block_bytes, len, buf);
      kt.axpy(p[i], buf, out + e, len);
    }
  }
}

template <KvCacheType T>
void scores_t(const void* rows, uint64_t rb, uint64_t n, const float* q, uint64_t d, float scale,
              float* out) {
  generic_scores(T, rows, rb, n, q, d, scale, out);
}
template <KvCacheType T>
void accum_t(const void* rows, uint64_t rb, uint64_t n, const float* p, uint64_t d, float* out) {
  generic_accum(T, rows, rb, n, p, d, out);
}

void f32_scores(const void* rows, uint64_t rb, uint64_t n, const float* q, uint64_t d,
                float scale, float* out) {
  const KernelTable& kt = kernel_table();
  for (uint64_t i = 0; i < n; ++i) {
    out[i] = kt.dot(reinterpret_cast<const float*>(static_cast<const uint8_t*>(rows) + i * rb), q, d) * scale;
  }
}
void f32_accum(const void* rows, uint64_t rb, uint64_t n, const float* p, uint64_t d, float* out) {
  const KernelTable& kt = kernel_table();
  for (uint64_t i = 0; i < n; ++i) {
    kt.axpy(p[i], reinterpret_cast<const float*>(static_cast<const uint8_t*>(rows) + i * rb), out, d);
  }
}

// Contiguous runs of slots holding positions [p0, p1) in a ring of `cap` slots (at most two).
struct Segment {
  uint64_t slot, count;
};
int ring_segments(uint64_t p0, uint64_t p1, uint64_t cap, Segment seg[2]) {
  if (p1 <= p0) return 0;
  const uint64_t s0 = p0 % cap;
  const uint64_t n = p1 - p0;
  if (s0 + n <= cap) {
    seg[0] = {s0, n};
    return 1;
  }
  seg[0] = {s0, cap - s0};
  seg[1] = {0, n - (cap - s0)};
  return 2;
}

struct KeyRanges {
  uint64_t cache_lo, cache_hi;  // positions in the cache
  uint64_t new_lo, new_hi;      // indices into the new tokens
  uint64_t count() const { return (cache_hi - cache_lo) + (new_hi - new_lo); }
};

KeyRanges visible_keys(const AttentionParams& p, const AttentionInputs& in, uint64_t capacity,
                       uint64_t qi) {
  const uint64_t qp = in.q_pos0 + qi;
  const uint64_t lo = (p.window > 0 && qp + 1 > p.window) ? qp + 1 - p.window : 0;
  KeyRanges r{};
  const uint64_t c_first = in.n_past > capacity ? in.n_past - capacity : 0;
  r.cache_lo = std::max(c_first, lo);
  r.cache_hi = std::min(in.n_past, qp + 1);
  if (r.cache_hi < r.cache_lo) r.cache_hi = r.cache_lo;
  if (in.k_new != nullptr) {
    r.new_lo = lo > in.q_pos0 ? lo - in.q_pos0 : 0;
    r.new_hi = qi + 1;
    if (r.new_hi < r.new_lo) r.new_hi = r.new_lo;
  }
  return r;
}

}  // namespace

KvKernels kv_kernels(KvCacheType t) {
  switch (t) {
    case KvCacheType::F32: return {f32_scores, f32_accum};
    case KvCacheType::F16: return {scores_t<KvCacheType::F16>, accum_t<KvCacheType::F16>};
    case KvCacheType::BF16: return {scores_t<KvCacheType::BF16>, accum_t<KvCacheType::BF16>};
    case KvCacheType::Q8_0: return {scores_t<KvCacheType::Q8_0>, accum_t<KvCacheType::Q8_0>};
    case KvCacheType::Q4_0: return {scores_t<KvCacheType::Q4_0>, accum_t<KvCacheType::Q4_0>};
    case KvCacheType::Q8: return {scores_t<KvCacheType::Q8>, accum_t<KvCacheType::Q8>};
    case KvCacheType::Q4: return {scores_t<KvCacheType::Q4>, accum_t<KvCacheType::Q4>};
    default: return {nullptr, nullptr};
  }
}

void attention(const AttentionParams& p, const AttentionInputs& in) {
  if (p.n_heads == 0 || p.n_kv_heads == 0 || p.n_heads % p.n_kv_heads != 0) {
    bad_args("n_heads must be a positive multiple of n_kv_heads (n_heads, " +
             std::to_string(p.n_heads) + ", n_kv_heads " + std::to_string(p.n_kv_heads) + ")");
  }
  if (p.head_dim_k == 0 || p.head_dim_v == 0) bad_args("head dims must be > 0");
  if (in.n_q == 0) return;
  if (in.q == nullptr || in.out == nullptr || in.scores == nullptr) bad_args("null q, out or scores");
  if ((in.k_new == nullptr) != (in.v_new == nullptr)) bad_args("k_new and v_new must both be set or both null");
  const bool has_cache = in.n_past > 0;
  uint64_t capacity = 0;
  uint64_t k_row = 0, v_row = 0;
  if (has_cache) {
    if (in.k_cache == nullptr || in.v_cache == nullptr) bad_args("n_past > 0 but no caches");
    const KvCacheView& kc = *in.k_cache;
    const KvCacheView& vc = *in.v_cache;
    if (kc.data == nullptr || vc.data == nullptr) bad_args("cache data is null");
    if (kc.capacity == 0 || kc.capacity != vc.capacity) bad_args("K and V caches must have the same non-zero capacity");
    if (kc.n_kv_heads != p.n_kv_heads || vc.n_kv_heads != p.n_kv_heads) bad_args("cache n_kv_heads differs from the params");
    if (kc.head_dim != p.head_dim_k || vc.head_dim != p.head_dim_v) bad_args("cache head_dim differs from the params");
    capacity = kc.capacity;
    k_row = kv_cache_row_bytes(kc.type, kc.head_dim);
    v_row = kv_cache_row_bytes(vc.type, vc.head_dim);
    if (in.k_new != nullptr && in.q_pos0 < in.n_past) {
      bad_args("new tokens' positions overlap the cache (q_pos0, " + std::to_string(in.q_pos0) +
               ", n_past " + std::to_string(in.n_past) + ")");
    }
  }
  const uint64_t qs = in.q_stride ? in.q_stride : uint64_t{p.n_heads} * p.head_dim_k;
  const uint64_t os = in.out_stride ? in.out_stride : uint64_t{p.n_heads} * p.head_dim_v;
  const uint64_t ks = in.kv_new_stride_k ? in.kv_new_stride_k : uint64_t{p.n_kv_heads} * p.head_dim_k;
  const uint64_t vs = in.kv_new_stride_v ? in.kv_new_stride_v : uint64_t{p.n_kv_heads} * p.head_dim_v;
  uint64_t most = 0;
  for (uint64_t qi = 0; qi < in.n_q; ++qi) most = std::max(most, visible_keys(p, in, capacity, qi).count());
  if (most > in.scores_stride) {
    bad_args("scores scratch row too short (scores_stride, " + std::to_string(in.scores_stride) +
             ", keys visible " + std::to_string(most) + ")");
  }
  const uint64_t units = in.n_q * p.n_heads;
  const uint64_t threads_used = std::min<uint64_t>(num_threads(), units);
  if (in.scores_rows < threads_used) {
    bad_args("scores scratch has too few rows (scores_rows, " + std::to_string(in.scores_rows) +
             ", threads " + std::to_string(threads_used) + ")");
  }
  const KvKernels kk = has_cache ? kv_kernels(in.k_cache->type) : KvKernels{};
  const KvKernels vk = has_cache ? kv_kernels(in.v_cache->type) : KvKernels{};
  const KvKernels fk = kv_kernels(KvCacheType::F32);
  const uint32_t group = p.n_heads / p.n_kv_heads;
  const KernelTable& kt = kernel_table();

  parallel_for(units, 1, [&](uint64_t b, uint64_t e, uint32_t t) {
    float* sc = in.scores + t * in.scores_stride;
    for (uint64_t u = b; u < e; ++u) {
      const uint64_t qi = u / p.n_heads;
      const uint32_t h = static_cast<uint32_t>(u % p.n_heads);
      const uint32_t kvh = h / group;
      const float* q = in.q + qi * qs + uint64_t{h} * p.head_dim_k;
      float* out = in.out + qi * os + uint64_t{h} * p.head_dim_v;
      const KeyRanges r = visible_keys(p, in, capacity, qi);
      Segment seg[2];
      const int nseg = has_cache ? ring_segments(r.cache_lo, r.cache_hi, capacity, seg) : 0;
      uint64_t n = 0;
      for (int s = 0; s < nseg; ++s) {
        const auto* rows = static_cast<const uint8_t*>(in.k_cache->data) +
                           (uint64_t{kvh} * capacity + seg[s].slot) * k_row;
        kk.scores(rows, k_row, seg[s].count, q, p.head_dim_k, p.scale, sc + n);
        n += seg[s].count;
      }
      const uint64_t n_cache = n;
      if (r.new_hi > r.new_lo) {
        fk.scores(in.k_new + r.new_lo * ks + uint64_t{kvh} * p.head_dim_k, ks * 4,
                  r.new_hi - r.new_lo, q, p.head_dim_k, p.scale, sc + n);
        n += r.new_hi - r.new_lo;
      }
      std::memset(out, 0, p.head_dim_v * sizeof(float));
      if (n == 0) continue;
      if (p.softcap > 0) {
        const float inv = 1.0f / p.softcap;
        for (uint64_t i = 0; i < n; ++i) sc[i] = p.softcap * std::tanh(sc[i] * inv);
      }
      if (p.sinks != nullptr) {
        // The sink joins the softmax denominator but carries no value.
        const float sink = p.sinks[h];
        float mx = sink;
        for (uint64_t i = 0; i < n; ++i) mx = std::max(mx, sc[i]);
        float sum = std::exp(sink - mx);
        for (uint64_t i = 0; i < n; ++i) {
          sc[i] = std::exp(sc[i] - mx);
          sum += sc[i];
        }
        const float invs = 1.0f / sum;
        for (uint64_t i = 0; i < n; ++i) sc[i] *= invs;
      } else {
        kt.softmax_row(sc, n);
      }
      n = 0;
      for (int s = 0; s < nseg; ++s) {
        const auto* rows = static_cast<const uint8_t*>(in.v_cache->data) +
                           (uint64_t{kvh} * capacity + seg[s].slot) * v_row;
        vk.accum(rows, v_row, seg[s].count, sc + n, p.head_dim_v, out);
        n += seg[s].count;
      }
      (void)n_cache;
      if (r.new_hi > r.new_lo) {
        fk.accum(in.v_new + r.new_lo * vs + uint64_t{kvh} * p.head_dim_v, vs * 4,
                 r.new_hi - r.new_lo, sc + n, p.head_dim_v, out);
      }
    }
  });
}

}  // namespace mlxcel::kernels
