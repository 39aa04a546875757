// plan_memory: the single function that turns a model and a run configuration into bytes.
// Formulas are documented in docs/memory-model.md; keep the two in step.
#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>
#include <string_view>

#include "core/checked.h"
#include "core/linear_scratch.h"
#include "core/mlx_affine.h"
#include "mlxcel/errors.h"
#include "mlxcel/estimate.h"

namespace mlxcel {
namespace {

uint64_t add(uint64_t a, uint64_t b, std::string_view what) {
  auto r = checked_add(a, b);
  if (!r) throw ConfigError("estimate", fmt::format("size overflows 64 bits ({})", what));
  return *r;
}

uint64_t mul(uint64_t a, uint64_t b, std::string_view what) {
  auto r = checked_mul(a, b);
  if (!r) throw ConfigError("estimate", fmt::format("size overflows 64 bits ({})", what));
  return *r;
}

uint64_t mul3(uint64_t a, uint64_t b, uint64_t c, std::string_view what) {
  return mul(mul(a, b, what), c, what);
}

// ceil(fraction * bytes) for a non-negative fraction.
uint64_t fraction_of(double fraction, uint64_t bytes, std::string_view what) {
  long double v = std::ceil(static_cast<long double>(fraction) * static_cast<long double>(bytes));
  if (!(v >= 0) || v >= 18446744073709551615.0L)
    throw ConfigError("estimate", fmt::format("size overflows 64 bits ({})", what));
  return static_cast<uint64_t>(v);
}

std::string row_problem(KvCacheType t, uint32_t layer, std::string_view field, uint64_t elems) {
  const auto& info = kv_cache_type_info(t);
  return fmt::format(
      "KV cache type {} needs a head dim that is a multiple of its block of {} "
      "(layer {}, {}, {})",
      info.name, info.block_elems, layer, field, elems);
}

uint64_t row_bytes(KvCacheType t, uint32_t layer, std::string_view field, uint64_t elems) {
  auto r = kv_row_bytes(t, elems);
  if (!r) throw ConfigError("estimate", row_problem(t, layer, field, elems));
  return *r;
}

bool is_attention(LayerKind k) {
  return k == LayerKind::Full || k == LayerKind::Sliding || k == LayerKind::Mla;
}

void check_layer(const LayerCache& l, uint32_t i) {
  auto missing = [&](std::string_view field) {
    throw ConfigError("estimate", fmt::format("layer {} ({}) has no {} (layer {}, {}, 0)", i,
                                              layer_kind_name(l.kind), field, i, field));
  };
  switch (l.kind) {
    case LayerKind::Sliding:
      if (l.window == 0) missing("window");
      [[fallthrough]];
    case LayerKind::Full:
      if (l.kv_heads == 0) missing("kv_heads");
      if (l.k_head_dim == 0) missing("k_head_dim");
      if (l.v_head_dim == 0) missing("v_head_dim");
      break;
    case LayerKind::Mla:
      if (l.latent_dim == 0) missing("latent_dim");
      break;
    case LayerKind::Linear:
    case LayerKind::None:
      break;
  }
}

WeightsPlan plan_weights(const ModelSpec& spec) {
  WeightsPlan w;
  w.source = spec.source;
  constexpr size_t kComponents = static_cast<size_t>(Component::Other) + 1;
  std::array<NamedBytes, kComponents> comp{};
  std::map<uint8_t, NamedBytes> dtypes;  // keyed by DType order
  for (const auto& t : spec.tensors) {
    auto& c = comp[static_cast<size_t>(t.component)];
    c.bytes = add(c.bytes, t.bytes, "weights by component");
    ++c.count;
    auto& d = dtypes[static_cast<uint8_t>(t.dtype)];
    d.name = std::string(dtype_name(t.dtype));
    d.bytes = add(d.bytes, t.bytes, "weights by dtype");
    ++d.count;
    w.total = add(w.total, t.bytes, "weights total");
  }
  for (size_t i = 0; i < kComponents; ++i) {
    if (comp[i].count == 0) continue;
    comp[i].name = std::string(component_name(static_cast<Component>(i)));
    w.by_component.push_back(comp[i]);
  }
  for (auto& [_, d] : dtypes) w.by_dtype.push_back(d);
  return w;
}

KvPlan plan_kv(const ModelSpec& spec, const RunConfig& run) {
  KvPlan kv;
  for (size_t idx = 0; idx < spec.layers.size(); ++idx) {
    const auto& l = spec.layers[idx];
    const auto i = static_cast<uint32_t>(idx);
    check_layer(l, i);
    KvLayerPlan p;
    p.layer = i;
    p.kind = l.kind;
    switch (l.kind) {
      case LayerKind::Full:
      case LayerKind::Sliding: {
        uint64_t k = row_bytes(run.cache_type_k, i, "k_head_dim", l.k_head_dim);
        uint64_t v = row_bytes(run.cache_type_v, i, "v_head_dim", l.v_head_dim);
        p.bytes_per_token = mul(l.kv_heads, add(k, v, "kv row"), "kv per token");
        p.tokens_kept = l.kind == LayerKind::Full ? run.context : std::min(run.context, l.window);
        break;
      }
      case LayerKind::Mla:
        // One latent (compressed KV + shared rope key) per token, stored with the K type.
        p.bytes_per_token = row_bytes(run.cache_type_k, i, "latent_dim", l.latent_dim);
        p.tokens_kept = run.context;
        break;
      case LayerKind::Linear: {
        auto s = dtype_bytes(l.state_dtype, l.state_elems);
        if (!s)
          throw ConfigError("estimate", fmt::format("linear state does not fit its dtype (layer {}, "
                                                    "state_elems, {})", i, l.state_elems));
        p.state_bytes = *s;
        break;
      }
      case LayerKind::None:
        break;
    }
    uint64_t per_seq = add(mul(p.bytes_per_token, p.tokens_kept, "kv layer"), p.state_bytes,
                           "kv layer");
    p.bytes = mul(per_seq, run.sequences, "kv layer x sequences");
    bool grows = l.kind == LayerKind::Full || l.kind == LayerKind::Mla ||
                 (l.kind == LayerKind::Sliding && run.context < l.window);
    if (grows) kv.bytes_per_token = add(kv.bytes_per_token, p.bytes_per_token, "kv per token");
    kv.state_bytes = add(kv.state_bytes, mul(p.state_bytes, run.sequences, "kv state"), "kv state");
    kv.total = add(kv.total, p.bytes, "kv total");
    kv.layers.push_back(p);
  }
  return kv;
}

// Widths (elements per row) of the attention buffers: the largest over attention layers.
struct AttentionWidths {
  uint64_t q = 0, k = 0, v = 0, out = 0, score_len = 0;
  bool any = false;
};

AttentionWidths attention_widths(const ModelSpec& spec, const RunConfig& run) {
  AttentionWidths w;
  const uint64_t heads = spec.dims.num_heads;
  for (size_t idx = 0; idx < spec.layers.size(); ++idx) {
    const auto& l = spec.layers[idx];
    if (!is_attention(l.kind)) continue;
    if (heads == 0)
      throw ConfigError("estimate", fmt::format("model has attention layers but no head count "
                                                "(layer {}, num_heads, 0)", idx));
    w.any = true;
    uint64_t qk_dim = l.k_head_dim, v_dim = l.v_head_dim, k_w, v_w, len;
    if (l.kind == LayerKind::Mla) {
      if (qk_dim == 0) qk_dim = spec.dims.head_dim;
      if (v_dim == 0) v_dim = spec.dims.head_dim;
      k_w = v_w = l.latent_dim;
      len = run.context;
    } else {
      k_w = mul(l.kv_heads, l.k_head_dim, "k width");
      v_w = mul(l.kv_heads, l.v_head_dim, "v width");
      len = l.kind == LayerKind::Full ? run.context : std::min(run.context, l.window);
    }
    w.q = std::max(w.q, mul(heads, qk_dim, "q width"));
    w.k = std::max(w.k, k_w);
    w.v = std::max(w.v, v_w);
    w.out = std::max(w.out, mul(heads, v_dim, "attn_out width"));
    w.score_len = std::max(w.score_len, len);
  }
  return w;
}

// Bits of every MLX-quantized weight in the spec, as the loader derives them (mlx_affine_bits;
// the input features are the scales' columns x group). A spec without such pairs (analytic, from
// config.json) gives the config's bits.
std::set<uint32_t> mlx_weight_bits(const ModelSpec& spec, uint32_t group) {
  std::map<std::string_view, const TensorSpec*> scales;
  constexpr std::string_view kScales = ".scales", kWeight = ".weight";
  for (const auto& t : spec.tensors) {
    const std::string_view n = t.name;
    if (n.ends_with(kScales) && t.shape.size() == 2) scales.emplace(n.substr(0, n.size() - kScales.size()), &t);
  }
  std::set<uint32_t> bits;
  for (const auto& t : spec.tensors) {
    const std::string_view n = t.name;
    if (t.dtype != DType::U32 || t.shape.size() != 2 || !n.ends_with(kWeight)) continue;
    const auto it = scales.find(n.substr(0, n.size() - kWeight.size()));
    if (it == scales.end()) continue;
    if (const uint64_t b = mlx_affine_bits(t.shape[1], it->second->shape[1] * group)) bits.insert(static_cast<uint32_t>(b));
  }
  if (bits.empty()) bits.insert(spec.quant.bits);
  return bits;
}

// The matmul kernels' scratch for the widest matmul input A at R rows on T threads: the formula
// the kernels use (core/linear_scratch.h) for the weight formats the model holds, the largest of
// them (an MLX-quantized model may keep some weights in bf16). Only 64 B of alignment slack when
// all weights are f32. tests/cli/workspace_kernels_test.cpp holds it equal to the kernels' ask.
uint64_t matmul_scratch_bytes(const ModelSpec& spec, uint64_t R, uint64_t A, uint64_t T) {
  uint64_t bytes = linear_kernel_scratch_bytes(DType::F32, A, 0, 0, R, T);
  if (spec.quant.method == QuantMethod::Mlx) {
    const uint32_t g = spec.quant.group_size;
    if (g == 0)
      throw ConfigError("estimate", "MLX-quantized model without a group size (quantization, "
                                    "group_size, 0)");
    // the GEMM threshold, and so the scratch, depends on the bits (gemm_min_rows)
    for (uint32_t bits : mlx_weight_bits(spec, g))
      bytes = std::max(bytes, linear_kernel_scratch_bytes(DType::U32, A, g, bits, R, T));
  }
  // f16/bf16 matrices that reach a matmul; an MLX model's scales and biases are 2-D bf16 too, but
  // only the affine kernels read them (counting them reserved the bf16 GEMM's scratch for every
  // MLX model: ~7 MB at a 512-row chunk of Llama-3.2-1B)
  const bool mlx = spec.quant.method == QuantMethod::Mlx;
  const bool half_weights = std::any_of(spec.tensors.begin(), spec.tensors.end(), [&](const auto& t) {
    const std::string_view n = t.name;
    const bool affine_params = mlx && (n.ends_with(".scales") || n.ends_with(".biases"));
    return t.shape.size() >= 2 && (t.dtype == DType::BF16 || t.dtype == DType::F16) && !affine_params;
  });
  if (half_weights) bytes = std::max(bytes, linear_kernel_scratch_bytes(DType::BF16, A, 0, 0, R, T));
  return bytes;
}

WorkspacePlan plan_workspace(const ModelSpec& spec, const RunConfig& run,
                             std::vector<std::string>& warnings) {
  const auto& d = spec.dims;
  if (d.hidden_size == 0)
    throw ConfigError("estimate", "model spec has no hidden size (dims, hidden_size, 0)");
  if (d.vocab_size == 0)
    throw ConfigError("estimate", "model spec has no vocabulary size (dims, vocab_size, 0)");
  WorkspacePlan ws;
  const uint64_t R = std::max(std::min(run.prefill_chunk, run.context), run.sequences);
  ws.rows = R;
  const uint64_t H = d.hidden_size;
  const uint64_t ffn = std::max({d.intermediate_size,
                                 mul(d.moe_intermediate_size, d.experts_per_token, "moe width"),
                                 d.shared_expert_intermediate_size});
  const AttentionWidths att = attention_widths(spec, run);
  uint64_t linear_w = 0;
  std::vector<size_t> no_scratch;
  for (size_t idx = 0; idx < spec.layers.size(); ++idx) {
    const auto& l = spec.layers[idx];
    if (l.kind != LayerKind::Linear) continue;
    if (l.scratch_elems_per_token == 0) no_scratch.push_back(idx);
    linear_w = std::max(linear_w, l.scratch_elems_per_token);
  }
  if (!no_scratch.empty())
    warnings.push_back(fmt::format("{} linear layer(s) (first: layer {}) have no per-token scratch "
                                   "width from the architecture; the workspace leaves out their "
                                   "projections",
                                   no_scratch.size(), no_scratch.front()));
  const uint64_t A = std::max({H, ffn, att.out, linear_w});

  auto push = [&](std::string name, uint64_t bytes) {
    if (bytes == 0) return;
    ws.buffers.push_back({std::move(name), bytes, 1});
    ws.total = add(ws.total, bytes, "workspace total");
  };
  push("hidden", mul3(R, H, 4, "workspace hidden"));
  push("normed", mul3(R, H, 4, "workspace normed"));
  push("q", mul3(R, att.q, 4, "workspace q"));
  push("k", mul3(R, att.k, 4, "workspace k"));
  push("v", mul3(R, att.v, 4, "workspace v"));
  push("attn_out", mul3(R, att.out, 4, "workspace attn_out"));
  push("scores", mul3(run.threads, att.score_len, 4, "workspace scores"));
  push("mlp_gate", mul3(R, ffn, 4, "workspace mlp_gate"));
  push("mlp_up", mul3(R, ffn, 4, "workspace mlp_up"));
  push("router_logits", mul3(R, d.num_experts, 4, "workspace router_logits"));
  push("linear_scratch", mul3(R, linear_w, 4, "workspace linear_scratch"));
  push("matmul_scratch", matmul_scratch_bytes(spec, R, A, run.threads));
  push("logits", mul3(run.sequences, d.vocab_size, 4, "workspace logits"));
  return ws;
}

OverheadPlan plan_overhead(const CalibrationProfile& p, const RunConfig& run, uint64_t weights,
                           uint64_t kv, uint64_t workspace, uint64_t tokenizer_file_bytes,
                           bool tokenizer_is_tiktoken, uint64_t planned) {
  OverheadPlan o;
  o.calibrated = p.calibrated;
  o.profile = p.path;
  o.provenance = p.provenance;
  o.base = p.base_bytes;
  o.threads = mul(run.threads, p.per_thread_bytes, "overhead threads");
  o.weights = fraction_of(p.weights_fraction, weights, "overhead weights");
  o.kv = fraction_of(p.kv_fraction, kv, "overhead kv");
  o.workspace = fraction_of(p.workspace_fraction, workspace, "overhead workspace");
  o.tokenizer = fraction_of(p.tokenizer_coefficient(tokenizer_is_tiktoken), tokenizer_file_bytes,
                            "overhead tokenizer");
  uint64_t fitted = add(add(add(add(add(o.base, o.threads, "overhead"), o.weights, "overhead"), o.kv,
                                "overhead"),
                            o.workspace, "overhead"),
                        o.tokenizer, "overhead");
  o.margin = fraction_of(p.margin, add(planned, fitted, "overhead margin"), "overhead margin");
  o.total = add(fitted, o.margin, "overhead total");
  return o;
}

ServerPlan plan_server(const CalibrationProfile& p, const RunConfig& run) {
  ServerPlan s;
  if (!run.server) return s;
  const ServerRequestLimits& l = *run.server;
  s.bodies_in_flight = request_bodies_in_flight(l.bodies_in_flight, run.sequences);
  s.bodies = mul(s.bodies_in_flight, l.max_body, "server bodies");
  s.preparation = mul(l.preparation_threads,
                      fraction_of(p.server_preparation_per_body_byte, l.max_body,
                                  "server preparation"),
                      "server preparation");
  s.base = p.server_base_bytes;
  s.total = add(add(s.base, s.bodies, "server total"), s.preparation, "server total");
  return s;
}

void check_run(const RunConfig& run) {
  auto bad = [](std::string_view field) {
    throw UsageError("estimate", fmt::format("run setting must be at least 1 (run, {}, 0)", field));
  };
  if (run.context == 0) bad("context");
  if (run.sequences == 0) bad("sequences");
  if (run.prefill_chunk == 0) bad("prefill_chunk");
  if (run.threads == 0) bad("threads");
  if (run.server && run.server->max_body == 0) bad("server.max_body");
}

}  // namespace

uint64_t request_bodies_in_flight(uint32_t bodies_in_flight, uint64_t sequences) {
  return bodies_in_flight != 0 ? bodies_in_flight : add(sequences, 2, "server bodies in flight");
}

std::optional<std::string> kv_cache_type_problem(const ModelSpec& spec, KvCacheType t) {
  auto problem = [&](uint32_t i, std::string_view field, uint64_t elems) -> std::string {
    return "[estimate] " + row_problem(t, i, field, elems);
  };
  for (size_t idx = 0; idx < spec.layers.size(); ++idx) {
    const auto& l = spec.layers[idx];
    const auto i = static_cast<uint32_t>(idx);
    if (l.kind == LayerKind::Full || l.kind == LayerKind::Sliding) {
      if (!kv_row_bytes(t, l.k_head_dim)) return problem(i, "k_head_dim", l.k_head_dim);
      if (!kv_row_bytes(t, l.v_head_dim)) return problem(i, "v_head_dim", l.v_head_dim);
    } else if (l.kind == LayerKind::Mla) {
      if (!kv_row_bytes(t, l.latent_dim)) return problem(i, "latent_dim", l.latent_dim);
    }
  }
  return std::nullopt;
}

RunConfig default_run_config(const ModelSpec& spec) {
  RunConfig run;
  run.context = spec.dims.max_position_embeddings == 0
                    ? kDefaultContext
                    : std::min(spec.dims.max_position_embeddings, kDefaultContext);
  cpu_set_t set;
  CPU_ZERO(&set);
  int cpus = 0;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
  if (cpus <= 0) cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  run.threads = cpus > 0 ? static_cast<uint32_t>(cpus) : 1;
  return run;
}

MemoryPlan plan_memory(const ModelSpec& spec, const RunConfig& run,
                       const CalibrationProfile& profile) {
  check_run(run);
  MemoryPlan plan;
  plan.run = run;
  plan.weights = plan_weights(spec);
  plan.kv = plan_kv(spec, run);
  plan.workspace = plan_workspace(spec, run, plan.warnings);
  plan.planned = add(add(plan.weights.total, plan.kv.total, "planned"), plan.workspace.total,
                     "planned");
  plan.overhead = plan_overhead(profile, run, plan.weights.total, plan.kv.total,
                                plan.workspace.total, spec.tokenizer_file_bytes, spec.tokenizer_is_tiktoken,
                                plan.planned);
  plan.server = plan_server(profile, run);
  plan.total = add(add(plan.planned, plan.server.total, "total"), plan.overhead.total, "total");
  for (const auto& w : spec.warnings) plan.warnings.push_back(w);
  const uint64_t max_pos = spec.dims.max_position_embeddings;
  if (max_pos > 0 && run.context > max_pos) {
    plan.warnings.push_back(fmt::format(
        "context {} exceeds the model's max_position_embeddings {} (config.json, max_position_embeddings, {}): "
        "the memory is planned as asked, but positions beyond {} were never trained and output quality "
        "usually degrades there",
        run.context, max_pos, max_pos, max_pos));
  }
  return plan;
}

}  // namespace mlxcel
