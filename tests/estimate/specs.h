// Hand-built ModelSpecs for estimator tests (no files, no registry): shapes are written out so
// the expected byte counts in the tests can be derived by hand.
#pragma once

#include <cstdint>
#include <string>

#include "mlxcel/estimate.h"
#include "mlxcel/model_spec.h"

namespace mlxcel::test {

inline LayerCache full_layer(uint32_t kv_heads, uint32_t head_dim) {
  LayerCache l;
  l.kind = LayerKind::Full;
  l.kv_heads = kv_heads;
  l.k_head_dim = head_dim;
  l.v_head_dim = head_dim;
  return l;
}

inline LayerCache sliding_layer(uint32_t kv_heads, uint32_t head_dim, uint64_t window) {
  LayerCache l = full_layer(kv_heads, head_dim);
  l.kind = LayerKind::Sliding;
  l.window = window;
  return l;
}

inline LayerCache mla_layer(uint32_t latent_dim) {
  LayerCache l;
  l.kind = LayerKind::Mla;
  l.latent_dim = latent_dim;
  return l;
}

inline LayerCache linear_layer(uint64_t state_elems, uint64_t scratch_per_token) {
  LayerCache l;
  l.kind = LayerKind::Linear;
  l.state_elems = state_elems;
  l.state_dtype = DType::F32;
  l.scratch_elems_per_token = scratch_per_token;
  return l;
}

inline TensorSpec tensor(const std::string& name, DType dtype, uint64_t bytes, Component c) {
  TensorSpec t;
  t.name = name;
  t.dtype = dtype;
  t.bytes = bytes;
  t.component = c;
  return t;
}

// Llama-3.1-8B's attention geometry: 32 layers, 32 heads, 8 KV heads, head_dim 128.
inline ModelSpec llama31_8b_like() {
  ModelSpec s;
  s.architecture = "llama";
  s.dims.hidden_size = 4096;
  s.dims.intermediate_size = 14336;
  s.dims.num_layers = 32;
  s.dims.num_heads = 32;
  s.dims.num_kv_heads = 8;
  s.dims.head_dim = 128;
  s.dims.vocab_size = 128256;
  s.dims.max_position_embeddings = 131072;
  for (int i = 0; i < 32; ++i) s.layers.push_back(full_layer(8, 128));
  return s;
}

// A tiny dense model: hidden 64, 4 heads, 2 KV heads of 16, ffn 176, vocab 512, 2 full layers,
// and one 1001-byte weight tensor.
inline ModelSpec tiny_dense() {
  ModelSpec s;
  s.architecture = "llama";
  s.dims.hidden_size = 64;
  s.dims.intermediate_size = 176;
  s.dims.num_layers = 2;
  s.dims.num_heads = 4;
  s.dims.num_kv_heads = 2;
  s.dims.head_dim = 16;
  s.dims.vocab_size = 512;
  s.dims.max_position_embeddings = 8192;
  s.layers = {full_layer(2, 16), full_layer(2, 16)};
  s.tensors.push_back(tensor("w", DType::U8, 1001, Component::Other));
  return s;
}

inline CalibrationProfile zero_profile() {
  CalibrationProfile p;
  p.path = "(test)";
  p.provenance = "test";
  return p;
}

inline RunConfig run_with(uint64_t context, uint64_t sequences = 1, uint64_t chunk = 512,
                          uint32_t threads = 2) {
  RunConfig r;
  r.context = context;
  r.sequences = sequences;
  r.prefill_chunk = chunk;
  r.threads = threads;
  return r;
}

}  // namespace mlxcel::test
