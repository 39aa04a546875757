// The read-bandwidth reference the benches print their kernels against: the best a plain
// streaming sum reaches over one large buffer, read the way the decode kernels read weights
// (64-byte vector loads, software prefetch 4 KiB ahead, transparent huge pages, the threads
// splitting the buffer). A measured peak, not a typical figure: on this VM host bandwidth moves
// by up to 1.7x within seconds, so the benches measure right before and after each timed part.
#pragma once

#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

namespace mlxcel::bench {

namespace bandwidth_detail {

template <bool PREFETCH>
__attribute__((target("avx512f"))) inline float sum_avx512(const float* a, size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i + 64 <= n; i += 64) {
    if constexpr (PREFETCH) {
      const char* p = reinterpret_cast<const char*>(a + i) + 4096;
      _mm_prefetch(p, _MM_HINT_T0);
      _mm_prefetch(p + 64, _MM_HINT_T0);
      _mm_prefetch(p + 128, _MM_HINT_T0);
      _mm_prefetch(p + 192, _MM_HINT_T0);
    }
    s0 = _mm512_add_ps(s0, _mm512_load_ps(a + i));
    s1 = _mm512_add_ps(s1, _mm512_load_ps(a + i + 16));
    s2 = _mm512_add_ps(s2, _mm512_load_ps(a + i + 32));
    s3 = _mm512_add_ps(s3, _mm512_load_ps(a + i + 48));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

template <bool PREFETCH>
__attribute__((target("avx2"))) inline float sum_avx2(const float* a, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    if constexpr (PREFETCH) {
      const char* p = reinterpret_cast<const char*>(a + i) + 4096;
      _mm_prefetch(p, _MM_HINT_T0);
      _mm_prefetch(p + 64, _MM_HINT_T0);
    }
    s0 = _mm256_add_ps(s0, _mm256_load_ps(a + i));
    s1 = _mm256_add_ps(s1, _mm256_load_ps(a + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_load_ps(a + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_load_ps(a + i + 24));
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}

inline double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace bandwidth_detail

class BandwidthProbe {
 public:
  // One buffer for all measurements, faulted in here so no measurement pays for page faults.
  // huge_pages = false leaves it on 4 KiB pages (to show what the advice is worth).
  explicit BandwidthProbe(size_t bytes, bool huge_pages = true) {
    constexpr size_t kHuge = size_t{2} << 20;
    bytes_ = std::max(kHuge, bytes / kHuge * kHuge);
    data_ = static_cast<float*>(std::aligned_alloc(kHuge, bytes_));
    if (data_ == nullptr) throw std::runtime_error("bandwidth probe: out of memory");
    madvise(data_, bytes_, huge_pages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    std::memset(data_, 0, bytes_);
  }
  ~BandwidthProbe() { std::free(data_); }
  BandwidthProbe(const BandwidthProbe&) = delete;
  BandwidthProbe& operator=(const BandwidthProbe&) = delete;

  size_t bytes() const { return bytes_; }

  // GB/s: the best of `reps` timed passes (after one untimed pass), `threads` threads each
  // summing a contiguous part (prefetch = false: no software prefetch).
  double measure(uint32_t threads, int reps, bool prefetch = true) {
    threads = std::max<uint32_t>(1, threads);
    const bool wide = __builtin_cpu_supports("avx512f");
    const size_t n = bytes_ / sizeof(float);
    const size_t per = n / threads / 64 * 64;
    std::vector<float> parts(threads);
    double best = 0;
    for (int r = -1; r < reps; ++r) {
      std::vector<std::thread> pool;
      const double t0 = bandwidth_detail::seconds();
      for (uint32_t t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          const float* a = data_ + per * t;
          const size_t len = t + 1 == threads ? n - per * t : per;
          using namespace bandwidth_detail;
          parts[t] = wide ? (prefetch ? sum_avx512<true>(a, len) : sum_avx512<false>(a, len))
                          : (prefetch ? sum_avx2<true>(a, len) : sum_avx2<false>(a, len));
        });
      }
      for (auto& th : pool) th.join();
      const double dt = bandwidth_detail::seconds() - t0;
      for (float p : parts) sink_ = sink_ + p;
      if (r >= 0) best = std::max(best, static_cast<double>(bytes_) / dt / 1e9);
    }
    return best;
  }

 private:
  float* data_ = nullptr;
  size_t bytes_ = 0;
  volatile float sink_ = 0;
};

}  // namespace mlxcel::bench
