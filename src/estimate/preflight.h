// The memory preflight of generate and serve: the same plan_memory that inspect prints, judged
// against the available memory before anything is loaded, with alternatives that the estimator
// has checked do fit. Library code: it decides and explains; the CLI prints, maps the refusal to
// exit code 3 and sets the allocator's memory limit (docs/calibration.md, docs/memory-model.md).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "estimate/advisor.h"
#include "mlxcel/estimate.h"

namespace mlxcel {

// How the run's context is spelled on the command line, so advice can name a flag and a value.
struct ContextKnob {
  std::string flag = "--ctx-size";  // generate without --ctx-size: "--max-tokens"
  uint64_t offset = 0;              // flag value = context - offset (generate: the prompt's tokens)
  std::string origin;               // how the context was chosen, e.g. "prompt 12 + --max-tokens 256"
};

struct PreflightRequest {
  std::string command = "generate";  // named in the message
  RunConfig run;
  AvailableMemory available;
  ContextKnob context;
  std::string sequences_flag;        // serve: "--parallel" (advice lowers it); empty: not advised
  SpecForFormat make_spec;           // null: no weight-format advice
};

enum class AlternativeKind { Context, Sequences, KvCacheType, WeightFormat, Combined };

struct PreflightAlternative {
  AlternativeKind kind = AlternativeKind::Context;
  std::string change;  // what to pass or do, e.g. "--max-tokens 3000"
  std::string note;    // e.g. "largest context that fits: 3012 tokens"
  uint64_t total = 0;  // plan total with the change (checked <= available)
};

struct PreflightResult {
  MemoryPlan plan;
  AvailableMemory available;
  Verdict verdict;
  // Filled only when the plan does not fit; every entry was planned with plan_memory and fits.
  std::vector<PreflightAlternative> alternatives;
  std::optional<MaxContext> max_context;  // solved when the plan does not fit
  std::string summary;  // one line: needed vs available with the source of each
  std::string refusal;  // multi-line message when the plan does not fit, empty otherwise
};

// Plans the request with plan_memory (throws what plan_memory throws) and judges it. Costs one
// plan when it fits; a refusal also solves the largest context and plans each alternative.
PreflightResult run_preflight(const ModelSpec& spec, const PreflightRequest& request,
                              const CalibrationProfile& profile);

// What to run to get a weight format the advisor names: the convert command when the model is an
// unquantized safetensors model, else a description of the format to look for.
std::string weight_format_instruction(const ModelSpec& spec, const std::string& format);

// The memory limit that turns a wrong estimate into MemoryLimitExceeded instead of the OOM
// killer: the user's --memory-limit when given, else the plan's total (planned + fitted overhead
// + margin). The allocator counts only planned buffers, so the plan total leaves room for them.
uint64_t guard_memory_limit(const MemoryPlan& plan, std::optional<uint64_t> user_limit);

}  // namespace mlxcel
