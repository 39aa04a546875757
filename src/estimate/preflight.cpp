// The memory preflight: one plan_memory call when the run fits; when it does not, the refusal
// message with the numbers compared, their sources, and alternatives each planned and checked.
#include "estimate/preflight.h"

#include <fmt/format.h>

#include <algorithm>

#include "mlxcel/errors.h"
#include "mlxcel/size.h"

namespace mlxcel {
namespace {

std::string bytes_text(uint64_t b) { return fmt::format("{} ({} B)", format_bytes(b), b); }

std::string plural(uint64_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string overhead_source(const OverheadPlan& o) {
  return fmt::format("{} profile {}", o.calibrated ? "calibrated" : "UNCALIBRATED", o.profile);
}

std::string weights_source(const ModelSpec& spec) {
  if (spec.source == WeightSource::Exact)
    return fmt::format("exact, from the {} headers of {}", spec.format,
                       plural(spec.files.size(), "file", "files"));
  return "analytic, derived from config.json";
}

std::string run_text(const RunConfig& run, const ContextKnob& knob) {
  std::string origin = knob.origin.empty() ? std::string() : " (" + knob.origin + ")";
  return fmt::format("context {} tokens{} x {}, KV cache K {} / V {}, prefill chunk {}, {}",
                     run.context, origin, plural(run.sequences, "sequence", "sequences"),
                     kv_cache_type_name(run.cache_type_k), kv_cache_type_name(run.cache_type_v),
                     run.prefill_chunk, plural(run.threads, "thread", "threads"));
}

// Largest sequence count below run.sequences whose plan fits; 0 when not even one does.
// total(sequences) only grows with the count, so a bisection finds it.
std::pair<uint64_t, uint64_t> max_sequences(const ModelSpec& spec, const RunConfig& run,
                                            const CalibrationProfile& profile, uint64_t budget) {
  auto total_at = [&](uint64_t s) {
    RunConfig r = run;
    r.sequences = s;
    return plan_memory(spec, r, profile).total;
  };
  uint64_t lo = 0, hi = run.sequences;  // total(hi) > budget; lo fits (0 trivially)
  uint64_t lo_total = 0;
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    uint64_t t = total_at(mid);
    if (t <= budget) {
      lo = mid;
      lo_total = t;
    } else {
      hi = mid;
    }
  }
  return {lo, lo_total};
}

void add_alternatives(const ModelSpec& spec, const PreflightRequest& req,
                      const CalibrationProfile& profile, PreflightResult& r) {
  const uint64_t budget = r.available.bytes;
  const RunConfig& run = req.run;

  // The largest context that fits, spelled as the flag the user set it with.
  r.max_context = solve_max_context(spec, run, profile, budget);
  const MaxContext& m = *r.max_context;
  if (m.tokens > req.context.offset) {
    PreflightAlternative a;
    a.kind = AlternativeKind::Context;
    a.change = fmt::format("{} {}", req.context.flag, m.tokens - req.context.offset);
    a.note = fmt::format("largest context that fits: {} tokens{}", m.tokens,
                         m.clamped ? " (the model's maximum)" : "");
    a.total = m.total_at_tokens;
    r.alternatives.push_back(a);
  }

  if (!req.sequences_flag.empty() && run.sequences > 1) {
    auto [s, total] = max_sequences(spec, run, profile, budget);
    if (s >= 1) {
      PreflightAlternative a;
      a.kind = AlternativeKind::Sequences;
      a.change = fmt::format("{} {}", req.sequences_flag, s);
      a.note = fmt::format("most sequences that fit at {} tokens each", run.context);
      a.total = total;
      r.alternatives.push_back(a);
    }
  }

  bool single_change_fits = false;
  for (const Option& o : advise_kv_cache_types(spec, run, profile, budget)) {
    auto t = kv_cache_type_from_name(o.name);
    if (!o.valid || !o.fits || !t || o.total >= r.plan.total)
      continue;
    PreflightAlternative a;
    a.kind = AlternativeKind::KvCacheType;
    a.change = fmt::format("--cache-type-k {} --cache-type-v {}", o.name, o.name);
    a.note = fmt::format("highest-precision KV cache type that fits at {} tokens", run.context);
    a.total = o.total;
    r.alternatives.push_back(a);
    single_change_fits = true;
    break;
  }

  if (req.make_spec) {
    for (const Option& o : advise_weight_formats(req.make_spec, run, profile, budget)) {
      if (!o.valid || !o.fits || o.total >= r.plan.total) continue;
      PreflightAlternative a;
      a.kind = AlternativeKind::WeightFormat;
      a.change = fmt::format("{} weights", o.name);
      a.note = weight_format_instruction(spec, o.name);
      a.total = o.total;
      r.alternatives.push_back(a);
      single_change_fits = true;
      break;
    }
    if (!single_change_fits) {
      if (auto rec = recommend(spec, req.make_spec, run, profile, budget)) {
        PreflightAlternative a;
        a.kind = AlternativeKind::Combined;
        const std::string kv = std::string(kv_cache_type_name(rec->cache_type));
        a.change = rec->weight_format == kAsIsFormat
                       ? fmt::format("--cache-type-k {} --cache-type-v {}", kv, kv)
                       : fmt::format("{} weights with --cache-type-k {} --cache-type-v {}",
                                     rec->weight_format, kv, kv);
        a.note = rec->weight_format == kAsIsFormat
                     ? std::string("the weights as they are")
                     : weight_format_instruction(spec, rec->weight_format);
        a.total = rec->total;
        r.alternatives.push_back(a);
      }
    }
  }
}

std::string refusal_text(const ModelSpec& spec, const PreflightRequest& req,
                         const PreflightResult& r) {
  const MemoryPlan& p = r.plan;
  std::string out = fmt::format(
      "[preflight] {} refused: the memory plan needs {} but {} is available (short by {})\n",
      req.command, bytes_text(p.total), bytes_text(r.available.bytes),
      bytes_text(r.verdict.shortfall));
  out += fmt::format("  needed:    plan_memory for {}\n", run_text(p.run, req.context));
  out += fmt::format("             = weights {} ({}) + KV cache {} + workspace {} + overhead {} "
                     "({})\n",
                     bytes_text(p.weights.total), weights_source(spec), bytes_text(p.kv.total),
                     bytes_text(p.workspace.total), bytes_text(p.overhead.total),
                     overhead_source(p.overhead));
  out += fmt::format("  available: {} from {}\n", bytes_text(r.available.bytes),
                     r.available.source);
  if (r.alternatives.empty()) {
    out += "No alternative fits: not even a 1-token context";
    if (req.make_spec) out += ", a smaller KV cache type or a 4-bit copy of the weights";
    out += " fits in the available memory.\n";
  } else {
    out += "These fit (each planned with the same estimator):\n";
    size_t width = 0;
    for (const auto& a : r.alternatives) width = std::max(width, a.change.size());
    for (const auto& a : r.alternatives)
      out += fmt::format("  {:<{}}  total {}; {}\n", a.change, width, bytes_text(a.total), a.note);
  }
  if (r.max_context && r.max_context->tokens <= req.context.offset && req.context.offset > 0)
    out += fmt::format("  (the prompt alone is {} tokens; the largest context that fits is {})\n",
                       req.context.offset, r.max_context->tokens);
  out += "Pass --force (alias --no-memory-check) to run anyway.";
  return out;
}

}  // namespace

PreflightResult run_preflight(const ModelSpec& spec, const PreflightRequest& request,
                              const CalibrationProfile& profile) {
  PreflightResult r;
  r.plan = plan_memory(spec, request.run, profile);
  r.available = request.available;
  r.verdict = judge(r.plan, r.available);
  r.summary = fmt::format(
      "{} needs {} (weights {}, KV {}, workspace {}, overhead {}; {}) for {}; available {} from {}",
      request.command, format_bytes(r.plan.total), format_bytes(r.plan.weights.total),
      format_bytes(r.plan.kv.total), format_bytes(r.plan.workspace.total),
      format_bytes(r.plan.overhead.total), overhead_source(r.plan.overhead),
      run_text(r.plan.run, request.context), format_bytes(r.available.bytes),
      r.available.source);
  if (!r.verdict.fits) {
    add_alternatives(spec, request, profile, r);
    r.refusal = refusal_text(spec, request, r);
  }
  return r;
}

std::string weight_format_instruction(const ModelSpec& spec, const std::string& format) {
  const bool convertible = spec.quant.method == QuantMethod::None && spec.format == "safetensors" &&
                           spec.source == WeightSource::Exact;
  if (convertible && (format == "8bit" || format == "4bit"))
    return fmt::format("make it with: mlxcel convert --quantize {} {} --out {}-{}", format,
                       spec.root, spec.root, format);
  if (format == "bf16") return "use a bf16 copy of this model";
  return fmt::format("use a {} copy of this model (MLX affine, group 64)", format);
}

uint64_t guard_memory_limit(const MemoryPlan& plan, std::optional<uint64_t> user_limit) {
  return user_limit ? *user_limit : plan.total;
}

}  // namespace mlxcel
