#include "cli/preflight_cli.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <optional>

#include "cli/inspect_report.h"
#include "cli/table.h"
#include "mlxcel/errors.h"
#include "mlxcel/memory.h"
#include "mlxcel/size.h"

namespace mlxcel::cli {
namespace {

using json = nlohmann::ordered_json;

constexpr int kStatsSchemaVersion = 1;

std::string bytes_text(uint64_t b) { return fmt::format("{} ({} B)", format_bytes(b), group_digits(b)); }

// (estimate - measured) / measured, the sign convention of every accuracy figure.
double relative_error(uint64_t estimate, uint64_t measured) {
  if (measured == 0) return 0;
  return (static_cast<double>(estimate) - static_cast<double>(measured)) / static_cast<double>(measured);
}

std::string_view kind_name(AlternativeKind k) {
  switch (k) {
    case AlternativeKind::Context: return "context";
    case AlternativeKind::Sequences: return "sequences";
    case AlternativeKind::KvCacheType: return "kv_cache_type";
    case AlternativeKind::WeightFormat: return "weight_format";
    case AlternativeKind::Combined: return "combined";
  }
  return "context";
}

// Bytes this process has read through read()/pread() so far (rchar of /proc/self/io); nullopt
// where the kernel does not offer it. At the preflight it shows no tensor data was read yet.
std::optional<uint64_t> process_read_bytes() {
  std::ifstream in("/proc/self/io");
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "rchar:") return value;
  }
  return std::nullopt;
}

}  // namespace

void add_memory_options(CLI::App* cmd, MemoryCliOptions& o) {
  cmd->add_option("--memory-budget", o.memory_budget,
                  "Check the plan against this much memory instead of probing this machine "
                  "(MemAvailable and cgroup limits): 16GiB, 16G, 16GB, 512MiB or bytes. Not a limit")
      ->type_name("SIZE");
  cmd->add_option("--memory-limit", o.memory_limit,
                  "A real limit: the preflight checks the plan against it and the allocator refuses "
                  "to go past it (MemoryLimitExceeded, exit 1). Default: the plan's total")
      ->type_name("SIZE");
  cmd->add_option("--calibration", o.calibration,
                  "Calibration profile JSON for the overhead coefficients. Default: "
                  "the built-in one (profiles/cpu-default.json as of the build)")
      ->type_name("FILE");
  cmd->add_flag("--force,--no-memory-check", o.force,
                "Run even when the memory plan exceeds the available memory (prints a warning)");
  cmd->add_flag("--estimate-memory", o.estimate_memory,
                "Print the full memory plan (the inspect table) before loading");
  cmd->add_option("--json-stats", o.json_stats,
                  "Write the plan, the preflight decision and the measured memory (allocator and "
                  "RSS) as one JSON document to FILE, or to stdout with '-' (schema: "
                  "docs/calibration.md)")
      ->type_name("FILE|-");
}

MemorySettings parse_memory_options(const MemoryCliOptions& o) {
  MemorySettings s;
  if (!o.memory_budget.empty()) s.budget = parse_size(o.memory_budget, "--memory-budget");
  if (!o.memory_limit.empty()) s.limit = parse_size(o.memory_limit, "--memory-limit");
  s.profile = o.calibration.empty() ? default_calibration_profile()
                                    : load_calibration_profile(o.calibration);
  s.force = o.force;
  s.estimate_memory = o.estimate_memory;
  s.json_stats = o.json_stats;
  return s;
}

AvailableMemory available_for(const MemorySettings& s) {
  AvailableMemory a = s.budget ? budget_available_memory(*s.budget) : probe_available_memory();
  if (s.limit && *s.limit < a.bytes) {
    a.bytes = *s.limit;
    a.source = "--memory-limit";
  }
  return a;
}

MemoryGate memory_preflight(const ModelSpec& spec, PreflightRequest request,
                            const MemorySettings& settings, const std::string& model_arg) {
  request.available = available_for(settings);
  MemoryGate g;
  g.preflight = run_preflight(spec, request, settings.profile);
  if (settings.estimate_memory) {
    SpecForFormat make_spec = request.make_spec ? request.make_spec : spec_for_format_from_config(spec);
    InspectReport report = build_inspect_report(spec, request.run, settings.profile, request.available,
                                                make_spec, model_arg, "");
    std::FILE* out = settings.json_stats == "-" ? stderr : stdout;
    std::fputs(render_inspect_table(report).c_str(), out);
    std::fputs("\n", out);
    std::fflush(out);
  }
  const PreflightResult& p = g.preflight;
  for (const std::string& w : p.plan.warnings) fmt::print(stderr, "warning: [plan] {}\n", w);
  if (!p.verdict.fits) {
    if (!settings.force) {
      fmt::print(stderr, "error: {}\n", p.refusal);
      g.refused = true;
      return g;
    }
    g.forced = true;
    fmt::print(stderr, "warning: [preflight] the plan does not fit, running anyway because of --force: {} "
                       "(short by {})\n",
               p.summary, format_bytes(p.verdict.shortfall));
  } else {
    fmt::print(stderr, "[preflight] fits: {} ({} to spare)\n", p.summary, format_bytes(p.verdict.headroom));
  }
  g.memory_limit = guard_memory_limit(p.plan, settings.limit);
  g.limit_source = settings.limit ? "--memory-limit" : "plan total";
  set_memory_limit(g.memory_limit);
  fmt::print(stderr, "[preflight] allocator memory limit {} ({})\n", bytes_text(g.memory_limit), g.limit_source);
  return g;
}

json stats_document(const std::string& command, const std::string& model_arg, const ModelSpec& spec,
                    const MemoryGate& gate, const ContextKnob& knob) {
  const PreflightResult& p = gate.preflight;
  const MemoryPlan& plan = p.plan;
  const RunConfig& run = plan.run;
  json j;
  j["schema_version"] = kStatsSchemaVersion;
  j["command"] = command;
  j["model"] = {{"argument", model_arg},
                {"root", spec.root},
                {"architecture", spec.architecture},
                {"format", spec.format},
                {"quantization", spec.quant.method == QuantMethod::None
                                     ? std::string(dtype_name(spec.float_dtype))
                                     : fmt::format("{} {}-bit group {}", quant_method_name(spec.quant.method),
                                                   spec.quant.bits, spec.quant.group_size)}};
  j["run"] = {{"context", run.context},
              {"context_origin", knob.origin},
              {"sequences", run.sequences},
              {"cache_type_k", kv_cache_type_name(run.cache_type_k)},
              {"cache_type_v", kv_cache_type_name(run.cache_type_v)},
              {"prefill_chunk", run.prefill_chunk},
              {"threads", run.threads}};
  const OverheadPlan& o = plan.overhead;
  j["plan"] = {{"weights_bytes", plan.weights.total},
               {"kv_bytes", plan.kv.total},
               {"workspace_bytes", plan.workspace.total},
               {"planned_bytes", plan.planned},
               {"overhead_bytes", o.total},
               {"total_bytes", plan.total},
               {"overhead",
                {{"base_bytes", o.base},
                 {"threads_bytes", o.threads},
                 {"weights_bytes", o.weights},
                 {"kv_bytes", o.kv},
                 {"workspace_bytes", o.workspace},
                 {"tokenizer_bytes", o.tokenizer},
                 {"margin_bytes", o.margin},
                 {"calibrated", o.calibrated},
                 {"profile", o.profile}}}};
  if (run.server) j["plan"]["server"] = server_plan_json(plan);
  j["available"] = {{"bytes", p.available.bytes}, {"source", p.available.source}};
  json alternatives = json::array();
  for (const auto& a : p.alternatives)
    alternatives.push_back({{"kind", kind_name(a.kind)}, {"change", a.change}, {"total_bytes", a.total},
                            {"note", a.note}});
  j["preflight"] = {{"fits", p.verdict.fits},
                    {"refused", gate.refused},
                    {"forced", gate.forced},
                    {"headroom_bytes", p.verdict.headroom},
                    {"shortfall_bytes", p.verdict.shortfall},
                    {"max_context", p.max_context ? json(p.max_context->tokens) : json(nullptr)},
                    {"alternatives", alternatives}};
  const std::optional<uint64_t> read = process_read_bytes();
  j["preflight"]["process_read_bytes"] = read ? json(*read) : json(nullptr);
  j["memory_limit"] = gate.refused ? json(nullptr)
                                   : json({{"bytes", gate.memory_limit}, {"source", gate.limit_source}});
  j["after_load"] = nullptr;
  j["after_run"] = nullptr;
  j["error"] = nullptr;
  return j;
}

void write_json_stats(const std::string& target, const json& doc) {
  const std::string text = doc.dump(2) + "\n";
  if (target == "-") {
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    return;
  }
  std::ofstream out(target, std::ios::binary | std::ios::trunc);
  if (!out) throw IoError("cli", fmt::format("cannot write the JSON stats ({}, --json-stats, {})", target, target));
  out << text;
  out.flush();
  if (!out) throw IoError("cli", fmt::format("cannot write the JSON stats ({}, --json-stats, {})", target, target));
}

json validate_after_load(const MemoryPlan& plan, uint64_t active_before, uint64_t weights_active,
                         uint64_t unplanned) {
  const uint64_t active = active_memory() - active_before;
  const uint64_t weights = weights_active - active_before;
  const uint64_t rest = active - weights;
  const uint64_t plan_rest = plan.kv.total + plan.workspace.total;
  const double pct = plan.planned ? 100.0 * static_cast<double>(active) / static_cast<double>(plan.planned) : 0;
  const ProcessMemory pm = process_memory();
  fmt::print(stderr,
             "[validate] after load: allocator active {} vs plan weights + KV + workspace {} ({:.3f}%)\n"
             "[validate]   weights {}: allocator {} vs plan {}; KV + workspace {}: allocator {} vs plan {} "
             "(KV {}, workspace {}); RSS {}\n",
             bytes_text(active), bytes_text(plan.planned), pct, weights == plan.weights.total ? "exact" : "DIFFER",
             group_digits(weights), group_digits(plan.weights.total), rest == plan_rest ? "exact" : "DIFFER",
             group_digits(rest), group_digits(plan_rest), group_digits(plan.kv.total),
             group_digits(plan.workspace.total), format_bytes(pm.rss));
  if (unplanned)
    fmt::print(stderr, "[validate]   {} of it allocated outside the plan by the runtime\n", bytes_text(unplanned));
  return {{"allocator_active_bytes", active},
          {"allocator_weights_bytes", weights},
          {"allocator_kv_workspace_bytes", rest},
          {"plan_weights_bytes", plan.weights.total},
          {"plan_kv_bytes", plan.kv.total},
          {"plan_workspace_bytes", plan.workspace.total},
          {"planned_bytes", plan.planned},
          {"unplanned_bytes", unplanned},
          {"active_percent_of_planned", pct},
          {"rss_bytes", pm.rss}};
}

json validate_after_run(const MemoryPlan& plan) {
  const MemoryStats s = memory_stats();
  const ProcessMemory pm = process_memory();
  const double vs_peak = relative_error(plan.total, s.peak);
  const double vs_rss = relative_error(plan.total, pm.hwm);
  fmt::print(stderr,
             "[validate] after the run: plan total {} vs allocator peak {} ({:+.2f}%) and RSS high-water "
             "(VmHWM) {} ({:+.2f}%; + means the estimate is above)\n",
             bytes_text(plan.total), bytes_text(s.peak), 100 * vs_peak, bytes_text(pm.hwm), 100 * vs_rss);
  return {{"plan_total_bytes", plan.total},
          {"planned_bytes", plan.planned},
          {"allocator_active_bytes", s.active},
          {"allocator_peak_bytes", s.peak},
          {"allocator_cache_bytes", s.cache},
          {"allocator_padding_bytes", s.padding},
          {"rss_bytes", pm.rss},
          {"rss_peak_bytes", pm.hwm},
          {"total_error_vs_rss_peak", vs_rss},
          {"total_error_vs_allocator_peak", vs_peak}};
}

}  // namespace mlxcel::cli
