// The llama-family forward pass over the planned workspace: embeddings, per layer RMSNorm ->
// q/k/v (+bias) -> per-head q/k RMSNorm -> RoPE -> attention over the KV cache -> o_proj into the
// residual, RMSNorm -> SiLU-gated MLP -> down_proj into the residual; final norm and lm_head for
// the rows whose logits are wanted.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <utility>

#include <fmt/format.h>

#include "mlxcel/errors.h"
#include "runtime/model.h"

namespace mlxcel::runtime {
namespace {

constexpr const char* kComponent = "runtime";

}  // namespace

void Model::check_token(int32_t token) const {
  if (token < 0 || static_cast<uint64_t>(token) >= hyper_.vocab) {
    throw UsageError(kComponent, fmt::format("token id outside the vocabulary (token, {}, vocab {})", token, hyper_.vocab));
  }
}

void Model::forward(const int32_t* tokens, const uint32_t* seqs, const uint64_t* pos, uint64_t n) {
  const ModelHyper& h = hyper_;
  const uint64_t H = h.hidden, I = h.intermediate;
  auto lin = [&](const Linear& l, const float* x, float* y, bool accumulate) {
    kernels::LinearOptions o;
    o.accumulate = accumulate;
    kernels::linear(l.w, x, n, y, linear_scratch_, o);
    if (l.bias.data) kernels::add_row_vector(y, n, l.w.rows, l.bias.data, l.bias.dtype);
  };
  // Linears that all read normed_ (q/k/v, gate/up): one pool job instead of one per matrix.
  auto lin_normed = [&](std::initializer_list<std::pair<const Linear*, float*>> set) {
    kernels::LinearOut outs[3];
    size_t count = 0;
    for (const auto& [l, y] : set) outs[count++] = {&l->w, y};
    kernels::linear_fused(std::span<const kernels::LinearOut>(outs, count), normed_, n, linear_scratch_);
    for (const auto& [l, y] : set) {
      if (l->bias.data) kernels::add_row_vector(y, n, l->w.rows, l->bias.data, l->bias.dtype);
    }
  };

  for (uint64_t r = 0; r < n; ++r) kernels::embedding_row(embed_, static_cast<uint64_t>(tokens[r]), hidden_ + r * H);
  for (uint64_t li = 0; li < h.layers; ++li) {
    const LayerWeights& L = layers_[li];
    kernels::rms_norm(hidden_, normed_, n, H, L.attn_norm.data, L.attn_norm.dtype, h.rms_eps);
    lin_normed({{&L.q, q_}, {&L.k, k_}, {&L.v, v_}});
    if (L.q_norm.data) {
      kernels::rms_norm(q_, q_, n * h.heads, h.head_dim, L.q_norm.data, L.q_norm.dtype, h.rms_eps);
      kernels::rms_norm(k_, k_, n * h.kv_heads, h.head_dim, L.k_norm.data, L.k_norm.dtype, h.rms_eps);
    }
    kernels::rope(q_, n, h.heads, h.head_dim, h.rotary_dim, h.inv_freq.data(), kernels::RopeStyle::Neox, 0, pos,
                  h.rope_attention_factor);
    kernels::rope(k_, n, h.kv_heads, h.head_dim, h.rotary_dim, h.inv_freq.data(), kernels::RopeStyle::Neox, 0, pos,
                  h.rope_attention_factor);
    attention_layer(li, seqs, pos, n);
    lin(L.o, attn_out_, hidden_, true);  // residual add fused into the projection
    kernels::rms_norm(hidden_, normed_, n, H, L.mlp_norm.data, L.mlp_norm.dtype, h.rms_eps);
    lin_normed({{&L.gate, gate_}, {&L.up, up_}});
    kernels::silu_mul(gate_, up_, gate_, n * I);
    lin(L.down, gate_, hidden_, true);
  }
}

void Model::attention_layer(uint64_t li, const uint32_t* seqs, const uint64_t* pos, uint64_t n) {
  const ModelHyper& h = hyper_;
  const uint64_t q_dim = uint64_t{h.heads} * h.head_dim, kv_dim = uint64_t{h.kv_heads} * h.head_dim;
  LayerKv& kv = kv_[li];
  kernels::AttentionParams p;
  p.n_heads = h.heads;
  p.n_kv_heads = h.kv_heads;
  p.head_dim_k = h.head_dim;
  p.head_dim_v = h.head_dim;
  p.scale = 1.0f / std::sqrt(static_cast<float>(h.head_dim));
  p.window = kv.window;
  // Rows of one sequence are consecutive positions: attend them as one chunk, then store them.
  uint64_t r0 = 0;
  while (r0 < n) {
    uint64_t r1 = r0 + 1;
    while (r1 < n && seqs[r1] == seqs[r0]) ++r1;
    const uint32_t s = seqs[r0];
    kernels::AttentionInputs in;
    in.q = q_ + r0 * q_dim;
    in.n_q = r1 - r0;
    in.q_pos0 = pos[r0];
    in.k_cache = &kv.k[s];
    in.v_cache = &kv.v[s];
    in.n_past = pos[r0];
    in.k_new = k_ + r0 * kv_dim;
    in.v_new = v_ + r0 * kv_dim;
    in.out = attn_out_ + r0 * q_dim;
    in.scores = scores_;
    in.scores_stride = scores_stride_;
    in.scores_rows = scores_rows_;
    kernels::attention(p, in);
    kernels::kv_store(kv.k[s], k_ + r0 * kv_dim, r1 - r0, pos[r0]);
    kernels::kv_store(kv.v[s], v_ + r0 * kv_dim, r1 - r0, pos[r0]);
    r0 = r1;
  }
}

void Model::logits_for_rows(const uint64_t* rows, uint64_t n) {
  const uint64_t H = hyper_.hidden;
  for (uint64_t i = 0; i < n; ++i) {
    kernels::rms_norm(hidden_ + rows[i] * H, normed_ + i * H, 1, H, final_norm_.data, final_norm_.dtype, hyper_.rms_eps);
  }
  kernels::linear(lm_head_, normed_, n, logits_, linear_scratch_);
}

std::span<float> Model::prefill(uint32_t seq, std::span<const int32_t> tokens) {
  if (seq >= seq_len_.size()) throw UsageError(kComponent, fmt::format("no such sequence (seq, {})", seq));
  if (tokens.empty()) throw UsageError(kComponent, "prefill needs at least one token (tokens, 0)");
  if (tokens.size() > context() - seq_len_[seq]) {
    throw UsageError(kComponent, fmt::format("context is full (--ctx-size, {}: {} tokens held, {} more)", context(),
                                             seq_len_[seq], tokens.size()));
  }
  for (int32_t t : tokens) check_token(t);
  uint64_t done = 0, last_rows = 0;
  while (done < tokens.size()) {
    const uint64_t n = std::min<uint64_t>(rows_, tokens.size() - done);
    for (uint64_t r = 0; r < n; ++r) {
      row_seq_[r] = seq;
      row_pos_[r] = seq_len_[seq] + r;
    }
    forward(tokens.data() + done, row_seq_.data(), row_pos_.data(), n);
    seq_len_[seq] += n;
    done += n;
    last_rows = n;
  }
  const uint64_t last = last_rows - 1;
  logits_for_rows(&last, 1);
  return {logits_, hyper_.vocab};
}

std::span<float> Model::decode(std::span<const DecodeRow> rows) {
  const uint64_t n = rows.size();
  if (n == 0 || n > sequences() || n > rows_) {
    throw UsageError(kComponent, fmt::format("decode takes 1 to {} rows (rows, {})", std::min(sequences(), rows_), n));
  }
  std::fill(seen_.begin(), seen_.end(), uint8_t{0});
  for (uint64_t r = 0; r < n; ++r) {
    const uint32_t s = rows[r].seq;
    if (s >= sequences() || seen_[s]) throw UsageError(kComponent, fmt::format("bad or repeated sequence (seq, {})", s));
    seen_[s] = 1;
    if (seq_len_[s] >= context()) throw UsageError(kComponent, fmt::format("context is full (--ctx-size, {})", context()));
    check_token(rows[r].token);
    row_tok_[r] = rows[r].token;
    row_seq_[r] = s;
    row_pos_[r] = seq_len_[s];
    row_index_[r] = r;
  }
  forward(row_tok_.data(), row_seq_.data(), row_pos_.data(), n);
  for (uint64_t r = 0; r < n; ++r) seq_len_[rows[r].seq]++;
  logits_for_rows(row_index_.data(), n);
  return {logits_, n * hyper_.vocab};
}

}  // namespace mlxcel::runtime
