// Causal attention with GQA, sliding windows (ring-buffer caches), soft-capping and sinks, reading
// K/V in any cache row format. A work item is (query token, kv head) with the n_heads/n_kv_heads
// query heads that share the kv head, so each K/V row is read and dequantized once per item. Keys
// are processed in tiles with an online softmax; a thread's tile of scores lives in its row of
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

constexpr uint64_t kTile = 32;          // keys per tile widened into a stack buffer
constexpr uint64_t kDirectTile = 128;   // keys per tile read in place (new f32 keys, F16/BF16 cache)
constexpr uint64_t kMaxHeadDim = kAttnMaxHeadDim;  // dequantized K/V tiles live on the worker's stack
constexpr uint64_t kBlockRows = kAttnBlockRows;    // query rows (queries x heads) per block tile

[[noreturn]] void bad_args(const std::string& what) {
  throw UsageError("kernels", "attention: " + what);
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

// Slot `slot` of kv head kvh in a cache of row_bytes rows.
const uint8_t* cache_row(const KvCacheView& c, uint32_t kvh, uint64_t slot, uint64_t row_bytes) {
  return static_cast<const uint8_t*>(c.data) + (uint64_t{kvh} * c.capacity + slot) * row_bytes;
}

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

// max(init, x[0..n)) in 8 independent chains: one chain of dependent max ops per key was ~5% of
// a 4096-token prefill once the score tiles were fast.
float max_of(const float* x, uint64_t n, float init) {
  float m[8];
  for (float& v : m) v = init;
  uint64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int i = 0; i < 8; ++i) m[i] = std::max(m[i], x[j + i]);
  }
  for (; j < n; ++j) m[0] = std::max(m[0], x[j]);
  float mx = m[0];
  for (int i = 1; i < 8; ++i) mx = std::max(mx, m[i]);
  return mx;
}

// Online-softmax state of the G heads of one work item.
struct HeadState {
  float m[256];  // running max (scores already scaled/capped)
  float l[256];  // running sum of exp(score - m)
};

}  // namespace

void attention(const AttentionParams& p, const AttentionInputs& in) {
  if (p.n_heads == 0 || p.n_kv_heads == 0 || p.n_heads % p.n_kv_heads != 0) {
    bad_args("n_heads must be a positive multiple of n_kv_heads (n_heads, " +
             std::to_string(p.n_heads) + ", n_kv_heads " + std::to_string(p.n_kv_heads) + ")");
  }
  if (p.head_dim_k == 0 || p.head_dim_v == 0 || p.head_dim_k > kMaxHeadDim || p.head_dim_v > kMaxHeadDim) {
    bad_args("head dims must be in 1.." + std::to_string(kMaxHeadDim) + " (head_dim_k, " +
             std::to_string(p.head_dim_k) + ", head_dim_v " + std::to_string(p.head_dim_v) + ")");
  }
  const uint32_t G = p.n_heads / p.n_kv_heads;
  if (G > 256) bad_args("more than 256 query heads per kv head");
  if (in.n_q == 0) return;
  if (in.q == nullptr || in.out == nullptr || in.scores == nullptr) bad_args("null q, out or scores");
  if ((in.k_new == nullptr) != (in.v_new == nullptr)) bad_args("k_new and v_new must both be set or both null");
  const bool has_cache = in.n_past > 0;
  uint64_t capacity = 0, k_row = 0, v_row = 0;
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
  // Keys per tile: the G x T tile of scores must fit the thread's scores row.
  const uint64_t T = std::min<uint64_t>(kTile, in.scores_stride / G);
  if (T == 0) {
    bad_args("scores scratch row shorter than the query heads per kv head (scores_stride, " +
             std::to_string(in.scores_stride) + ")");
  }
  const KernelTable& kt = kernel_table();
  const uint64_t dk = p.head_dim_k, dv = p.head_dim_v;
  // F16/BF16 cache rows read in place where the ISA level has the kernels; tiles of those (and of
  // the new tokens' f32 rows) need no widened copy, so they can be longer (fewer online-softmax
  // rescales of the output).
  auto half_direct = [&](const KvCacheView* c, uint64_t d, bool have) {
    return have && has_cache && d % 16 == 0 && (c->type == KvCacheType::F16 || c->type == KvCacheType::BF16);
  };
  const bool half_k = half_direct(in.k_cache, dk, kt.attn_scores_half != nullptr);
  const bool half_v = half_direct(in.v_cache, dv, kt.attn_pv_half != nullptr);
  const uint64_t T_direct = std::min<uint64_t>(kDirectTile, in.scores_stride / G);
  // Blocks of 16 query rows (16 / G queries) share each K/V tile (prefill; kt.attn_block_tile):
  // for the keys all of a block's queries see; each query's own remainder (the causal diagonal,
  // a sliding window's front) goes through the per-query path.
  auto row_kind = [&](const KvCacheView* c) {
    return !has_cache ? 0 : c->type == KvCacheType::F32 ? 0 : c->type == KvCacheType::F16 ? 1 : c->type == KvCacheType::BF16 ? 2 : -1;
  };
  const int k_kind = row_kind(in.k_cache), v_kind = row_kind(in.v_cache);
  const uint64_t T_block = std::min<uint64_t>(kDirectTile, in.scores_stride / kBlockRows);
  const bool blocked = kt.attn_block_tile != nullptr && p.softcap == 0 && G <= kBlockRows && kBlockRows % G == 0 &&
                       dk % 16 == 0 && dv % 16 == 0 && k_kind >= 0 && v_kind >= 0 && T_block > 0;
  const uint64_t qb = kBlockRows / G;  // queries per block
  const uint64_t n_blocks = blocked && in.n_q >= 2 * qb ? in.n_q / qb : 0;
  const uint64_t n_single = in.n_q - n_blocks * qb;  // the last queries, one per work item
  const uint64_t units = (n_single + n_blocks) * p.n_kv_heads;
  const uint64_t threads_used = std::min<uint64_t>(num_threads(), units);
  if (in.scores_rows < threads_used) {
    bad_args("scores scratch has too few rows (scores_rows, " + std::to_string(in.scores_rows) +
             ", threads " + std::to_string(threads_used) + ")");
  }

  parallel_for(units, 1, [&](uint64_t b, uint64_t e, uint32_t t) {
    float* sc = in.scores + t * in.scores_stride;
    alignas(64) float ktile[kTile * kMaxHeadDim];
    alignas(64) float vtile[kTile * kMaxHeadDim];
    alignas(64) float qt[kMaxHeadDim * kBlockRows];
    HeadState st;
    const float* q = nullptr;
    float* out = nullptr;
    float *m = nullptr, *l = nullptr;  // the current query's rows of st
    // The online softmax over the n scores of a tile in sc: rescales out and the state.
    auto update = [&](uint64_t n) {
      for (uint32_t g = 0; g < G; ++g) {
        float* s = sc + g * n;
        if (p.softcap > 0) {
          const float inv = 1.0f / p.softcap;
          for (uint64_t j = 0; j < n; ++j) s[j] = p.softcap * std::tanh(s[j] * inv);
        }
        const float mx = max_of(s, n, m[g]);
        const float corr = std::exp(m[g] - mx);  // 0 on the first tile (m = -inf)
        const float sum = kt.exp_sum(s, n, mx);
        l[g] = l[g] * corr + sum;
        m[g] = mx;
        if (corr != 1.0f) {
          float* o = out + g * dv;
          for (uint64_t i = 0; i < dv; ++i) o[i] *= corr;
        }
      }
    };
    // One tile of n keys: k rows (k_stride floats apart) and v rows, already f32.
    auto tile = [&](const float* kr, uint64_t k_stride, const float* vr, uint64_t v_stride, uint64_t n) {
      kt.attn_scores(q, dk, G, kr, k_stride, n, dk, p.scale, sc);
      update(n);
      kt.attn_pv(sc, n, G, vr, v_stride, dv, out, dv);
    };
    // Keys r of query qi (set by select) for its G heads.
    auto query_keys = [&](uint32_t kvh, const KeyRanges& r) {
      Segment seg[2];
      const int nseg = has_cache ? ring_segments(r.cache_lo, r.cache_hi, capacity, seg) : 0;
      for (int si = 0; si < nseg; ++si) {
        const uint8_t* kbase = cache_row(*in.k_cache, kvh, seg[si].slot, k_row);
        const uint8_t* vbase = cache_row(*in.v_cache, kvh, seg[si].slot, v_row);
        const uint64_t step = half_k && half_v ? T_direct : T;
        for (uint64_t j0 = 0; j0 < seg[si].count; j0 += step) {
          const uint64_t n = std::min(step, seg[si].count - j0);
          if (half_k) {
            kt.attn_scores_half(q, dk, G, kbase + j0 * k_row, k_row, n, dk, p.scale, sc,
                                in.k_cache->type == KvCacheType::BF16);
          } else if (in.k_cache->type == KvCacheType::F32) {
            kt.attn_scores(q, dk, G, reinterpret_cast<const float*>(kbase + j0 * k_row), dk, n, dk, p.scale, sc);
          } else {
            kt.kv_dequant(in.k_cache->type, kbase + j0 * k_row, k_row, n, dk, ktile);
            kt.attn_scores(q, dk, G, ktile, dk, n, dk, p.scale, sc);
          }
          update(n);
          if (half_v) {
            kt.attn_pv_half(sc, n, G, vbase + j0 * v_row, v_row, dv, out, dv,
                            in.v_cache->type == KvCacheType::BF16);
          } else if (in.v_cache->type == KvCacheType::F32) {
            kt.attn_pv(sc, n, G, reinterpret_cast<const float*>(vbase + j0 * v_row), dv, dv, out, dv);
          } else {
            kt.kv_dequant(in.v_cache->type, vbase + j0 * v_row, v_row, n, dv, vtile);
            kt.attn_pv(sc, n, G, vtile, dv, dv, out, dv);
          }
        }
      }
      for (uint64_t j0 = r.new_lo; j0 < r.new_hi; j0 += T_direct) {
        const uint64_t n = std::min(T_direct, r.new_hi - j0);
        tile(in.k_new + j0 * ks + uint64_t{kvh} * dk, ks, in.v_new + j0 * vs + uint64_t{kvh} * dv, vs, n);
      }
    };
    // Points q, out, m, l at query qi (state rows i*G.. of st) and kv head kvh.
    auto select = [&](uint64_t qi, uint32_t kvh, uint64_t i) {
      q = in.q + qi * qs + uint64_t{kvh} * G * dk;
      out = in.out + qi * os + uint64_t{kvh} * G * dv;
      m = st.m + i * G;
      l = st.l + i * G;
    };
    auto start = [&](uint64_t qi, uint32_t kvh, uint64_t i) {
      select(qi, kvh, i);
      for (uint32_t g = 0; g < G; ++g) {
        m[g] = -INFINITY;
        l[g] = 0;
        std::memset(out + g * dv, 0, dv * sizeof(float));
      }
    };
    auto finish = [&](uint64_t qi, uint32_t kvh, uint64_t i) {
      select(qi, kvh, i);
      for (uint32_t g = 0; g < G; ++g) {
        float lg = l[g];
        float* o = out + g * dv;
        if (p.sinks != nullptr) {
          // The sink joins the softmax denominator but carries no value.
          const float sink = p.sinks[kvh * G + g];
          const float mx = std::max(m[g], sink);
          const float c = std::exp(m[g] - mx);
          lg = lg * c + std::exp(sink - mx);
          for (uint64_t x = 0; x < dv; ++x) o[x] *= c;
        }
        if (lg > 0) {
          const float inv = 1.0f / lg;
          for (uint64_t x = 0; x < dv; ++x) o[x] *= inv;
        }
      }
    };
    // The keys all queries q0..q0+qb-1 see, in 16-row tiles.
    auto block_keys = [&](uint64_t q0, uint32_t kvh, const KeyRanges& c) {
      for (uint64_t i = 0; i < qb; ++i) {
        for (uint32_t g = 0; g < G; ++g) {
          const float* qr = in.q + (q0 + i) * qs + (uint64_t{kvh} * G + g) * dk;
          const uint64_t r = i * G + g;
          for (uint64_t x = 0; x < dk; ++x) qt[x * kBlockRows + r] = qr[x] * p.scale;
        }
      }
      float* o = in.out + q0 * os + uint64_t{kvh} * G * dv;
      Segment seg[2];
      const int nseg = has_cache ? ring_segments(c.cache_lo, c.cache_hi, capacity, seg) : 0;
      for (int si = 0; si < nseg; ++si) {
        const uint8_t* kbase = cache_row(*in.k_cache, kvh, seg[si].slot, k_row);
        const uint8_t* vbase = cache_row(*in.v_cache, kvh, seg[si].slot, v_row);
        for (uint64_t j0 = 0; j0 < seg[si].count; j0 += T_block) {
          const uint64_t n = std::min(T_block, seg[si].count - j0);
          kt.attn_block_tile(qt, kbase + j0 * k_row, k_row, k_kind, vbase + j0 * v_row, v_row, v_kind, n, dk, dv,
                             st.m, st.l, o, os, G, sc);
        }
      }
      for (uint64_t j0 = c.new_lo; j0 < c.new_hi; j0 += T_block) {
        const uint64_t n = std::min(T_block, c.new_hi - j0);
        const auto* kr = reinterpret_cast<const uint8_t*>(in.k_new + j0 * ks + uint64_t{kvh} * dk);
        const auto* vr = reinterpret_cast<const uint8_t*>(in.v_new + j0 * vs + uint64_t{kvh} * dv);
        kt.attn_block_tile(qt, kr, ks * 4, 0, vr, vs * 4, 0, n, dk, dv, st.m, st.l, o, os, G, sc);
      }
    };

    for (uint64_t u = b; u < e; ++u) {
      // Last queries first: under the causal mask the later queries see the most keys, and the
      // pool hands out chunks in order, so the heaviest go first and the lightest fill the gaps
      // at the end (in order, a 4096-token prefill left one core idle for ~6% of the time).
      const uint32_t kvh = static_cast<uint32_t>(u % p.n_kv_heads);
      const uint64_t item = u / p.n_kv_heads;
      if (item < n_single) {
        const uint64_t qi = in.n_q - 1 - item;
        start(qi, kvh, 0);
        query_keys(kvh, visible_keys(p, in, capacity, qi));
        finish(qi, kvh, 0);
        continue;
      }
      const uint64_t q0 = (n_blocks - 1 - (item - n_single)) * qb;
      // Common keys: the intersection of the block's ranges (the cache part and the new part).
      KeyRanges c = visible_keys(p, in, capacity, q0);
      for (uint64_t i = 1; i < qb; ++i) {
        const KeyRanges r = visible_keys(p, in, capacity, q0 + i);
        c.cache_lo = std::max(c.cache_lo, r.cache_lo);
        c.cache_hi = std::min(c.cache_hi, r.cache_hi);
        c.new_lo = std::max(c.new_lo, r.new_lo);
        c.new_hi = std::min(c.new_hi, r.new_hi);
      }
      if (c.cache_hi < c.cache_lo) c.cache_hi = c.cache_lo;
      if (c.new_hi < c.new_lo) c.new_hi = c.new_lo;
      for (uint64_t i = 0; i < qb; ++i) start(q0 + i, kvh, i);
      block_keys(q0, kvh, c);
      for (uint64_t i = 0; i < qb; ++i) {
        // The rest of query i's keys: its range minus the common one, front and back parts.
        const KeyRanges r = visible_keys(p, in, capacity, q0 + i);
        select(q0 + i, kvh, i);
        const bool cache_common = c.cache_hi > c.cache_lo, new_common = c.new_hi > c.new_lo;
        KeyRanges front{r.cache_lo, cache_common ? c.cache_lo : r.cache_hi, r.new_lo, new_common ? c.new_lo : r.new_hi};
        KeyRanges back{cache_common ? c.cache_hi : r.cache_hi, r.cache_hi, new_common ? c.new_hi : r.new_hi, r.new_hi};
        query_keys(kvh, front);
        query_keys(kvh, back);
        finish(q0 + i, kvh, i);
      }
    }
  });
}

}  // namespace mlxcel::kernels
