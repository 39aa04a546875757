// `mlxcel inspect`: the memory plan of a model at a context, without loading it.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "arch/registry.h"
#include "cli/commands.h"
#include "cli/inspect_report.h"
#include "cli/options.h"
#include "io/resources.h"
#include "mlxcel/errors.h"
#include "mlxcel/size.h"

namespace mlxcel::cli {
namespace {

struct InspectOptions {
  std::string model;
  std::string max_tokens;
  std::string batch = "1";
  std::string quant;
  std::string cache_type_k = "f16";
  std::string cache_type_v = "f16";
  std::string prefill_chunk = "512";
  std::string threads;
  std::string memory_budget;
  std::string calibration;
  bool json = false;
};

std::shared_ptr<spdlog::logger> log() {
  static auto logger = spdlog::stderr_color_mt("inspect");
  return logger;
}

int run_inspect(const InspectOptions& o) {
  // Validate every option before touching the model, so usage errors come first.
  SpecOptions spec_options;
  if (!o.quant.empty()) {
    spec_options.analytic = parse_quant_option(o.quant, "--quant");
    spec_options.force_analytic = true;
  }
  const KvCacheType k = parse_cache_type_option(o.cache_type_k, "--cache-type-k");
  const KvCacheType v = parse_cache_type_option(o.cache_type_v, "--cache-type-v");
  const uint64_t sequences = parse_count_option(o.batch, "--batch");
  const uint64_t chunk = parse_count_option(o.prefill_chunk, "--prefill-chunk");
  std::optional<uint64_t> context, threads, budget;
  if (!o.max_tokens.empty()) context = parse_count_option(o.max_tokens, "--max-tokens");
  if (!o.threads.empty()) threads = parse_count_option(o.threads, "--threads", UINT32_MAX);
  if (!o.memory_budget.empty()) budget = parse_size(o.memory_budget, "--memory-budget");

  const std::string model = o.model.empty() ? io::default_model_dir("inspect") : o.model;

  const CalibrationProfile profile = o.calibration.empty()
                                         ? default_calibration_profile()
                                         : load_calibration_profile(o.calibration);
  ModelSpec spec = load_model_spec(model, spec_options);
  RunConfig run = default_run_config(spec);
  if (context) run.context = *context;
  run.sequences = sequences;
  run.prefill_chunk = chunk;
  run.cache_type_k = k;
  run.cache_type_v = v;
  if (threads) run.threads = static_cast<uint32_t>(*threads);

  const AvailableMemory available = budget ? budget_available_memory(*budget) : probe_available_memory();
  SpecForFormat make_spec = spec_for_format_from_config(spec);
  InspectReport report = build_inspect_report(std::move(spec), run, profile, available, make_spec,
                                              model, o.quant);
  for (const auto& w : report.plan.warnings) log()->warn("{}", w);
  if (o.json) {
    std::fputs((inspect_json(report).dump(2) + "\n").c_str(), stdout);
  } else {
    std::fputs(render_inspect_table(report).c_str(), stdout);
  }
  return 0;
}

}  // namespace

void add_inspect_command(CLI::App& app, Action& action) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Plan the memory a model needs at a context, without loading it");
  cmd->add_option("MODEL", opts->model,
                  "Model directory (config.json + *.safetensors, sharded or single, or config.json "
                  "alone), a .safetensors file, a .gguf file (split parts are found), or a Hugging "
                  "Face repo id org/name[@revision] in the local cache. Default: the embedded "
                  "models/stories260K");
  cmd->add_option("--max-tokens,-c,--ctx-size", opts->max_tokens,
                  "Context to plan for, in tokens per sequence (prompt + generated; generate's "
                  "--ctx-size). Default: min(max_position_embeddings, 4096)")
      ->type_name("N");
  cmd->add_option("--batch", opts->batch,
                  "Sequences decoded together; KV cache and logits scale with it. Default: 1")
      ->type_name("N");
  cmd->add_option("--quant", opts->quant,
                  std::string("Plan the model as if converted to this weight format (derived from "
                              "config.json): ") + kQuantHelp)
      ->type_name("FORMAT");
  cmd->add_option("--cache-type-k", opts->cache_type_k,
                  std::string("KV cache type for keys (and MLA latents): ") + kCacheTypesHelp +
                      ". Default: f16")
      ->type_name("T");
  cmd->add_option("--cache-type-v", opts->cache_type_v, "KV cache type for values. Default: f16")
      ->type_name("T");
  cmd->add_option("--prefill-chunk", opts->prefill_chunk,
                  "Prompt tokens per forward pass; sizes the workspace. Default: 512")
      ->type_name("N");
  cmd->add_option("--threads", opts->threads,
                  "Threads the run will use; sizes per-thread scores and overhead. Default: the "
                  "CPUs this process may run on")
      ->type_name("N");
  cmd->add_option("--memory-budget", opts->memory_budget,
                  "Plan against this much memory instead of probing this machine (MemAvailable "
                  "and cgroup limits), e.g. to plan for another machine: 16GiB, 16G (binary), "
                  "16GB (decimal), 512MiB or a byte count")
      ->type_name("SIZE");
  cmd->add_option("--calibration", opts->calibration,
                  "Calibration profile JSON for the runtime-overhead coefficients. Default: "
                  "the built-in one (profiles/cpu-default.json as of the build)")
      ->type_name("FILE");
  cmd->add_flag("--json", opts->json,
                "Write one JSON document to stdout instead of the table (schema: "
                "docs/inspect-json.md); warnings still go to stderr");
  cmd->footer(
      "Prints weights (exact from file headers, or analytic from config.json) by component and "
      "dtype, the KV cache per token and in total, the workspace arena buffer by buffer, the "
      "runtime overhead (marked UNCALIBRATED until a measured profile exists), the total against "
      "the available memory, whether it fits and by how much, the largest context that fits, "
      "and which weight formats and KV cache types fit. Never reads tensor data or runs the "
      "model.\n\nExit codes: 0 planned (whether or not it fits), 2 bad option, missing or "
      "malformed model, 1 other failure. Memory model: docs/memory-model.md.");
  cmd->callback([&action, opts] { action = [opts] { return run_inspect(*opts); }; });
}

}  // namespace mlxcel::cli
