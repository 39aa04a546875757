// The budgets one render runs under, so that no construct of a hostile template can take the
// process down: the limits themselves (RenderLimits), the bytes held by what the render creates,
// the time it has run, and how deep recursive walks over values go.
//
// A render makes its RenderBudget current on its thread (BudgetScope). While it is current,
// every string, list, dict, namespace and function value created on that thread carries a Charge
// that counts its bytes until the value is destroyed, and operations that could build something
// large check first (check_string_bytes, check_list_items) so they fail before allocating. Outside
// a render nothing is charged and the walks use the default limits.
//
// Exceeding a limit throws RenderFailure with `limit` set to the RenderLimits field's name; the
// interpreter turns it into TemplateLimitExceeded naming the template position.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

namespace mlxcel::templates {

struct RenderLimits {
  // Any one string the render builds: the output, a macro's or block's output, any string value.
  uint64_t max_output_bytes = 64ull << 20;
  // Bytes held at once by what the render creates: values, output still being built, scopes
  // kept alive by macros. Temporaries of a single operation (at most a few times
  // max_output_bytes) come on top.
  uint64_t max_memory_bytes = 256ull << 20;
  // Nested macro calls.
  int max_call_depth = 200;
  // Blocks and expressions nested in the source (checked when parsing), and lists, dicts and
  // namespaces nested inside each other (checked when printing, comparing or serializing them).
  int max_nesting_depth = 256;
  // Loop iterations over the whole render.
  uint64_t max_loop_iterations = 5'000'000;
  // Wall-clock time of the whole render; the catch-all for work no other limit counts.
  uint64_t max_render_ms = 5'000;
  // C++ stack the render may use: deep macro recursion fails cleanly instead of overflowing
  // the thread's stack. Keep it well under the stack size of the rendering thread.
  uint64_t max_stack_bytes = 2ull << 20;
};

// Owned by a shared_ptr (values keep it alive to refund their charge when they are destroyed,
// which may be after the render returned).
class RenderBudget : public std::enable_shared_from_this<RenderBudget> {
 public:
  explicit RenderBudget(const RenderLimits& limits);
  const RenderLimits& limits() const { return limits_; }
  // Bytes currently counted.
  uint64_t held_bytes() const { return held_; }
  // Counts `bytes` more; fails (max_memory_bytes) when that would go over the limit. `what`
  // names what was being built, for the message.
  void charge(uint64_t bytes, const char* what);
  void refund(uint64_t bytes) noexcept;
  // Fails when `bytes` more would not fit, without counting them.
  void check_fits(uint64_t bytes, const char* what) const;
  // Units of work (an expression evaluated, a value compared, 4 KiB built); every few dozen the
  // clock is read (max_render_ms).
  void tick(uint64_t n = 1);

 private:
  [[noreturn]] void over_memory(uint64_t bytes, const char* what) const;

  RenderLimits limits_;
  uint64_t held_ = 0;
  uint64_t ticks_ = 0;
  uint64_t next_clock_check_ = 0;
  std::chrono::steady_clock::time_point deadline_;
};

// The budget of the render running on this thread, or null outside a render.
RenderBudget* current_budget();
// The current budget's limits, or the defaults outside a render.
const RenderLimits& current_limits();

// Makes `budget` current on this thread for the scope's lifetime.
class BudgetScope {
 public:
  explicit BudgetScope(RenderBudget& budget);
  ~BudgetScope();
  BudgetScope(const BudgetScope&) = delete;
  BudgetScope& operator=(const BudgetScope&) = delete;

 private:
  RenderBudget* saved_;
};

// The bytes of one value, counted against the budget current when it was made until the value
// is destroyed. Does nothing outside a render.
class Charge {
 public:
  Charge() = default;
  Charge(uint64_t bytes, const char* what);
  ~Charge();
  Charge(const Charge&) = delete;
  Charge& operator=(const Charge&) = delete;

 private:
  std::shared_ptr<RenderBudget> budget_;
  uint64_t bytes_ = 0;
};

// Checks before building something large; no-ops outside a render except where noted.
// A string of `bytes`: over max_output_bytes (checked outside a render too), or not fitting.
void check_string_bytes(uint64_t bytes, const char* what);
// A list of `count` values not fitting.
void check_list_items(uint64_t count, const char* what);
// Bytes that stay held until the render ends (containers changed in place, which the
// interpreter keeps alive until then).
void charge_until_end(uint64_t bytes, const char* what);
// Work that no loop counts (comparisons, lookups); see RenderBudget::tick.
void tick_work(uint64_t n = 1);

// a * b, saturating instead of overflowing (for sizes computed from template numbers).
uint64_t saturating_mul(uint64_t a, uint64_t b);

// One level of a recursive walk over values (printing, comparing, serializing): fails
// (max_nesting_depth) when the walk goes deeper than the limit, which is what a list or dict
// that contains itself does when it is compared.
class WalkGuard {
 public:
  explicit WalkGuard(const char* walk);
  ~WalkGuard();
  WalkGuard(const WalkGuard&) = delete;
  WalkGuard& operator=(const WalkGuard&) = delete;
};

}  // namespace mlxcel::templates
