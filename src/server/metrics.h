// /metrics in the Prometheus text exposition format (version 0.0.4). Names are listed in
// docs/server.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "mlxcel/memory.h"
#include "server/scheduler.h"

namespace mlxcel::server {

enum class Refusal { QueueFull, ContextTooLong };

// Request outcomes counted by the HTTP layer. Thread-safe.
class RequestCounters {
 public:
  void record(std::string_view route, int status);
  void refuse(Refusal reason);
  std::map<std::pair<std::string, int>, uint64_t> requests() const;
  uint64_t refusals(Refusal reason) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t queue_full_ = 0;
  uint64_t context_too_long_ = 0;
};

struct MetricsSnapshot {
  MemoryStats memory;
  SchedulerStats scheduler;
  std::map<std::pair<std::string, int>, uint64_t> requests;  // (route, status) -> count
  uint64_t refused_queue_full = 0;
  uint64_t refused_context = 0;
  uint64_t planned_bytes = 0;   // 0: no plan metrics
  uint64_t estimate_bytes = 0;
  uint32_t connections = 0;              // open client connections
  std::optional<ProcessMemory> process;  // VmRSS / VmHWM, when /proc could be read
};

std::string render_metrics(const MetricsSnapshot& m);

}  // namespace mlxcel::server
