// ModelSpec: everything the memory plan needs to know about a model, built either exactly from
// file headers (safetensors / GGUF) or analytically from config.json. No tensor data lives here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlxcel/dtype.h"

namespace mlxcel {

// What a tensor's bytes count toward in the weights breakdown.
enum class Component : uint8_t { Embeddings, Attention, Mlp, Experts, Norms, OutputHead, Other };
std::string_view component_name(Component c);  // "embeddings", "attention", "mlp", ...

struct TensorSpec {
  std::string name;             // as in the file ("model.layers.0.self_attn.q_proj.weight")
  std::vector<uint64_t> shape;  // row-major as in the file (safetensors order; GGUF dims reversed
                                // to row-major so both read the same way)
  DType dtype = DType::F32;
  uint64_t bytes = 0;           // exact span in the file (== shape product x dtype)
  Component component = Component::Other;
  // Where the data is: file index into ModelSpec::files and absolute byte offset in that file.
  // Unset (file = -1) for analytic specs.
  int file = -1;
  uint64_t offset = 0;
};

// How one layer keeps per-sequence state across tokens.
enum class LayerKind : uint8_t {
  Full,     // K and V for every token in the context
  Sliding,  // K and V for at most `window` tokens
  Mla,      // one compressed latent per token shared across heads (DeepSeek MLA)
  Linear,   // a constant state per sequence (linear attention, SSM/Mamba, short conv)
  None,     // no cache (e.g. an MLP-only layer)
};
std::string_view layer_kind_name(LayerKind k);  // "full", "sliding", "mla", "linear", "none"

struct LayerCache {
  LayerKind kind = LayerKind::Full;
  uint32_t kv_heads = 0;    // Full / Sliding
  uint32_t k_head_dim = 0;  // Full / Sliding; Mla: per-head query/key width (qk_nope + qk_rope)
  uint32_t v_head_dim = 0;  // Full / Sliding; Mla: per-head value width (v_head_dim)
  uint64_t window = 0;      // Sliding: tokens kept
  uint32_t latent_dim = 0;  // Mla: kv_lora_rank + qk_rope_head_dim, stored with the K cache type
                            // (the KV cache of an Mla layer is the latent only; its k/v head
                            // dims size the workspace, which falls back to dims.head_dim at 0)
  uint64_t state_elems = 0; // Linear: elements of constant state per sequence (conv + recurrent)
  DType state_dtype = DType::F32;  // Linear: states are kept in f32 whatever the cache types
  // Linear: f32 elements per token the layer's forward keeps between its input norm and its
  // output projection (projection outputs, conv outputs, gates); sizes the workspace.
  uint64_t scratch_elems_per_token = 0;
};

// Normalized dimensions (0 when the family has no such thing).
struct ModelDims {
  uint64_t hidden_size = 0;
  uint64_t intermediate_size = 0;         // dense MLP
  uint64_t moe_intermediate_size = 0;     // per routed expert
  uint64_t shared_expert_intermediate_size = 0;  // all shared experts together
  uint64_t num_layers = 0;
  uint64_t num_heads = 0;
  uint64_t num_kv_heads = 0;
  uint64_t head_dim = 0;
  uint64_t vocab_size = 0;
  uint64_t max_position_embeddings = 0;
  uint64_t num_experts = 0;
  uint64_t experts_per_token = 0;
};

// Mxfp4: a quantization_config quant_method "mxfp4" checkpoint (gpt-oss): decoder Linear
// weights as U8 blocks of 32 FP4 values + one E8M0 scale byte per block, the rest float. MLX's
// own mxfp4 mode is Mlx (its "mode" decides the layout).
enum class QuantMethod : uint8_t { None, Mlx, Fp8, Gptq, Awq, Gguf, Mxfp4 };
std::string_view quant_method_name(QuantMethod m);  // "none", "mlx", ..., "mxfp4"

struct Quantization {
  QuantMethod method = QuantMethod::None;
  uint32_t bits = 0;
  uint32_t group_size = 0;                   // MLX / GPTQ / AWQ
  std::vector<uint32_t> weight_block_size;   // FP8 block scales, e.g. {128, 128}
};

enum class WeightSource : uint8_t { Exact, Analytic };

struct ModelSpec {
  std::string architecture;   // registry family name ("llama", "qwen3_moe", ...)
  std::string model_type;     // as written in the config ("gemma3_text", ...)
  WeightSource source = WeightSource::Analytic;
  std::string format;         // "safetensors", "gguf", "config"
  ModelDims dims;
  DType float_dtype = DType::BF16;  // the model's float dtype (torch_dtype)
  Quantization quant;
  bool tie_word_embeddings = false;
  std::vector<TensorSpec> tensors;
  std::vector<LayerCache> layers;  // one per decoder layer
  nlohmann::json config;          // normalized config (text_config merged up), for the runtime
  std::vector<std::string> files; // data files read (absolute paths)
  std::string root;               // model directory or file as located
  uint64_t header_bytes_read = 0; // bytes read from model files to build this spec
  // Size of the tokenizer file beside the model (tokenizer.json, else tokenizer.model); 0 when
  // there is none. Its tables are the one part of a run's heap that grows with the model.
  uint64_t tokenizer_file_bytes = 0;
  // That file is a tiktoken tokenizer.model (Llama 3), not a tokenizer.json: its tables take more
  // heap per file byte.
  bool tokenizer_is_tiktoken = false;
  std::vector<std::string> warnings;  // e.g. index total_size disagreeing with the headers

  uint64_t weight_bytes() const;
};

// The spec of a model: a directory (config.json + safetensors), a .safetensors or .gguf file, or
// a Hugging Face repo id in the local cache. Reads headers and config only, never tensor data.
// Throws mlxcel::Error subclasses naming the file, field and value on bad input.
ModelSpec read_model_spec(const std::string& model);

}  // namespace mlxcel
