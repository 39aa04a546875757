// The inspect report: the memory plan of a model with its verdict and advice, rendered as the
// human table or the JSON document of docs/inspect-json.md. Shared by `inspect` and by the
// preflight of generate/serve (`--estimate-memory` prints the same table).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "estimate/advisor.h"
#include "mlxcel/estimate.h"

namespace mlxcel::cli {

struct InspectReport {
  std::string model_arg;  // as given (or the default model directory)
  std::string quant;      // --quant value, empty when the model's own format is planned
  ModelSpec spec;
  MemoryPlan plan;
  AvailableMemory available;
  Verdict verdict;
  MaxContext max_context;
  std::vector<Option> weight_formats;  // at the requested context, requested KV types
  std::vector<Option> kv_types;        // at the requested context, the spec's weights
  std::optional<Recommendation> recommendation;
};

// Plans, judges and advises; every number comes from plan_memory. make_spec derives the model in
// another weight format (spec_for_format_from_config in production).
InspectReport build_inspect_report(ModelSpec spec, const RunConfig& run,
                                   const CalibrationProfile& profile,
                                   const AvailableMemory& available, const SpecForFormat& make_spec,
                                   std::string model_arg, std::string quant);

std::string render_inspect_table(const InspectReport& report);
// Keys in the order of docs/inspect-json.md.
nlohmann::ordered_json inspect_json(const InspectReport& report);
// The plan's `server` object (serve only: plan.run.server is set), in inspect and --json-stats.
nlohmann::ordered_json server_plan_json(const MemoryPlan& plan);

constexpr int kInspectJsonSchemaVersion = 1;

}  // namespace mlxcel::cli
