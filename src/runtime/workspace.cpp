// Model::allocate_kv / allocate_workspace: the KV cache and the scratch arena, buffer by buffer as
// the plan lists them, each checked against what the forward pass will use.
#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/checked.h"
#include "mlxcel/errors.h"
#include "runtime/model.h"

namespace mlxcel::runtime {
namespace {

constexpr const char* kComponent = "runtime";

[[noreturn]] void plan_mismatch(const std::string& what) {
  throw std::logic_error("[runtime] the memory plan and the forward pass disagree: " + what);
}

}  // namespace

void Model::allocate_kv() {
  const RunConfig& run = plan_.run;
  const ModelHyper& h = hyper_;
  if (spec_.layers.size() != h.layers || plan_.kv.layers.size() != h.layers) {
    throw ConfigError(kComponent, fmt::format("layer count differs between dims and layer caches ({}, {} vs {})",
                                              spec_.root, h.layers, spec_.layers.size()));
  }
  kv_.resize(h.layers);
  for (uint64_t i = 0; i < h.layers; ++i) {
    const LayerCache& lc = spec_.layers[i];
    const KvLayerPlan& lp = plan_.kv.layers[i];
    if (lc.kind != LayerKind::Full && lc.kind != LayerKind::Sliding) {
      throw UnsupportedArchitecture(kComponent, fmt::format("layer kind not implemented ({}, layer {}, {})", spec_.root,
                                                            i, layer_kind_name(lc.kind)));
    }
    if (lc.kv_heads != h.kv_heads || lc.k_head_dim != h.head_dim || lc.v_head_dim != h.head_dim) {
      throw ConfigError(kComponent, fmt::format("layer cache shape differs from the model dims ({}, layer {}, kv_heads {} "
                                                "k_head_dim {} v_head_dim {})",
                                                spec_.root, i, lc.kv_heads, lc.k_head_dim, lc.v_head_dim));
    }
    LayerKv& L = kv_[i];
    L.window = lc.kind == LayerKind::Sliding ? lc.window : 0;
    const uint64_t capacity = lp.tokens_kept;
    const uint64_t k_bytes = uint64_t{h.kv_heads} * capacity * kernels::kv_cache_row_bytes(run.cache_type_k, h.head_dim);
    const uint64_t v_bytes = uint64_t{h.kv_heads} * capacity * kernels::kv_cache_row_bytes(run.cache_type_v, h.head_dim);
    const uint64_t per_seq = k_bytes + v_bytes;
    if (capacity == 0 || per_seq * run.sequences != lp.bytes) {
      plan_mismatch(fmt::format("layer {} KV: plan {} bytes for {} tokens, the kernels' rows need {} x {} sequences", i,
                                lp.bytes, capacity, per_seq, run.sequences));
    }
    // Zero-filled so the pages are resident from the start: a run that starts cannot run out later.
    L.buffer = allocate(lp.bytes, fmt::format("layers.{}.kv", i), Init::Zero);
    auto* base = static_cast<std::byte*>(L.buffer.data());
    for (uint64_t s = 0; s < run.sequences; ++s) {
      L.k.push_back({run.cache_type_k, base + s * per_seq, h.kv_heads, h.head_dim, capacity});
      L.v.push_back({run.cache_type_v, base + s * per_seq + k_bytes, h.kv_heads, h.head_dim, capacity});
    }
  }
  seq_len_.assign(run.sequences, 0);
}

float* Model::ws(const std::string& name, uint64_t min_bytes) {
  for (auto& [n, b] : workspace_) {
    if (n != name) continue;
    if (b.size() < min_bytes) {
      plan_mismatch(fmt::format("workspace '{}' is {} bytes, the forward pass needs {}", name, b.size(), min_bytes));
    }
    return b.as<float>();
  }
  plan_mismatch(fmt::format("the plan has no workspace buffer '{}' ({} bytes needed)", name, min_bytes));
}

void Model::allocate_workspace() {
  const RunConfig& run = plan_.run;
  const ModelHyper& h = hyper_;
  const WorkspacePlan& wp = plan_.workspace;
  rows_ = wp.rows;
  if (rows_ == 0) plan_mismatch("workspace rows is 0");
  for (const NamedBytes& nb : wp.buffers) workspace_.emplace_back(nb.name, allocate(nb.bytes, "workspace." + nb.name, Init::Zero));

  const uint64_t R = rows_, H = h.hidden, I = h.intermediate;
  const uint64_t q_dim = uint64_t{h.heads} * h.head_dim, kv_dim = uint64_t{h.kv_heads} * h.head_dim;
  hidden_ = ws("hidden", R * H * 4);
  normed_ = ws("normed", R * H * 4);
  q_ = ws("q", R * q_dim * 4);
  k_ = ws("k", R * kv_dim * 4);
  v_ = ws("v", R * kv_dim * 4);
  attn_out_ = ws("attn_out", R * q_dim * 4);
  gate_ = ws("mlp_gate", R * I * 4);
  up_ = ws("mlp_up", R * I * 4);
  logits_ = ws("logits", run.sequences * h.vocab * 4);

  // Scores: one row per thread, as long as the most keys one query sees (the window on sliding
  // layers, the context otherwise).
  uint64_t most_keys = 0;
  for (const LayerKv& L : kv_) most_keys = std::max(most_keys, L.window ? std::min(L.window, run.context) : run.context);
  scores_rows_ = run.threads;
  scores_ = ws("scores", uint64_t{scores_rows_} * most_keys * 4);
  for (auto& [n, b] : workspace_) {
    if (n == "scores") scores_stride_ = b.size() / 4 / scores_rows_;
  }

  // The kernels' linear scratch for the largest call: every weight at R rows.
  uint64_t scratch = 0;
  auto need = [&](const kernels::Weight& w) { scratch = std::max(scratch, kernels::linear_scratch_bytes(w, R, run.threads)); };
  need(lm_head_);
  for (const LayerWeights& L : layers_) {
    for (const Linear* l : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) need(l->w);
  }
  // One contiguous buffer, as the kernels take it. The plan should list it as "matmul_scratch";
  // until it does, the bytes are allocated outside the plan and reported by unplanned_bytes().
  bool planned = false;
  for (auto& [n, b] : workspace_) {
    if (n != "matmul_scratch") continue;
    if (b.size() < scratch) {
      plan_mismatch(fmt::format("workspace 'matmul_scratch' is {} bytes, the kernels need {}", b.size(), scratch));
    }
    linear_scratch_ = b.bytes();
    planned = true;
  }
  if (!planned && scratch > 0) {
    spdlog::warn("[runtime] the memory plan has no 'matmul_scratch' buffer; allocating the kernels' {} bytes of "
                 "matmul scratch outside the plan",
                 scratch);
    unplanned_.emplace_back("matmul_scratch", allocate(scratch, "workspace.matmul_scratch (unplanned)"));
    unplanned_bytes_ += scratch;
    linear_scratch_ = unplanned_.back().second.bytes();
  }

  row_tok_.resize(R);
  row_seq_.resize(R);
  row_pos_.resize(R);
  row_index_.resize(R);
  seen_.resize(run.sequences);
}

}  // namespace mlxcel::runtime
