// Persistent thread pool behind parallel_for and every multi-threaded kernel. Workers spin on a
// generation counter for a short while after each job (kernels come back to back during a
// forward pass, and waking a sleeping thread costs tens of microseconds), then sleep.
#include <immintrin.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/cpu/kernels.h"

extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace mlxcel::kernels {
namespace {

constexpr auto kSpin = std::chrono::microseconds(2000);

class Pool {
 public:
  ~Pool() { resize(1); }

  uint32_t size() const { return size_; }

  void resize(uint32_t n) {
    if (n == size_) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_ = false;
    size_ = n;
    // Workers start from the generation current now, so a job posted before a new thread first
    // runs is still seen as new.
    const uint64_t gen = generation_.load(std::memory_order_acquire);
    for (uint32_t i = 1; i < n; ++i) workers_.emplace_back([this, i, gen] { worker(i, gen); });
  }

  void run(uint32_t n_tasks, void (*task)(void*, uint32_t), void* ctx) {
    if (n_tasks > size_) n_tasks = size_;
    task_ = task;
    ctx_ = ctx;
    n_tasks_ = n_tasks;
    pending_.store(n_tasks - 1, std::memory_order_relaxed);
    {
      // The lock orders the job fields before the generation bump for sleepers; spinners see it
      // through the release/acquire pair on generation_.
      std::lock_guard<std::mutex> lock(mu_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleepers_.load(std::memory_order_acquire) > 0) cv_.notify_all();
    task(ctx, 0);
    while (pending_.load(std::memory_order_acquire) != 0) _mm_pause();
  }

 private:
  void worker(uint32_t index, uint64_t seen) {
    for (;;) {
      uint64_t g = wait_for_job(seen);
      seen = g;
      if (stop_) return;
      if (index < n_tasks_) {
        task_(ctx_, index);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }

  uint64_t wait_for_job(uint64_t seen) {
    auto start = std::chrono::steady_clock::now();
    for (uint32_t i = 1;; ++i) {
      uint64_t g = generation_.load(std::memory_order_acquire);
      if (g != seen) return g;
      _mm_pause();
      if ((i & 255) == 0 && std::chrono::steady_clock::now() - start > kSpin) break;
    }
    std::unique_lock<std::mutex> lock(mu_);
    sleepers_.fetch_add(1, std::memory_order_acq_rel);
    cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    sleepers_.fetch_sub(1, std::memory_order_acq_rel);
    return generation_.load(std::memory_order_acquire);
  }

  uint32_t size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  // Each on its own cache line: workers poll generation_ and decrement pending_.
  alignas(64) std::atomic<uint64_t> generation_{0};
  alignas(64) std::atomic<uint32_t> pending_{0};
  alignas(64) std::atomic<uint32_t> sleepers_{0};
  alignas(64) void (*task_)(void*, uint32_t) = nullptr;
  void* ctx_ = nullptr;
  uint32_t n_tasks_ = 0;
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

void set_num_threads(uint32_t n) {
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  if (n > 256) n = 256;
  if (openblas_set_num_threads) openblas_set_num_threads(1);
  pool().resize(n);
}

uint32_t num_threads() { return pool().size(); }

namespace detail {
void run_on_pool(uint32_t n_tasks, void (*task)(void*, uint32_t), void* ctx) {
  if (n_tasks <= 1) {
    for (uint32_t t = 0; t < n_tasks; ++t) task(ctx, t);
    return;
  }
  pool().run(n_tasks, task, ctx);
}
}  // namespace detail

}  // namespace mlxcel::kernels
