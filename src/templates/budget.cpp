#include "templates/budget.h"

#include <string>

#include "templates/value.h"

namespace mlxcel::templates {

namespace {

// Reading the clock costs about as much as a few ticks; once per this many is often enough.
constexpr uint64_t kTicksPerClockCheck = 64;
// Building this many bytes counts as one tick of work.
constexpr uint64_t kBytesPerTick = 4096;

thread_local RenderBudget* t_budget = nullptr;
thread_local int t_walk_depth = 0;

const RenderLimits& default_limits() {
  static const RenderLimits limits;
  return limits;
}

}  // namespace

RenderBudget::RenderBudget(const RenderLimits& limits)
    : limits_(limits),
      next_clock_check_(kTicksPerClockCheck),
      deadline_(std::chrono::steady_clock::now() + std::chrono::milliseconds(limits.max_render_ms)) {}

void RenderBudget::over_memory(uint64_t bytes, const char* what) const {
  fail_limit("max_memory_bytes", "rendering would hold more than " +
                                     std::to_string(limits_.max_memory_bytes) +
                                     " bytes (max_memory_bytes) while building " + what + " (" +
                                     std::to_string(bytes) + " more bytes)");
}

void RenderBudget::check_fits(uint64_t bytes, const char* what) const {
  if (bytes > limits_.max_memory_bytes || held_ > limits_.max_memory_bytes - bytes) {
    over_memory(bytes, what);
  }
}

void RenderBudget::charge(uint64_t bytes, const char* what) {
  check_fits(bytes, what);
  held_ += bytes;
  tick(bytes / kBytesPerTick);
}

void RenderBudget::refund(uint64_t bytes) noexcept { held_ = bytes > held_ ? 0 : held_ - bytes; }

void RenderBudget::tick(uint64_t n) {
  ticks_ += n;
  if (ticks_ < next_clock_check_) return;
  next_clock_check_ = ticks_ + kTicksPerClockCheck;
  if (std::chrono::steady_clock::now() > deadline_) {
    fail_limit("max_render_ms", "rendering took longer than " +
                                    std::to_string(limits_.max_render_ms) + " ms (max_render_ms)");
  }
}

RenderBudget* current_budget() { return t_budget; }

const RenderLimits& current_limits() { return t_budget ? t_budget->limits() : default_limits(); }

BudgetScope::BudgetScope(RenderBudget& budget) : saved_(t_budget) { t_budget = &budget; }
BudgetScope::~BudgetScope() { t_budget = saved_; }

Charge::Charge(uint64_t bytes, const char* what) {
  RenderBudget* b = t_budget;
  if (!b) return;
  b->charge(bytes, what);
  budget_ = b->shared_from_this();
  bytes_ = bytes;
}

Charge::~Charge() {
  if (budget_) budget_->refund(bytes_);
}

void check_string_bytes(uint64_t bytes, const char* what) {
  const uint64_t max = current_limits().max_output_bytes;
  if (bytes > max) {
    fail_limit("max_output_bytes", std::string(what) + " of " + std::to_string(bytes) +
                                       " bytes is over the limit of " + std::to_string(max) +
                                       " bytes (max_output_bytes)");
  }
  if (t_budget) {
    t_budget->check_fits(bytes, what);
    t_budget->tick(bytes / kBytesPerTick);
  }
}

void check_list_items(uint64_t count, const char* what) {
  if (t_budget) {
    const uint64_t bytes = saturating_mul(count, sizeof(Value));
    t_budget->check_fits(bytes, what);
    t_budget->tick(bytes / kBytesPerTick);
  }
}

void charge_until_end(uint64_t bytes, const char* what) {
  if (t_budget) t_budget->charge(bytes, what);
}

void tick_work(uint64_t n) {
  if (t_budget) t_budget->tick(n);
}

uint64_t saturating_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

WalkGuard::WalkGuard(const char* walk) {
  tick_work();
  const int max = current_limits().max_nesting_depth;
  if (t_walk_depth >= max) {
    fail_limit("max_nesting_depth", "values nested deeper than " + std::to_string(max) +
                                        " levels while " + walk +
                                        " them (max_nesting_depth; a list or dict that contains "
                                        "itself?)");
  }
  ++t_walk_depth;
}

WalkGuard::~WalkGuard() { --t_walk_depth; }

}  // namespace mlxcel::templates
