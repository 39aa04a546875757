// Persistent thread pool behind parallel_for and every multi-threaded kernel. A job is a number of
// chunks claimed from one atomic word (job generation | chunk count | next chunk); the caller's
// thread works too. Workers spin on that word for 100 us after each job (kernels come
// back to back during a forward pass and waking a sleeping thread costs tens of microseconds),
// then sleep on a condition variable.
#include <immintrin.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/cpu/kernels.h"

extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace mlxcel::kernels {
namespace {

constexpr auto kSpin = std::chrono::microseconds(100);

// job word: generation in bits 32..63, chunk count in 16..31, next chunk in 0..15
constexpr uint64_t gen_of(uint64_t w) { return w >> 32; }
constexpr uint32_t total_of(uint64_t w) { return static_cast<uint32_t>((w >> 16) & 0xffff); }
constexpr uint32_t next_of(uint64_t w) { return static_cast<uint32_t>(w & 0xffff); }

using Task = void (*)(void*, uint32_t, uint32_t);

class Pool {
 public:
  ~Pool() { resize(1); }

  uint32_t size() const { return size_; }

  void resize(uint32_t n) {
    if (n == size_) return;
    stop_workers();
    size_ = n;
    for (uint32_t i = 1; i < n; ++i) workers_.emplace_back([this, i] { worker(i); });
  }

  void run(uint32_t n_chunks, Task task, void* ctx, uint32_t threads) {
    limit_.store(threads, std::memory_order_relaxed);
    // Jobs larger than the word's 16-bit chunk field run in rounds.
    for (uint32_t base = 0; base < n_chunks; base += 0xffff) {
      const uint32_t count = std::min<uint32_t>(0xffff, n_chunks - base);
      run_round(base, count, task, ctx);
    }
  }

 private:
  void run_round(uint32_t base, uint32_t count, Task task, void* ctx) {
    task_ = task;
    ctx_ = ctx;
    base_ = base;
    done_.store(0, std::memory_order_relaxed);
    const uint64_t gen = ++gen_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_.store((gen << 32) | (uint64_t{count} << 16), std::memory_order_release);
    }
    if (sleepers_.load(std::memory_order_acquire) > 0) cv_.notify_all();
    work(gen, 0);
    while (done_.load(std::memory_order_acquire) != count) _mm_pause();
  }

  // Claims and runs chunks of job `gen` until none are left.
  void work(uint64_t gen, uint32_t thread) {
    uint64_t w = job_.load(std::memory_order_acquire);
    for (;;) {
      if (gen_of(w) != gen || next_of(w) >= total_of(w)) return;
      if (!job_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        continue;  // w reloaded
      }
      // The claim keeps the job alive (the caller waits for every chunk), so its fields are
      // this job's.
      task_(ctx_, base_ + next_of(w), thread);
      done_.fetch_add(1, std::memory_order_acq_rel);
      w = job_.load(std::memory_order_acquire);
    }
  }

  void worker(uint32_t index) {
    uint64_t seen = 0;
    for (;;) {
      const uint64_t w = wait_for_job(seen);
      if (stop_.load(std::memory_order_acquire)) return;
      seen = gen_of(w);
      // limit_ is written before the job word is published (release) and read after it.
      if (index < limit_.load(std::memory_order_relaxed)) work(seen, index);
    }
  }

  uint64_t wait_for_job(uint64_t seen) {
    auto start = std::chrono::steady_clock::now();
    for (uint32_t i = 1;; ++i) {
      const uint64_t w = job_.load(std::memory_order_acquire);
      if (gen_of(w) != seen) return w;
      if (stop_.load(std::memory_order_relaxed)) return w;
      _mm_pause();
      if ((i & 255) == 0 && std::chrono::steady_clock::now() - start > kSpin) break;
    }
    std::unique_lock<std::mutex> lock(mu_);
    sleepers_.fetch_add(1, std::memory_order_acq_rel);
    cv_.wait(lock, [&] {
      return gen_of(job_.load(std::memory_order_acquire)) != seen || stop_.load(std::memory_order_acquire);
    });
    sleepers_.fetch_sub(1, std::memory_order_acq_rel);
    return job_.load(std::memory_order_acquire);
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_.store(false, std::memory_order_release);
  }

  uint32_t size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  uint64_t gen_ = 0;
  // Each on its own cache line: workers poll job_ and bump done_.
  alignas(64) std::atomic<uint64_t> job_{0};
  alignas(64) std::atomic<uint32_t> done_{0};
  alignas(64) std::atomic<uint32_t> sleepers_{0};
  alignas(64) Task task_ = nullptr;
  void* ctx_ = nullptr;
  uint32_t base_ = 0;
  std::atomic<uint32_t> limit_{0};  // threads that take part in the current job
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

// Held while a job runs on the pool. The pool serves one job at a time: a second thread that
// calls a kernel meanwhile (or a kernel called from inside a pool task) runs its job on its own
// thread instead of waiting, so concurrent callers are correct, only not parallel.
std::mutex& pool_mutex() {
  static std::mutex m;
  return m;
}

void set_num_threads(uint32_t n) {
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  if (n > 256) n = 256;
  if (openblas_set_num_threads) openblas_set_num_threads(1);
  std::lock_guard<std::mutex> lock(pool_mutex());
  pool().resize(n);
}

uint32_t num_threads() { return pool().size(); }

namespace detail {
void run_on_pool(uint32_t n_chunks, Task task, void* ctx, uint32_t threads) {
  std::unique_lock<std::mutex> lock(pool_mutex(), std::try_to_lock);
  if (!lock.owns_lock() || pool().size() <= 1 || threads <= 1) {
    for (uint32_t c = 0; c < n_chunks; ++c) task(ctx, c, 0);
    return;
  }
  pool().run(n_chunks, task, ctx, threads);
}

uint32_t matvec_thread_cap(const char* v) {
  if (v == nullptr || *v == 0) return 0;
  uint32_t cap = 0;
  const char* end = v + std::strlen(v);
  const auto [ptr, ec] = std::from_chars(v, end, cap);
  if (ec != std::errc() || ptr != end || cap == 0 || cap > 4096) {
    spdlog::warn("[kernels] MLXCEL_MATVEC_THREADS={} is not a whole number from 1 to 4096; not capping", v);
    return 0;
  }
  return cap;
}

uint32_t matvec_threads() {
  // MLXCEL_MATVEC_THREADS caps the threads of the bandwidth-bound row kernels (decode): on a
  // machine where one core already saturates memory, more threads only add hand-over costs.
  static const uint32_t cap = matvec_thread_cap(std::getenv("MLXCEL_MATVEC_THREADS"));
  const uint32_t n = pool().size();
  return cap == 0 ? n : std::min(cap, n);
}
}  // namespace detail

}  // namespace mlxcel::kernels
