#include "server/scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "server/text_stream.h"

namespace mlxcel::server {

std::string_view finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop:
      return "stop";
    case FinishReason::Length:
      return "length";
    case FinishReason::Error:
      return "error";
  }
  return "error";
}

Generation::Update Generation::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return !pending_.empty() || finished_; });
  Update u;
  u.pieces = std::move(pending_);
  pending_.clear();
  u.finished = finished_;
  u.reason = reason_;
  u.completion_tokens = completion_tokens_;
  u.error = error_;
  u.error_status = error_status_;
  return u;
}

void Generation::cancel() { cancelled_.store(true); }

void Generation::set_listener(std::function<void()> listener) {
  auto shared = std::make_shared<const std::function<void()>>(std::move(listener));
  std::lock_guard lock(mutex_);
  listener_ = std::move(shared);
}

void Generation::notify_listener() {
  std::shared_ptr<const std::function<void()>> listener;
  {
    std::lock_guard lock(mutex_);
    listener = listener_;
  }
  if (listener && *listener) (*listener)();
}

void Generation::deliver(Piece piece, uint64_t completion_tokens) {
  const bool any = !piece.empty();
  {
    std::lock_guard lock(mutex_);
    if (any) pending_.push_back(std::move(piece));
    completion_tokens_ = completion_tokens;
  }
  if (any) {
    cv_.notify_all();
    notify_listener();
  }
}

void Generation::finish(FinishReason reason, std::string error, int status) {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    reason_ = reason;
    error_ = std::move(error);
    error_status_ = status;
  }
  cv_.notify_all();
  notify_listener();
}

struct Scheduler::Slot {
  std::shared_ptr<Generation> gen;  // null when free
  TokenStream text;
  uint64_t generated = 0;
  uint64_t max_tokens = 0;
};

Scheduler::Scheduler(Engine& engine, uint32_t queue_size)
    : engine_(engine), queue_size_(queue_size) {
  stats_.slots = engine.slot_count();
  stats_.kv = engine.kv_usage();
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { shutdown(); }

std::shared_ptr<Generation> Scheduler::submit(GenerationRequest request) {
  const uint64_t context = engine_.slot_context();
  if (request.prompt.empty()) throw InvalidRequest("the prompt has no tokens");
  if (request.max_tokens == 0) throw InvalidRequest("max_tokens must be at least 1");
  if (request.prompt.size() >= context || request.max_tokens > context - request.prompt.size()) {
    throw InvalidRequest("prompt (" + std::to_string(request.prompt.size()) +
                         " tokens) + max_tokens (" + std::to_string(request.max_tokens) +
                         ") exceeds the context of a sequence (" + std::to_string(context) +
                         " tokens)");
  }
  auto gen = std::make_shared<Generation>(request.prompt.size());
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw Overloaded("the server is shutting down");
    const uint64_t capacity = uint64_t{engine_.slot_count()} + queue_size_;
    if (active_ + queue_.size() >= capacity) {
      throw Overloaded("all " + std::to_string(engine_.slot_count()) +
                       " sequences are busy and the queue is full (" +
                       std::to_string(queue_size_) + " waiting); retry later");
    }
    queue_.push_back(Queued{gen, std::move(request)});
    stats_.queued = static_cast<uint32_t>(queue_.size());
  }
  cv_.notify_all();
  return gen;
}

void Scheduler::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  std::lock_guard join(join_mutex_);
  if (thread_.joinable()) thread_.join();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Scheduler::publish_stats() {
  const KvUsage kv = engine_.kv_usage();
  std::lock_guard lock(mutex_);
  stats_.active = active_;
  stats_.queued = static_cast<uint32_t>(queue_.size());
  stats_.kv = kv;
}

std::optional<TokenLogprobs> Scheduler::logprobs_entry(const StepToken& t) const {
  if (!t.logprobs) return std::nullopt;
  TokenLogprobs e;
  e.chosen = {engine_.token_bytes(t.token), t.logprobs->logprob};
  for (const runtime::TokenLogprob& alt : t.logprobs->top) {
    e.top.push_back({engine_.token_bytes(alt.token), alt.logprob});
  }
  return e;
}

void Scheduler::run() {
  std::vector<Slot> slots(engine_.slot_count());
  std::deque<std::pair<uint64_t, double>> recent;  // (tokens, seconds) of the last steps
  constexpr size_t kRecentSteps = 64;

  auto free_slot = [&](uint32_t s) {
    engine_.release(s);
    slots[s] = Slot{};
    std::lock_guard lock(mutex_);
    --active_;
  };
  auto fail_active = [&](const std::string& message, int status) {
    for (uint32_t s = 0; s < slots.size(); ++s) {
      if (!slots[s].gen) continue;
      slots[s].gen->finish(FinishReason::Error, message, status);
      free_slot(s);
    }
  };

  for (;;) {
    std::vector<std::pair<uint32_t, Queued>> admit;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || active_ > 0; });
      if (stopping_) break;
      const auto before = queue_.size();
      std::erase_if(queue_, [](const Queued& q) { return q.gen->cancelled(); });
      stats_.cancelled += before - queue_.size();
      for (uint32_t s = 0; s < slots.size() && !queue_.empty(); ++s) {
        if (slots[s].gen) continue;
        admit.emplace_back(s, std::move(queue_.front()));
        queue_.pop_front();
        ++active_;
      }
    }

    uint64_t newly_cancelled = 0;
    for (uint32_t s = 0; s < slots.size(); ++s) {
      if (slots[s].gen && slots[s].gen->cancelled()) {
        free_slot(s);
        ++newly_cancelled;
      }
    }
    uint64_t admitted_tokens = 0;
    for (auto& [s, q] : admit) {
      if (q.gen->cancelled()) {
        ++newly_cancelled;
        std::lock_guard lock(mutex_);
        --active_;
        continue;
      }
      try {
        engine_.admit(s, q.request.prompt, q.request.sampling);
        slots[s].gen = q.gen;
        slots[s].text = TokenStream(std::move(q.request.stop), q.request.sampling.logprobs);
        slots[s].max_tokens = q.request.max_tokens;
        admitted_tokens += q.request.prompt.size();
      } catch (const InvalidRequest& e) {
        q.gen->finish(FinishReason::Error, e.what(), 400);
        free_slot(s);
      } catch (const std::exception& e) {
        spdlog::error("[server] admitting a request failed: {}", e.what());
        q.gen->finish(FinishReason::Error, e.what(), 500);
        free_slot(s);
      }
    }
    if (newly_cancelled || admitted_tokens) {
      std::lock_guard lock(mutex_);
      stats_.cancelled += newly_cancelled;
      stats_.prompt_tokens += admitted_tokens;
    }

    const bool any_active =
        std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return s.gen != nullptr; });
    if (!any_active) {
      publish_stats();
      continue;
    }

    std::vector<StepToken> tokens;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      tokens = engine_.step();
    } catch (const std::exception& e) {
      spdlog::error("[server] decode step failed: {}", e.what());
      fail_active(std::string("the decode step failed: ") + e.what(), 500);
      publish_stats();
      continue;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    publish_stats();  // before any client sees this step's tokens

    uint64_t produced = 0;
    for (const StepToken& t : tokens) {
      if (t.slot >= slots.size() || !slots[t.slot].gen) continue;
      Slot& slot = slots[t.slot];
      ++produced;
      ++slot.generated;
      Piece piece;
      std::optional<FinishReason> done;
      if (engine_.is_end_of_generation(t.token)) {
        piece = slot.text.finish();  // the end-of-sequence token is not text: no logprobs entry
        done = FinishReason::Stop;
      } else {
        piece = slot.text.push(engine_.token_bytes(t.token), logprobs_entry(t));
        if (slot.text.stopped()) {
          done = FinishReason::Stop;
        } else if (slot.generated >= slot.max_tokens) {
          Piece rest = slot.text.finish();
          piece.text += rest.text;
          for (auto& e : rest.logprobs) piece.logprobs.push_back(std::move(e));
          done = FinishReason::Length;
        }
      }
      slot.gen->deliver(std::move(piece), slot.generated);
      if (done) {
        slot.gen->finish(*done);
        free_slot(t.slot);
      }
    }

    recent.emplace_back(produced, seconds);
    if (recent.size() > kRecentSteps) recent.pop_front();
    uint64_t recent_tokens = 0;
    double recent_seconds = 0;
    for (const auto& [n, sec] : recent) {
      recent_tokens += n;
      recent_seconds += sec;
    }
    {
      std::lock_guard lock(mutex_);
      stats_.generated_tokens += produced;
      stats_.step_seconds += seconds;
      stats_.tokens_per_second = recent_seconds > 0 ? recent_tokens / recent_seconds : 0;
    }
    publish_stats();
  }

  fail_active("the server is shutting down", 503);
  std::deque<Queued> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(queue_);
  }
  for (auto& q : left) q.gen->finish(FinishReason::Error, "the server is shutting down", 503);
  publish_stats();
}

}  // namespace mlxcel::server
