// Fuzzes config.json -> memory plan, the way `mlxcel inspect DIR` does it: the model directory
// holds config.json (first part of the input) and, when the input has a second part, a
// model.safetensors holding it (then the spec is exact: shard header + config dims). Then
// load_model_spec (locator, config reading, registry: aliases, layer kinds, analytic tensors),
// default_run_config, plan_memory, and build_inspect_report (verdict, max-context solver, weight
// format and KV type advice) against a fixed 16 GiB budget, rendered as JSON and as the table;
// the report only for specs of at most 16,384 tensors (see below).
// Parts are separated by the line "--mlxcel-fuzz-part--" (fuzz_util.h).
// Seeds: fuzz/corpus/config_plan_fuzz (configs from ../shared/testdata/configs, trimmed, and
// regressions); scripts/fuzz.sh adds the rest of ../shared/testdata/configs. -max_len 65536.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "arch/registry.h"
#include "cli/inspect_report.h"
#include "estimate/advisor.h"
#include "fuzz_util.h"
#include "mlxcel/errors.h"
#include "mlxcel/estimate.h"

using mlxcel::fuzz::broken_promise;

namespace {
constexpr size_t kMaxTensorsForReport = 16384;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = mlxcel::fuzz::scratch_dir("config_plan");
  const auto parts =
      mlxcel::fuzz::split_parts(std::string_view(reinterpret_cast<const char*>(data), size), 2);
  mlxcel::fuzz::write_file(dir / "config.json", parts[0]);
  std::error_code ec;
  if (parts.size() > 1) {
    mlxcel::fuzz::write_file(dir / "model.safetensors", parts[1]);
  } else {
    std::filesystem::remove(dir / "model.safetensors", ec);
  }
  try {
    mlxcel::fuzz::mark("start");
    mlxcel::ModelSpec spec = mlxcel::load_model_spec(dir.string());
    mlxcel::fuzz::mark("load_model_spec");
    const mlxcel::RunConfig run = mlxcel::default_run_config(spec);
    const mlxcel::CalibrationProfile& profile = mlxcel::default_calibration_profile();
    const mlxcel::MemoryPlan plan = mlxcel::plan_memory(spec, run, profile);
    mlxcel::fuzz::mark("plan_memory");
    if (plan.total < plan.planned) broken_promise("plan total below planned");
    if (plan.planned != plan.weights.total + plan.kv.total + plan.workspace.total) {
      broken_promise("planned is not weights + kv + workspace");
    }
    // The advice re-derives the model in three formats and plans ~50 times: for a large MoE
    // (DeepSeek-R1: 91,991 tensors) that is ~12 s under ASan on the reference machine, over
    // -timeout. Large specs stop at the plan; the advice is fuzzed on the small ones.
    if (spec.tensors.size() > kMaxTensorsForReport) return 0;
    const mlxcel::SpecForFormat make_spec = mlxcel::spec_for_format_from_config(spec);
    const mlxcel::AvailableMemory budget = mlxcel::budget_available_memory(16ull << 30);
    const mlxcel::cli::InspectReport report = mlxcel::cli::build_inspect_report(
        std::move(spec), run, profile, budget, make_spec, dir.string(), "");
    mlxcel::fuzz::mark("build_inspect_report");
    if (mlxcel::fuzz::verbose()) {
      std::fprintf(stderr, "tensors %zu, layers %zu, max-context solver plans %u\n",
                   report.spec.tensors.size(), report.spec.layers.size(),
                   report.max_context.plans_evaluated);
    }
    if (report.plan.total != plan.total) broken_promise("the report's plan is not plan_memory's");
    (void)mlxcel::cli::inspect_json(report).dump(2);
    (void)mlxcel::cli::render_inspect_table(report);
    mlxcel::fuzz::mark("json + table");
  } catch (const mlxcel::Error& e) {
    mlxcel::fuzz::refused(e);
    // FormatError / ConfigError / UnsupportedArchitecture / IoError / UsageError: refused.
  }
  return 0;
}
