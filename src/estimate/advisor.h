// Verdict and advice on top of plan_memory: does the plan fit, the largest context that fits, and
// which weight formats and KV cache types fit. Every figure comes from plan_memory; nothing here
// sizes anything itself.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "arch/registry.h"
#include "mlxcel/estimate.h"

namespace mlxcel {

struct Verdict {
  bool fits = false;
  uint64_t total = 0;
  uint64_t available = 0;
  uint64_t headroom = 0;   // available - total when it fits
  uint64_t shortfall = 0;  // total - available when it does not
};
Verdict judge(const MemoryPlan& plan, const AvailableMemory& available);

// Search cap for models that give no max_position_embeddings.
constexpr uint64_t kContextSearchCap = uint64_t{1} << 32;

struct MaxContext {
  uint64_t tokens = 0;     // largest context (per sequence) whose plan fits; 0 if not even 1 does
  uint64_t limit = 0;      // the cap: max_position_embeddings, or kContextSearchCap without one
  bool from_max_position = false;  // limit is the model's max_position_embeddings
  bool clamped = false;    // everything up to the limit fits: the limit, not memory, decides
  uint64_t total_at_tokens = 0;     // plan total at `tokens` (0 when tokens == 0)
  uint64_t total_at_next = 0;       // plan total at tokens + 1 (0 when clamped)
  uint32_t plans_evaluated = 0;     // plan_memory calls the solver made
};
// Solves total(context) <= budget. total is piecewise linear in context (sliding layers stop
// growing at their window, chunk rows at prefill_chunk, rows at the sequence count), so the
// solver evaluates the plan at each piece's ends and interpolates inside the piece that crosses
// the budget, then checks the neighbours (overhead rounding) with plan_memory itself.
MaxContext solve_max_context(const ModelSpec& spec, const RunConfig& run,
                             const CalibrationProfile& profile, uint64_t budget);

struct Option {
  std::string name;     // "bf16", "8bit", "4bit", or a KV cache type name
  bool valid = false;   // false: `problem` says why the option cannot apply to this model
  std::string problem;
  uint64_t total = 0;   // plan total with this option at the requested context
  bool fits = false;
};

// A weight format the advisor can ask the registry about.
struct WeightFormat {
  std::string name;
  AnalyticOptions options;
};
// bf16, MLX 8-bit (group 64), MLX 4-bit (group 64): highest precision first.
std::vector<WeightFormat> advisor_weight_formats();

// Builds the spec of the model in a given weight format (production: analytic_spec on the model's
// normalized config; tests: hand-built specs).
using SpecForFormat = std::function<ModelSpec(const AnalyticOptions&)>;
SpecForFormat spec_for_format_from_config(const ModelSpec& spec);

std::vector<Option> advise_weight_formats(const SpecForFormat& make_spec, const RunConfig& run,
                                          const CalibrationProfile& profile, uint64_t budget);

// Each KV cache type used for both K and V at the requested context; types whose block does
// not divide a head dim are listed as not valid.
std::vector<Option> advise_kv_cache_types(const ModelSpec& spec, const RunConfig& run,
                                          const CalibrationProfile& profile, uint64_t budget);

// The weights as given first, then each advisor format with fewer weight bytes than that (a
// 4-bit model is never advised to grow back to bf16), highest precision first; for each, the
// highest-precision KV cache type not above the requested K type whose plan fits at the
// requested context. nullopt when nothing fits.
constexpr const char* kAsIsFormat = "as-is";
struct Recommendation {
  std::string weight_format;  // kAsIsFormat or an advisor_weight_formats() name
  KvCacheType cache_type = KvCacheType::F16;
  uint64_t total = 0;
};
std::optional<Recommendation> recommend(const ModelSpec& spec, const SpecForFormat& make_spec,
                                        const RunConfig& run, const CalibrationProfile& profile,
                                        uint64_t budget);

}  // namespace mlxcel
