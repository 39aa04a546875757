// Continuous batching over the engine's fixed slots: one scheduler thread admits queued requests
// into free slots, runs batched steps that advance every active sequence by one token, turns the
// tokens into text (UTF-8 safe, stop strings removed) and hands it to the waiting HTTP threads
// through a per-request queue. A cancelled request (client gone) frees its slot at the next step.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "server/engine.h"
#include "server/text_stream.h"

namespace mlxcel::server {

enum class FinishReason { Stop, Length, Error };
std::string_view finish_reason_name(FinishReason r);  // "stop", "length", "error"

struct GenerationRequest {
  std::vector<int32_t> prompt;  // non-empty
  uint64_t max_tokens = 1;      // >= 1 and prompt.size() + max_tokens <= slot_context()
  SamplingParams sampling;
  std::vector<std::string> stop;
};

// Thrown by submit when every slot is busy and the queue is full (HTTP 503 + Retry-After), or
// after shutdown began.
class Overloaded : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One request's side of the hand-off. The HTTP thread waits on it; the scheduler fills it.
class Generation {
 public:
  struct Update {
    // New pieces since the previous wait(), in order: each is one token's text (or the few
    // tokens of a split character or of held-back text) and, when asked for, their logprobs.
    std::vector<Piece> pieces;
    bool finished = false;
    FinishReason reason = FinishReason::Stop;
    uint64_t completion_tokens = 0;  // so far
    std::string error;               // set when reason == Error
    int error_status = 500;          // HTTP status for the error (400 for InvalidRequest)
  };

  explicit Generation(uint64_t prompt_tokens) : prompt_tokens_(prompt_tokens) {}

  // Waits until there is a new piece or the generation ended, at most `timeout`.
  Update wait(std::chrono::milliseconds timeout);
  // Called after new text or the end arrives, on the scheduler's thread with no lock held; it must
  // be cheap (the HTTP layer posts a wake-up to the connection). Anything already pending is for
  // the caller to collect with wait(0) after setting it.
  void set_listener(std::function<void()> listener);
  // The client went away: the scheduler drops the request and frees its slot.
  void cancel();
  bool cancelled() const { return cancelled_.load(); }
  uint64_t prompt_tokens() const { return prompt_tokens_; }

 private:
  friend class Scheduler;
  void deliver(Piece piece, uint64_t completion_tokens);
  void finish(FinishReason reason, std::string error = {}, int status = 500);
  void notify_listener();

  const uint64_t prompt_tokens_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Piece> pending_;
  uint64_t completion_tokens_ = 0;
  bool finished_ = false;
  FinishReason reason_ = FinishReason::Stop;
  std::string error_;
  int error_status_ = 500;
  std::atomic<bool> cancelled_{false};
  // Shared so the per-token call copies a pointer, not the function (guarded by mutex_).
  std::shared_ptr<const std::function<void()>> listener_;
};

struct SchedulerStats {
  uint32_t slots = 0;
  uint32_t active = 0;
  uint32_t queued = 0;
  uint64_t prompt_tokens = 0;     // total admitted
  uint64_t generated_tokens = 0;  // total sampled
  double step_seconds = 0;        // total time in Engine::step
  double tokens_per_second = 0;   // generated tokens per step-second over the recent steps
  uint64_t cancelled = 0;         // requests dropped because the client went away
  KvUsage kv;
};

class Scheduler {
 public:
  // queue_size: requests that may wait for a slot; beyond it submit throws Overloaded.
  Scheduler(Engine& engine, uint32_t queue_size);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Throws InvalidRequest when the request does not fit a slot (callers check first, with a
  // message naming their fields), Overloaded when full or shutting down.
  std::shared_ptr<Generation> submit(GenerationRequest request);
  // Ends every queued and active generation with an error and stops the thread. Idempotent.
  void shutdown();
  SchedulerStats stats() const;

 private:
  struct Queued {
    std::shared_ptr<Generation> gen;
    GenerationRequest request;
  };
  struct Slot;

  void run();
  void publish_stats();  // refreshes active/queued/KV figures
  // The token's log-probabilities with their text, when the engine reported them.
  std::optional<TokenLogprobs> logprobs_entry(const StepToken& t) const;

  Engine& engine_;
  const uint32_t queue_size_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  uint32_t active_ = 0;  // slots in use, counted under mutex_ for admission
  bool stopping_ = false;
  SchedulerStats stats_;
  std::mutex join_mutex_;
  std::thread thread_;
};

}  // namespace mlxcel::server
