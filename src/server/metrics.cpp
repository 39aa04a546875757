#include "server/metrics.h"

#include <fmt/format.h>

namespace mlxcel::server {

void RequestCounters::record(std::string_view route, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{std::string(route), status}];
}

void RequestCounters::refuse(Refusal reason) {
  std::lock_guard lock(mutex_);
  ++(reason == Refusal::QueueFull ? queue_full_ : context_too_long_);
}

std::map<std::pair<std::string, int>, uint64_t> RequestCounters::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

uint64_t RequestCounters::refusals(Refusal reason) const {
  std::lock_guard lock(mutex_);
  return reason == Refusal::QueueFull ? queue_full_ : context_too_long_;
}

namespace {

void family(std::string& out, std::string_view name, std::string_view type,
            std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <typename T>
void metric(std::string& out, std::string_view name, std::string_view type,
            std::string_view help, T value) {
  family(out, name, type, help);
  out += fmt::format("{} {}\n", name, value);
}

}  // namespace

std::string render_metrics(const MetricsSnapshot& m) {
  std::string out;
  metric(out, "mlxcel_memory_active_bytes", "gauge",
         "Bytes held by live buffers of the accounting allocator.", m.memory.active);
  metric(out, "mlxcel_memory_peak_bytes", "gauge", "Highest active bytes since start.",
         m.memory.peak);
  metric(out, "mlxcel_memory_cache_bytes", "gauge", "Freed buffer bytes kept for reuse.",
         m.memory.cache);
  metric(out, "mlxcel_memory_mapped_bytes", "gauge", "Bytes of memory-mapped weight files.",
         m.memory.mapped);
  if (m.planned_bytes != 0) {
    metric(out, "mlxcel_memory_planned_bytes", "gauge",
           "Weights + KV cache + workspace in the memory plan (what the runtime allocates).",
           m.planned_bytes);
    metric(out, "mlxcel_memory_estimate_bytes", "gauge",
           "The plan's total: planned bytes + runtime overhead (what the preflight admitted).",
           m.estimate_bytes);
  }
  if (m.process) {
    metric(out, "mlxcel_process_resident_bytes", "gauge", "Resident set size (VmRSS).",
           m.process->rss);
    metric(out, "mlxcel_process_resident_peak_bytes", "gauge",
           "Resident set high-water mark (VmHWM); compare with mlxcel_memory_estimate_bytes.",
           m.process->hwm);
  }

  const KvUsage& kv = m.scheduler.kv;
  metric(out, "mlxcel_kv_cache_bytes", "gauge", "KV cache pool allocated at start.", kv.total);
  metric(out, "mlxcel_kv_cache_used_bytes", "gauge",
         "KV cache bytes holding tokens of active sequences.", kv.used);
  metric(out, "mlxcel_kv_cache_free_bytes", "gauge", "KV cache bytes not in use.",
         kv.total >= kv.used ? kv.total - kv.used : 0);

  metric(out, "mlxcel_sequences", "gauge", "Sequence slots (--parallel).", m.scheduler.slots);
  metric(out, "mlxcel_sequences_active", "gauge", "Sequences being generated.",
         m.scheduler.active);
  metric(out, "mlxcel_requests_queued", "gauge", "Requests waiting for a free sequence.",
         m.scheduler.queued);
  metric(out, "mlxcel_http_connections", "gauge", "Open client connections (--max-connections).",
         m.connections);

  family(out, "mlxcel_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, count] : m.requests) {
    out += fmt::format("mlxcel_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", key.first,
                       key.second, count);
  }
  family(out, "mlxcel_refusals_total", "counter",
         "Requests refused: queue_full (503) or context (prompt + max_tokens over --ctx-size, "
         "400).");
  out += fmt::format("mlxcel_refusals_total{{reason=\"queue_full\"}} {}\n", m.refused_queue_full);
  out += fmt::format("mlxcel_refusals_total{{reason=\"context\"}} {}\n", m.refused_context);
  metric(out, "mlxcel_requests_cancelled_total", "counter",
         "Generations dropped because the client disconnected.", m.scheduler.cancelled);

  metric(out, "mlxcel_prompt_tokens_total", "counter", "Prompt tokens admitted.",
         m.scheduler.prompt_tokens);
  metric(out, "mlxcel_generated_tokens_total", "counter", "Tokens generated.",
         m.scheduler.generated_tokens);
  metric(out, "mlxcel_step_seconds_total", "counter", "Time spent in batched model steps.",
         fmt::format("{:.6f}", m.scheduler.step_seconds));
  metric(out, "mlxcel_generation_tokens_per_second", "gauge",
         "Generated tokens per second of model steps over the last 64 steps (all sequences).",
         fmt::format("{:.3f}", m.scheduler.tokens_per_second));
  return out;
}

}  // namespace mlxcel::server
