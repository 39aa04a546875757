// Attention against a double-precision reference: GQA, causal mask, sliding window with a
// ring-buffer cache, every cache format, chunked prefill (new K/V passed in f32) and decode.
#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.h"
#include "mlxcel/errors.h"

namespace mlxcel::kernels::test {
namespace {

struct AttnSetup {
  uint32_t n_heads = 4, n_kv = 2, dk = 64, dv = 64;
  uint64_t window = 0;
  float softcap = 0;
  std::vector<float> sinks;
};

// Runs one attention call: history positions [0, n_past) stored in caches of `capacity` rows,
// n_q new tokens at positions n_past.. either passed as k_new/v_new (store_first = false) or
// stored before the call. Compares with a double reference over the effective K/V (dequantized
// cache rows for cached positions, exact f32 for new ones).
void run_case(const AttnSetup& s, KvCacheType kt, KvCacheType vt, uint64_t capacity, uint64_t n_past,
              uint64_t n_q, bool store_first, std::mt19937& rng, const std::string& label,
              uint64_t scores_stride = 0) {
  const uint64_t total = n_past + n_q;
  const auto K = random_floats(rng, total * s.n_kv * s.dk);
  const auto V = random_floats(rng, total * s.n_kv * s.dv);
  const auto Q = random_floats(rng, n_q * s.n_heads * s.dk, -2, 2);
  std::vector<uint8_t> kbuf(s.n_kv * capacity * kv_cache_row_bytes(kt, s.dk));
  std::vector<uint8_t> vbuf(s.n_kv * capacity * kv_cache_row_bytes(vt, s.dv));
  KvCacheView kc{kt, kbuf.data(), s.n_kv, s.dk, capacity};
  KvCacheView vc{vt, vbuf.data(), s.n_kv, s.dv, capacity};
  // Store the history in chunks of 3, as a runtime would.
  for (uint64_t p = 0; p < n_past; p += 3) {
    const uint64_t cnt = std::min<uint64_t>(3, n_past - p);
    kv_store(kc, &K[p * s.n_kv * s.dk], cnt, p);
    kv_store(vc, &V[p * s.n_kv * s.dv], cnt, p);
  }
  if (store_first) {
    kv_store(kc, &K[n_past * s.n_kv * s.dk], n_q, n_past);
    kv_store(vc, &V[n_past * s.n_kv * s.dv], n_q, n_past);
  }
  // Effective K/V the reference sees.
  std::vector<double> Ke(K.begin(), K.end()), Ve(V.begin(), V.end());
  const uint64_t cached_end = store_first ? total : n_past;
  std::vector<float> tmp(std::max(s.dk, s.dv));
  std::vector<uint8_t> row(std::max(kv_cache_row_bytes(kt, s.dk), kv_cache_row_bytes(vt, s.dv)));
  for (uint64_t p = 0; p < cached_end; ++p) {
    for (uint32_t h = 0; h < s.n_kv; ++h) {
      kv_quantize_row(kt, &K[(p * s.n_kv + h) * s.dk], s.dk, row.data());
      kv_dequantize_row(kt, row.data(), s.dk, tmp.data());
      for (uint32_t i = 0; i < s.dk; ++i) Ke[(p * s.n_kv + h) * s.dk + i] = tmp[i];
      kv_quantize_row(vt, &V[(p * s.n_kv + h) * s.dv], s.dv, row.data());
      kv_dequantize_row(vt, row.data(), s.dv, tmp.data());
      for (uint32_t i = 0; i < s.dv; ++i) Ve[(p * s.n_kv + h) * s.dv + i] = tmp[i];
    }
  }

  AttentionParams p;
  p.n_heads = s.n_heads;
  p.n_kv_heads = s.n_kv;
  p.head_dim_k = s.dk;
  p.head_dim_v = s.dv;
  p.scale = 1.0f / std::sqrt(static_cast<float>(s.dk));
  p.window = s.window;
  p.softcap = s.softcap;
  p.sinks = s.sinks.empty() ? nullptr : s.sinks.data();
  std::vector<float> out(n_q * s.n_heads * s.dv, 99.0f);
  // each query sees at most all tokens; a longer row lets the kernel use bigger key tiles
  const uint64_t stride = scores_stride ? scores_stride : total;
  std::vector<float> scores(num_threads() * stride);
  AttentionInputs in;
  in.q = Q.data();
  in.n_q = n_q;
  in.q_pos0 = n_past;
  in.k_cache = &kc;
  in.v_cache = &vc;
  in.n_past = cached_end;
  if (!store_first) {
    in.k_new = &K[n_past * s.n_kv * s.dk];
    in.v_new = &V[n_past * s.n_kv * s.dv];
  }
  in.out = out.data();
  in.scores = scores.data();
  in.scores_stride = stride;
  in.scores_rows = num_threads();
  attention(p, in);

  const uint32_t group = s.n_heads / s.n_kv;
  for (uint64_t qi = 0; qi < n_q; ++qi) {
    const uint64_t qp = n_past + qi;
    for (uint32_t h = 0; h < s.n_heads; ++h) {
      const uint32_t kvh = h / group;
      std::vector<double> sc;
      std::vector<uint64_t> pos;
      for (uint64_t kp = 0; kp <= qp; ++kp) {
        if (s.window && qp - kp >= s.window) continue;
        double dot = 0;
        for (uint32_t i = 0; i < s.dk; ++i) {
          dot += double{Q[(qi * s.n_heads + h) * s.dk + i]} * Ke[(kp * s.n_kv + kvh) * s.dk + i];
        }
        dot /= std::sqrt(double(s.dk));
        if (s.softcap > 0) dot = s.softcap * std::tanh(dot / s.softcap);
        sc.push_back(dot);
        pos.push_back(kp);
      }
      double mx = s.sinks.empty() ? -1e300 : s.sinks[h];
      for (double v : sc) mx = std::max(mx, v);
      double sum = s.sinks.empty() ? 0 : std::exp(s.sinks[h] - mx);
      for (double& v : sc) {
        v = std::exp(v - mx);
        sum += v;
      }
      for (uint32_t i = 0; i < s.dv; ++i) {
        double o = 0;
        for (size_t j = 0; j < sc.size(); ++j) o += sc[j] / sum * Ve[(pos[j] * s.n_kv + kvh) * s.dv + i];
        ASSERT_NEAR(out[(qi * s.n_heads + h) * s.dv + i], o, 2e-5)
            << label << " qi=" << qi << " h=" << h << " i=" << i;
      }
    }
  }
}

const KvCacheType kTypes[] = {KvCacheType::F32,  KvCacheType::F16,  KvCacheType::BF16, KvCacheType::Q8_0,
                              KvCacheType::Q4_0, KvCacheType::Q4_1, KvCacheType::Q5_0, KvCacheType::Q5_1,
                              KvCacheType::Q8,   KvCacheType::Q4};

TEST(Attention, FullCausalGqaEveryCacheFormat) {
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    std::mt19937 rng(21);
    AttnSetup s;
    for (KvCacheType t : kTypes) {
      const std::string label = isa_label(isa, 2) + " type " + std::to_string(int(t));
      run_case(s, t, t, 32, 0, 7, false, rng, label + " prefill");
      run_case(s, t, t, 32, 9, 5, false, rng, label + " chunk");
      run_case(s, t, t, 32, 11, 1, false, rng, label + " decode");
      run_case(s, t, t, 32, 11, 4, true, rng, label + " stored first");
    }
  }
}

TEST(Attention, SlidingWindowRingBufferOfWindowRows) {
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    std::mt19937 rng(22);
    AttnSetup s;
    s.window = 5;
    for (KvCacheType t : {KvCacheType::F16, KvCacheType::Q8_0, KvCacheType::Q4}) {
      const std::string label = isa_label(isa, 2) + " sliding type " + std::to_string(int(t));
      // cache holds exactly window rows; history longer than the window wraps the ring
      run_case(s, t, t, 5, 0, 9, false, rng, label + " prefill longer than window");
      run_case(s, t, t, 5, 13, 6, false, rng, label + " chunk after wrap");
      run_case(s, t, t, 5, 12, 1, false, rng, label + " decode");
      run_case(s, t, t, 5, 7, 1, true, rng, label + " decode stored first");
    }
  }
}

TEST(Attention, LongContextManyTilesEveryFormat) {
  // Enough keys for several tiles of 32, so the online softmax rescales across tiles; a sliding
  // layer whose ring has wrapped several times.
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    std::mt19937 rng(25);
    AttnSetup s;
    for (KvCacheType t : kTypes) {
      const std::string label = isa_label(isa, 2) + " long type " + std::to_string(int(t));
      run_case(s, t, t, 128, 90, 3, false, rng, label);
    }
    s.window = 40;
    run_case(s, KvCacheType::Q8_0, KvCacheType::F16, 40, 150, 5, false, rng, "sliding long");
  }
}

TEST(Attention, HalfCacheReadInPlaceForEveryHeadGrouping) {
  // F16/BF16 caches are read in place by the AVX-512 kernels, several query heads per K/V row
  // (groups of 4, 2 and 1 heads): query heads per kv head from 1 to 12, head dims that are and
  // are not multiples of 16 (the latter widen tiles as before), contexts of several 128-key tiles.
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    std::mt19937 rng(26);
    for (uint32_t G : {1u, 2u, 3u, 4u, 5u, 7u, 8u, 12u}) {
      for (auto [dk, dv] : {std::pair<uint32_t, uint32_t>{64, 64}, {96, 48}, {40, 64}}) {
        AttnSetup s;
        s.n_kv = 2;
        s.n_heads = 2 * G;
        s.dk = dk;
        s.dv = dv;
        for (KvCacheType t : {KvCacheType::F16, KvCacheType::BF16}) {
          const std::string label = isa_label(isa, 2) + " G=" + std::to_string(G) + " dk=" + std::to_string(dk) +
                                    " dv=" + std::to_string(dv) + " type " + std::to_string(int(t));
          run_case(s, t, t, 300, 290, 1, false, rng, label + " decode");
          run_case(s, t, t, 300, 261, 3, true, rng, label + " chunk stored first");
        }
        // one side in place, the other widened (q8_0 needs whole 32-blocks)
        const KvCacheType other = dv % 32 == 0 ? KvCacheType::Q8_0 : KvCacheType::F32;
        run_case(s, KvCacheType::F16, other, 300, 140, 1, false, rng, "f16 K, other V G=" + std::to_string(G));
      }
    }
  }
}

TEST(Attention, NewF32KeysForEveryHeadGrouping) {
  // A prefill's new tokens come as f32 rows, which AVX-512 loads once per group of 4, 2 or 1 query
  // heads when the head dims are multiples of 16: a whole prompt (two 128-key tiles for the last
  // queries) and a chunk after a cached history.
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    std::mt19937 rng(27);
    for (uint32_t G : {1u, 3u, 4u, 5u, 8u}) {
      for (auto [dk, dv] : {std::pair<uint32_t, uint32_t>{64, 64}, {40, 48}}) {
        AttnSetup s;
        s.n_kv = 2;
        s.n_heads = 2 * G;
        s.dk = dk;
        s.dv = dv;
        const std::string label = isa_label(isa, 2) + " G=" + std::to_string(G) + " dk=" + std::to_string(dk) +
                                  " dv=" + std::to_string(dv);
        run_case(s, KvCacheType::F16, KvCacheType::F16, 160, 0, 140, false, rng, label + " prompt");
        run_case(s, KvCacheType::F32, KvCacheType::F16, 160, 100, 40, false, rng, label + " chunk");
      }
    }
  }
}

TEST(Attention, QueryBlocksWithRemaindersWindowsAndSinks) {
  // A prefill's queries go in blocks of 16 rows (16 / G queries) through the keys all of them
  // see; each query's own rest (the causal diagonal, a sliding window's front) and the queries
  // left over after the last whole block take the per-query path.
  for (Isa isa : available_isas()) {
    IsaScope scope(isa, 2);
    std::mt19937 rng(28);
    for (uint32_t G : {1u, 2u, 4u, 8u}) {
      AttnSetup s;
      s.n_kv = 2;
      s.n_heads = 2 * G;
      const uint64_t n_q = 2 * (16 / G) + 3;
      const std::string label = isa_label(isa, 2) + " G=" + std::to_string(G);
      for (KvCacheType t : {KvCacheType::F16, KvCacheType::BF16, KvCacheType::F32}) {
        const std::string tl = label + " type " + std::to_string(int(t));
        run_case(s, t, t, 200, 0, n_q, false, rng, tl + " prompt", 256);
        run_case(s, t, t, 200, 50, n_q, false, rng, tl + " chunk", 256);
        run_case(s, t, t, 200, 50, n_q, true, rng, tl + " chunk stored first", 256);
      }
      AttnSetup w = s;
      w.window = 7;  // a ring of 7 rows that has wrapped; windows shorter than the block
      run_case(w, KvCacheType::F16, KvCacheType::F16, 7, 20, n_q, false, rng, label + " window 7", 256);
      w.window = 40;
      run_case(w, KvCacheType::F16, KvCacheType::BF16, 40, 100, n_q, false, rng, label + " window 40", 256);
      AttnSetup k = s;
      for (uint32_t h = 0; h < k.n_heads; ++h) k.sinks.push_back(0.25f * static_cast<float>(h) - 1.0f);
      run_case(k, KvCacheType::F16, KvCacheType::F16, 200, 30, n_q, false, rng, label + " sinks", 256);
    }
  }
}

TEST(Attention, MixedKAndVTypesAndDifferentHeadDims) {
  std::mt19937 rng(23);
  AttnSetup s;
  s.n_heads = 6;
  s.n_kv = 3;
  s.dk = 96;
  s.dv = 64;
  run_case(s, KvCacheType::Q8_0, KvCacheType::Q4, 20, 10, 3, false, rng, "mixed");
  s.n_kv = 6;  // no GQA (MHA)
  run_case(s, KvCacheType::BF16, KvCacheType::F32, 20, 4, 2, false, rng, "mha");
}

TEST(Attention, SoftcapAndSinks) {
  std::mt19937 rng(24);
  AttnSetup s;
  s.softcap = 0.5f;  // strong capping so it matters
  run_case(s, KvCacheType::F32, KvCacheType::F32, 16, 6, 3, false, rng, "softcap");
  AttnSetup t;
  t.sinks = {0.5f, -1.0f, 2.0f, 0.0f};
  run_case(t, KvCacheType::F16, KvCacheType::F16, 16, 6, 3, false, rng, "sinks");
}

TEST(AttentionErrors, ScoresRowTooShort) {
  std::vector<float> q(4 * 64), kn(2 * 64), vn(2 * 64), out(4 * 64), sc(8);
  AttentionParams p{4, 2, 64, 64, 0.125f};
  AttentionInputs in;
  in.q = q.data();
  in.n_q = 1;
  in.q_pos0 = 0;
  in.k_new = kn.data();
  in.v_new = vn.data();
  in.out = out.data();
  in.scores = sc.data();
  in.scores_stride = 0;
  in.scores_rows = 8;
  try {
    attention(p, in);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("scores scratch row too short"), std::string::npos);
  }
}

TEST(AttentionErrors, HeadsNotMultipleOfKvHeads) {
  AttentionParams p{6, 4, 64, 64, 0.125f};
  AttentionInputs in;
  try {
    attention(p, in);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of n_kv_heads"), std::string::npos);
  }
}

TEST(AttentionErrors, NewTokensOverlapCache) {
  std::vector<float> q(4 * 64), kn(2 * 64), vn(2 * 64), out(4 * 64), sc(64);
  std::vector<float> kc(2 * 8 * 64), vc(2 * 8 * 64);
  KvCacheView k{KvCacheType::F32, kc.data(), 2, 64, 8}, v{KvCacheType::F32, vc.data(), 2, 64, 8};
  AttentionParams p{4, 2, 64, 64, 0.125f};
  AttentionInputs in;
  in.q = q.data();
  in.n_q = 1;
  in.q_pos0 = 2;
  in.n_past = 3;
  in.k_cache = &k;
  in.v_cache = &v;
  in.k_new = kn.data();
  in.v_new = vn.data();
  in.out = out.data();
  in.scores = sc.data();
  in.scores_stride = 8;
  in.scores_rows = 8;
  try {
    attention(p, in);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("overlap"), std::string::npos);
  }
}

}  // namespace
}  // namespace mlxcel::kernels::test
