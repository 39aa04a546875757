// The architecture registry: config field aliases, per-family tensor tables and layer kinds.
// Nothing outside src/arch switches on an architecture name.
//
// What the specs built here promise to the memory plan:
// - ModelSpec::layers has one LayerCache per decoder layer (num_hidden_layers; MTP layers never
//   have one). Full / Sliding: kv_heads, k_head_dim, v_head_dim per token (window = tokens kept,
//   0 for Full; Llama 4 chunked attention is Sliding(attention_chunk_size); a window covering
//   max_position_embeddings is reported as Full). Mla: latent_dim = kv_lora_rank +
//   qk_rope_head_dim values per token, one row shared by all heads; k_head_dim =
//   qk_nope_head_dim + qk_rope_head_dim and v_head_dim = v_head_dim per head (workspace only,
//   kv_heads 0). Linear: state_elems per sequence = conv state (channels x (kernel - 1)) +
//   recurrent state (Gated DeltaNet v_heads x k_head_dim x v_head_dim, Mamba2 heads x head_dim
//   x state_size, LFM2 none), state_dtype F32; scratch_elems_per_token = in_proj outputs + conv
//   outputs + mixer output (Gated DeltaNet 4 key + 4 value + 2 v_heads, Mamba2 4 inner +
//   4 groups x state + heads, LFM2 5 conv_dim; see linear_scratch_elems in derive.cpp).
//   None: no per-sequence state (Nemotron-H MLP / MoE layers).
// - Tensor components: routers, shared experts and their gates count toward "experts";
//   multi-token-prediction weights (DeepSeek model.layers.{>= num_layers}, Qwen mtp.*) toward
//   "other"; vision/audio towers toward "other" (exact specs only: analytic specs derive the
//   text model and say so in a warning).
// - MTP: HF checkouts of DeepSeek-V3/R1 (num_nextn_predict_layers), Qwen3-Next (one layer, no
//   config field) and Qwen3.5 (mtp_num_hidden_layers) hold MTP weights, so analytic specs count
//   them (with a warning); MLX layouts do not (mlx-lm drops them when converting).
// - Warnings (ModelSpec::warnings, plain sentences): missing torch_dtype (bf16 assumed), MTP
//   counted or assumed, vision towers not counted, index total_size disagreeing with the shard
//   headers (both numbers), shards holding tensors the index does not map, no config.json next
//   to weights (layers unknown).
// - Quantization: gpt-oss's quant_method mxfp4 is QuantMethod::Mxfp4 with bits 4 / group 32
//   (decoder Linear weights as U8 *_blocks + *_scales; routers, embeddings, the head and what
//   modules_to_not_convert names, gpt-oss's attention, stay float).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlxcel/model_spec.h"

namespace mlxcel {

struct GgufFile;

// Reads and parses a config.json; FormatError (invalid JSON/UTF-8) or IoError, naming the file.
nlohmann::json read_config_json(const std::string& path);

// Merges nested text_config (multimodal wrappers) up, keeps model_type of the text model.
nlohmann::json normalize_config(const nlohmann::json& config);

// Registry family names with the model_type spellings each accepts.
std::vector<std::string> supported_architectures();

// Whether the runtime has a forward pass for the registry family named `architecture`
// (ModelSpec::architecture, e.g. "qwen3"); false for a name the registry does not know.
bool has_forward_pass(std::string_view architecture);
// Family names with a forward pass, in registry order.
std::vector<std::string> runnable_architectures();

struct AnalyticOptions {
  // What-if: derive the weights as if quantized this way (MLX affine bits/group, or None for a
  // plain float format given by float_dtype). MLX what-ifs follow mlx-lm convert: modules whose
  // input dim divides by the group size, routers at 8 bits where mlx-lm's quant_predicate says
  // so (gpt-oss, Qwen3-Next, Qwen3.5 MoE), no MTP layers. Fp8 / Gptq / Awq are accepted too;
  // Gguf / Mxfp4 are not (UsageError).
  std::optional<Quantization> requantize;
  // Overrides torch_dtype (bf16 / f16 / f32); without requantize the config's own quantization
  // is kept and only the float parts change.
  std::optional<DType> float_dtype;
};

// Every tensor of the model derived from the config alone, with components, plus dims and layer
// caches. Throws UnsupportedArchitecture (listing supported families) or ConfigError (missing
// field, naming `config_name` and the field).
ModelSpec analytic_spec(const nlohmann::json& config, const AnalyticOptions& options = {},
                        const std::string& config_name = "config.json");

// Per-layer caches and dims from a config (used for exact specs too).
void fill_dims_and_layers(ModelSpec& spec, const nlohmann::json& config,
                          const std::string& config_name = "config.json");

// Assigns each tensor's component from its name (HF and GGUF naming).
void classify_tensors(std::vector<TensorSpec>& tensors);

// A config.json-equivalent built from GGUF metadata ("llama.block_count" -> num_hidden_layers...).
// Per-layer arrays (head_count_kv, feed_forward_length) decide hybrid layer kinds; block_count
// minus nextn_predict_layers is the decoder depth; the vocabulary size comes from
// <arch>.vocab_size, the tokenizer.ggml.tokens length (elided arrays keep it) or token_embd.
// Throws UnsupportedArchitecture (listing the GGUF architectures known) or ConfigError.
nlohmann::json config_from_gguf(const GgufFile& gguf);

struct SpecOptions {
  AnalyticOptions analytic;
  bool force_analytic = false;  // ignore headers even when weights are present
};

// Locate, read headers (never tensor data) and config, and build the spec: exact when weight
// files exist, analytic otherwise or when a what-if quantization is requested.
// Safetensors: every shard header is read, tensors keep their file index and absolute offset;
// the index's weight_map must match the shards (FormatError otherwise); a total_size mismatch is
// a warning. GGUF: every split part, arrays longer than 64 elements only counted.
// header_bytes_read sums the header bytes of every weight file plus config/index sizes.
ModelSpec load_model_spec(const std::string& model_arg, const SpecOptions& options = {});

}  // namespace mlxcel
