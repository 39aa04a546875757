// The memory options shared by generate and serve, around the preflight library
// (src/estimate/preflight.h): option registration, the preflight step (table, refusal, --force
// warning, allocator memory limit), post-load / post-run validation logs and --json-stats.
// Documented in docs/calibration.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "estimate/preflight.h"
#include "mlxcel/estimate.h"

namespace CLI {
class App;
}

namespace mlxcel::cli {

struct MemoryCliOptions {
  std::string memory_budget;    // --memory-budget SIZE: plan against this instead of the probe
  std::string memory_limit;     // --memory-limit SIZE: a real limit (allocator + preflight)
  std::string calibration;      // --calibration FILE
  std::string json_stats;       // --json-stats FILE|-
  bool force = false;           // --force, --no-memory-check
  bool estimate_memory = false; // --estimate-memory
};

// Registers --memory-budget, --memory-limit, --calibration, --force/--no-memory-check,
// --estimate-memory and --json-stats on a subcommand.
void add_memory_options(CLI::App* cmd, MemoryCliOptions& options);

// The options parsed (UsageError/IoError/FormatError for bad values), before the model is touched.
struct MemorySettings {
  std::optional<uint64_t> budget;
  std::optional<uint64_t> limit;
  CalibrationProfile profile;
  bool force = false;
  bool estimate_memory = false;
  std::string json_stats;  // "" none, "-" stdout, else a file
};
MemorySettings parse_memory_options(const MemoryCliOptions& options);

// The available memory for the preflight: the probe (or --memory-budget), capped by
// --memory-limit when that is lower (the source then says --memory-limit).
AvailableMemory available_for(const MemorySettings& settings);

struct MemoryGate {
  PreflightResult preflight;
  bool refused = false;         // the caller returns ExitCode::RefusedByPreflight
  bool forced = false;          // did not fit, ran because of --force
  uint64_t memory_limit = 0;    // set on the allocator when not refused
  std::string limit_source;     // "--memory-limit" or "plan total"
};

// Runs the preflight for `request` (its `available` is replaced by available_for(settings)):
// prints the inspect table first with --estimate-memory (stdout, or stderr when --json-stats
// writes to stdout), the refusal message (stderr) or the --force warning, and, when the run
// goes ahead, sets the allocator's memory limit (guard_memory_limit) and logs it.
MemoryGate memory_preflight(const ModelSpec& spec, PreflightRequest request,
                            const MemorySettings& settings, const std::string& model_arg);

// --json-stats: one document per run (schema in docs/calibration.md). The caller fills the
// sections it reached; write_json_stats writes it to the file or stdout.
nlohmann::ordered_json stats_document(const std::string& command, const std::string& model_arg,
                                      const ModelSpec& spec, const MemoryGate& gate,
                                      const ContextKnob& knob);
void write_json_stats(const std::string& target, const nlohmann::ordered_json& doc);

// After loading: the plan's weights + KV + workspace against the allocator's active bytes
// (weights_active: active when the last tensor was read). Logged on stderr, returned as JSON.
nlohmann::ordered_json validate_after_load(const MemoryPlan& plan, uint64_t active_before,
                                           uint64_t weights_active, uint64_t unplanned);
// After the run: the plan's total against the allocator peak and the RSS high-water mark.
nlohmann::ordered_json validate_after_run(const MemoryPlan& plan);

}  // namespace mlxcel::cli
