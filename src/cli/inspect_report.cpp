#include "cli/inspect_report.h"

#include <fmt/format.h>

#include <exception>
#include <map>

#include "cli/table.h"
#include "mlxcel/errors.h"
#include "mlxcel/size.h"

namespace mlxcel::cli {
namespace {

using json = nlohmann::ordered_json;  // keys in the documented order

std::string_view source_name(WeightSource s) { return s == WeightSource::Exact ? "exact" : "analytic"; }

// Layers with the same cache geometry, in order of first appearance.
struct LayerGroup {
  std::string label;
  LayerKind kind = LayerKind::None;
  uint64_t window = 0, latent = 0;
  uint64_t layers = 0;
  uint64_t bytes_per_token = 0;  // per layer, per sequence
  uint64_t tokens_kept = 0;
  uint64_t state_bytes = 0;      // per layer, per sequence
  uint64_t bytes = 0;            // all layers of the group, all sequences
};

std::vector<LayerGroup> layer_groups(const ModelSpec& spec, const KvPlan& kv) {
  std::vector<LayerGroup> groups;
  for (const auto& l : kv.layers) {
    const LayerCache& c = spec.layers[l.layer];
    LayerGroup g;
    g.kind = l.kind;
    g.window = l.kind == LayerKind::Sliding ? c.window : 0;
    g.latent = l.kind == LayerKind::Mla ? c.latent_dim : 0;
    g.bytes_per_token = l.bytes_per_token;
    g.tokens_kept = l.tokens_kept;
    g.state_bytes = l.state_bytes;
    switch (l.kind) {
      case LayerKind::Sliding: g.label = fmt::format("sliding (window {})", c.window); break;
      case LayerKind::Mla: g.label = fmt::format("mla (latent {})", c.latent_dim); break;
      default: g.label = std::string(layer_kind_name(l.kind)); break;
    }
    auto it = std::find_if(groups.begin(), groups.end(), [&](const LayerGroup& o) {
      return o.label == g.label && o.bytes_per_token == g.bytes_per_token &&
             o.state_bytes == g.state_bytes && o.tokens_kept == g.tokens_kept;
    });
    if (it == groups.end()) {
      groups.push_back(g);
      it = groups.end() - 1;
    }
    ++it->layers;
    it->bytes += l.bytes;
  }
  return groups;
}

std::string quant_label(const ModelSpec& s) {
  if (s.quant.method == QuantMethod::None) return std::string(dtype_name(s.float_dtype));
  std::string out(quant_method_name(s.quant.method));
  if (s.quant.bits) out += fmt::format(" {}-bit", s.quant.bits);
  if (s.quant.group_size) out += fmt::format(" group {}", s.quant.group_size);
  return out;
}

// "[estimate] what" -> "what": the table has room for the message, not its origin.
std::string without_component(const std::string& msg) {
  if (msg.size() > 2 && msg[0] == '[') {
    auto close = msg.find("] ");
    if (close != std::string::npos) return msg.substr(close + 2);
  }
  return msg;
}

json named_list(const std::vector<NamedBytes>& list, const char* count_key) {
  json out = json::array();
  for (const auto& n : list) out.push_back({{"name", n.name}, {"bytes", n.bytes}, {count_key, n.count}});
  return out;
}

json options_json(const std::vector<Option>& options) {
  json out = json::array();
  for (const auto& o : options) {
    json j = {{"name", o.name}, {"valid", o.valid}};
    if (o.valid) {
      j["total_bytes"] = o.total;
      j["fits"] = o.fits;
    } else {
      j["problem"] = o.problem;
    }
    out.push_back(j);
  }
  return out;
}

}  // namespace

InspectReport build_inspect_report(ModelSpec spec, const RunConfig& run,
                                   const CalibrationProfile& profile,
                                   const AvailableMemory& available, const SpecForFormat& make_spec,
                                   std::string model_arg, std::string quant) {
  InspectReport r;
  r.model_arg = std::move(model_arg);
  r.quant = std::move(quant);
  r.spec = std::move(spec);
  r.plan = plan_memory(r.spec, run, profile);
  r.available = available;
  r.verdict = judge(r.plan, available);
  r.max_context = solve_max_context(r.spec, run, profile, available.bytes);
  // Derive each weight format once; the listing and the recommendation share them.
  std::map<std::string, std::pair<std::optional<ModelSpec>, std::exception_ptr>> cache;
  SpecForFormat cached = [&](const AnalyticOptions& o) -> ModelSpec {
    std::string key = o.requantize ? fmt::format("q{}g{}", o.requantize->bits, o.requantize->group_size)
                                   : std::string(dtype_name(o.float_dtype.value_or(DType::BF16)));
    auto it = cache.find(key);
    if (it == cache.end()) {
      std::pair<std::optional<ModelSpec>, std::exception_ptr> entry;
      try {
        entry.first = make_spec(o);
      } catch (const Error&) {
        entry.second = std::current_exception();
      }
      it = cache.emplace(key, std::move(entry)).first;
    }
    if (it->second.second) std::rethrow_exception(it->second.second);
    return *it->second.first;
  };
  r.weight_formats = advise_weight_formats(cached, run, profile, available.bytes);
  r.kv_types = advise_kv_cache_types(r.spec, run, profile, available.bytes);
  r.recommendation = recommend(r.spec, cached, run, profile, available.bytes);
  return r;
}

std::string render_inspect_table(const InspectReport& r) {
  const ModelSpec& s = r.spec;
  const MemoryPlan& p = r.plan;
  const RunConfig& run = p.run;
  std::string out;

  out += fmt::format("Model    {}\n", r.model_arg);
  out += fmt::format("         {} (model_type {}), {} layers, hidden {}, vocab {}, max position {}\n",
                     s.architecture, s.model_type, s.layers.size(), s.dims.hidden_size,
                     s.dims.vocab_size,
                     s.dims.max_position_embeddings ? std::to_string(s.dims.max_position_embeddings)
                                                    : std::string("unknown"));
  out += fmt::format("         weights {} from {}{}, {}\n", source_name(s.source),
                     s.source == WeightSource::Exact
                         ? fmt::format("{} ({} header bytes read)", plural(s.files.size(), "file", "files"),
                                       group_digits(s.header_bytes_read))
                         : std::string("config.json"),
                     r.quant.empty() ? "" : fmt::format(" as --quant {}", r.quant), quant_label(s));
  out += fmt::format("Run      context {} tokens x {}, KV cache K {} / V {}, prefill chunk {}, {}\n\n",
                     run.context, plural(run.sequences, "sequence", "sequences"),
                     kv_cache_type_name(run.cache_type_k), kv_cache_type_name(run.cache_type_v),
                     run.prefill_chunk, plural(run.threads, "thread", "threads"));

  Table t({Align::Left, Align::Right, Align::Right, Align::Left}, "");
  auto bytes_row = [&](std::string label, uint64_t b, std::string note = "") {
    t.row({std::move(label), format_bytes(b), group_digits(b) + " B", std::move(note)});
  };

  bytes_row(fmt::format("Weights ({})", source_name(p.weights.source)), p.weights.total,
            s.source == WeightSource::Exact ? "from file headers" : "derived from config.json");
  for (const auto& c : p.weights.by_component)
    bytes_row("  " + c.name, c.bytes, plural(c.count, "tensor", "tensors"));
  for (const auto& d : p.weights.by_dtype)
    bytes_row("  dtype " + d.name, d.bytes, plural(d.count, "tensor", "tensors"));

  bytes_row("KV cache", p.kv.total,
            fmt::format("{} tokens x {}", run.context, plural(run.sequences, "sequence", "sequences")));
  bytes_row("  per token", p.kv.bytes_per_token, "per sequence, layers still growing");
  for (const auto& g : layer_groups(s, p.kv)) {
    std::string note;
    if (g.kind == LayerKind::Linear)
      note = fmt::format("{} state per layer and sequence", format_bytes(g.state_bytes));
    else if (g.kind == LayerKind::None)
      note = "no cache";
    else
      note = fmt::format("{} B/token per layer, {} tokens kept", group_digits(g.bytes_per_token),
                         g.tokens_kept);
    bytes_row(fmt::format("  {} x {}", g.label, g.layers), g.bytes, note);
  }

  bytes_row("Workspace", p.workspace.total,
            fmt::format("scratch arena, {} rows", p.workspace.rows));
  for (const auto& b : p.workspace.buffers) bytes_row("  " + b.name, b.bytes);

  if (run.server) {
    bytes_row("Server", p.server.total, "baseline + requests bounded by --max-body and --parallel");
    bytes_row("  baseline", p.server.base, "HTTP threads and buffers, scheduler (profile)");
    bytes_row("  bodies", p.server.bodies,
              fmt::format("{} in flight x --max-body {}", p.server.bodies_in_flight,
                          format_bytes(run.server->max_body)));
    bytes_row("  preparation", p.server.preparation,
              plural(run.server->preparation_threads, "thread", "threads") +
                  " parsing, rendering, tokenizing");
  }
  bytes_row("Overhead", p.overhead.total,
            p.overhead.calibrated ? "calibrated: " + p.overhead.profile
                                  : "UNCALIBRATED estimate: " + p.overhead.profile);
  bytes_row("  base", p.overhead.base, "process baseline");
  bytes_row("  threads", p.overhead.threads, plural(run.threads, "thread", "threads"));
  bytes_row("  weights slack", p.overhead.weights);
  bytes_row("  kv slack", p.overhead.kv);
  bytes_row("  workspace slack", p.overhead.workspace);
  if (p.overhead.tokenizer != 0) bytes_row("  tokenizer", p.overhead.tokenizer, "tables of the tokenizer file");
  bytes_row("  margin", p.overhead.margin);

  bytes_row("Planned", p.planned, "weights + KV + workspace (exact: the runtime allocates these)");
  bytes_row("Total", p.total, run.server ? "planned + server requests + overhead" : "planned + overhead");
  bytes_row("Available", r.available.bytes, r.available.source);
  if (r.verdict.fits)
    bytes_row("Fits", r.verdict.headroom, "to spare");
  else
    bytes_row("DOES NOT FIT", r.verdict.shortfall, "short by");
  out += t.render();

  const MaxContext& m = r.max_context;
  if (m.tokens == 0) {
    out += "Max context  none: even 1 token does not fit\n";
  } else if (m.clamped) {
    out += fmt::format("Max context  {} tokens per sequence (clamped to {}; memory would allow more)\n",
                       m.tokens,
                       m.from_max_position ? "the model's max_position_embeddings"
                                           : "the search cap, the model gives no max_position_embeddings");
  } else {
    out += fmt::format("Max context  {} tokens per sequence (total {} B; {} tokens need {} B)\n",
                       m.tokens, group_digits(m.total_at_tokens), m.tokens + 1,
                       group_digits(m.total_at_next));
  }

  out += fmt::format("\nAdvice at context {} (each line is a full plan):\n", run.context);
  Table a({Align::Left, Align::Left, Align::Right, Align::Left});
  for (const auto& o : r.weight_formats) {
    if (o.valid)
      a.row({"weights", o.name, format_bytes(o.total), o.fits ? "fits" : "does not fit"});
    else
      a.row({"weights", o.name, "-", "n/a: " + without_component(o.problem)});
  }
  for (const auto& o : r.kv_types) {
    if (o.valid)
      a.row({"KV cache", o.name, format_bytes(o.total), o.fits ? "fits" : "does not fit"});
    else
      a.row({"KV cache", o.name, "-", "n/a: " + without_component(o.problem)});
  }
  out += a.render();
  if (r.recommendation) {
    const auto& rec = *r.recommendation;
    out += fmt::format("Recommended: {} with a {} KV cache ({})\n",
                       rec.weight_format == kAsIsFormat
                           ? fmt::format("the weights as they are ({})", quant_label(s))
                           : rec.weight_format + " weights",
                       kv_cache_type_name(rec.cache_type), format_bytes(rec.total));
  }
  else
    out += "Recommended: nothing fits at this context, whatever the weight format and KV cache "
           "type; lower --max-tokens or --batch\n";
  return out;
}

nlohmann::ordered_json server_plan_json(const MemoryPlan& p) {
  const ServerRequestLimits& limits = *p.run.server;
  return {{"total_bytes", p.server.total},
          {"base_bytes", p.server.base},
          {"bodies_bytes", p.server.bodies},
          {"bodies_in_flight", p.server.bodies_in_flight},
          {"max_body_bytes", limits.max_body},
          {"preparation_bytes", p.server.preparation},
          {"preparation_threads", limits.preparation_threads}};
}

json inspect_json(const InspectReport& r) {
  const ModelSpec& s = r.spec;
  const MemoryPlan& p = r.plan;
  const RunConfig& run = p.run;
  json j;
  j["schema_version"] = kInspectJsonSchemaVersion;
  j["model"] = {
      {"argument", r.model_arg},
      {"root", s.root},
      {"architecture", s.architecture},
      {"model_type", s.model_type},
      {"format", s.format},
      {"source", source_name(s.source)},
      {"float_dtype", dtype_name(s.float_dtype)},
      {"quantization",
       {{"method", quant_method_name(s.quant.method)},
        {"bits", s.quant.bits},
        {"group_size", s.quant.group_size}}},
      {"files", s.files},
      {"header_bytes_read", s.header_bytes_read},
      {"layers", s.layers.size()},
      {"hidden_size", s.dims.hidden_size},
      {"vocab_size", s.dims.vocab_size},
      {"max_position_embeddings", s.dims.max_position_embeddings},
  };
  j["run"] = {
      {"context", run.context},
      {"sequences", run.sequences},
      {"cache_type_k", kv_cache_type_name(run.cache_type_k)},
      {"cache_type_v", kv_cache_type_name(run.cache_type_v)},
      {"prefill_chunk", run.prefill_chunk},
      {"threads", run.threads},
      {"quant", r.quant.empty() ? json(nullptr) : json(r.quant)},
  };
  j["weights"] = {
      {"total_bytes", p.weights.total},
      {"source", source_name(p.weights.source)},
      {"by_component", named_list(p.weights.by_component, "tensors")},
      {"by_dtype", named_list(p.weights.by_dtype, "tensors")},
  };
  json groups = json::array();
  for (const auto& g : layer_groups(s, p.kv)) {
    json gj = {{"kind", layer_kind_name(g.kind)},
               {"layers", g.layers},
               {"bytes_per_token", g.bytes_per_token},
               {"tokens_kept", g.tokens_kept},
               {"state_bytes", g.state_bytes},
               {"total_bytes", g.bytes}};
    if (g.kind == LayerKind::Sliding) gj["window"] = g.window;
    if (g.kind == LayerKind::Mla) gj["latent_dim"] = g.latent;
    groups.push_back(gj);
  }
  json layers = json::array();
  for (const auto& l : p.kv.layers)
    layers.push_back({{"layer", l.layer},
                      {"kind", layer_kind_name(l.kind)},
                      {"bytes_per_token", l.bytes_per_token},
                      {"tokens_kept", l.tokens_kept},
                      {"state_bytes", l.state_bytes},
                      {"total_bytes", l.bytes}});
  j["kv"] = {{"bytes_per_token", p.kv.bytes_per_token},
             {"state_bytes", p.kv.state_bytes},
             {"total_bytes", p.kv.total},
             {"groups", groups},
             {"layers", layers}};
  j["workspace"] = {{"total_bytes", p.workspace.total},
                    {"rows", p.workspace.rows},
                    {"buffers", named_list(p.workspace.buffers, "count")}};
  j["overhead"] = {{"total_bytes", p.overhead.total},
                   {"calibrated", p.overhead.calibrated},
                   {"profile", p.overhead.profile},
                   {"provenance", p.overhead.provenance},
                   {"base_bytes", p.overhead.base},
                   {"threads_bytes", p.overhead.threads},
                   {"weights_bytes", p.overhead.weights},
                   {"kv_bytes", p.overhead.kv},
                   {"workspace_bytes", p.overhead.workspace},
                   {"tokenizer_bytes", p.overhead.tokenizer},
                   {"margin_bytes", p.overhead.margin}};
  if (run.server) j["server"] = server_plan_json(p);
  j["planned_bytes"] = p.planned;
  j["total_bytes"] = p.total;
  j["available"] = {{"bytes", r.available.bytes},
                    {"source", r.available.source},
                    {"mem_total", r.available.mem_total},
                    {"mem_available", r.available.mem_available}};
  j["verdict"] = {{"fits", r.verdict.fits},
                  {"headroom_bytes", r.verdict.headroom},
                  {"shortfall_bytes", r.verdict.shortfall}};
  const MaxContext& m = r.max_context;
  j["max_context"] = {{"tokens", m.tokens},
                      {"limit", m.limit},
                      {"limit_source", m.from_max_position ? "max_position_embeddings" : "search_cap"},
                      {"clamped", m.clamped},
                      {"total_bytes_at_tokens", m.total_at_tokens},
                      {"total_bytes_at_next", m.clamped ? json(nullptr) : json(m.total_at_next)}};
  json advice = {{"weight_formats", options_json(r.weight_formats)},
                 {"kv_cache_types", options_json(r.kv_types)}};
  if (r.recommendation)
    advice["recommended"] = {{"weight_format", r.recommendation->weight_format},
                             {"cache_type", kv_cache_type_name(r.recommendation->cache_type)},
                             {"total_bytes", r.recommendation->total}};
  else
    advice["recommended"] = nullptr;
  j["advice"] = advice;
  j["warnings"] = p.warnings;
  return j;
}

}  // namespace mlxcel::cli
