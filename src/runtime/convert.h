// Model conversion: llama2.c checkpoints to Hugging Face Llama directories, and MLX affine
// quantization of safetensors models.
#pragma once

#include <cstdint>
#include <string>

namespace mlxcel::runtime {

// Writes config.json, model.safetensors (float32, HF names, q/k rows permuted to rotate-half RoPE)
// and the tokenizer (tokenizer.json + tokenizer_config.json exported from the llama2.c tokenizer
// .bin) into out_dir (created if missing). Throws FormatError / IoError naming the file.
void convert_llama2c(const std::string& checkpoint, const std::string& tokenizer_bin, const std::string& out_dir);

struct QuantizeOptions {
  uint32_t bits = 4;                        // 4 or 8
  uint32_t group_size = 64;                 // 32, 64 or 128
  uint64_t max_shard_bytes = 5ull << 30;    // a shard closes before it would pass this
};

struct QuantizeReport {
  uint64_t tensors_quantized = 0;
  uint64_t tensors_kept = 0;   // norms, biases, weights whose row length the group does not divide
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint32_t shards = 0;
};

// MLX affine quantization of a float safetensors model (single file or sharded): every 2-D float
// ".weight" (the Linear layers and the embedding) whose row length is a multiple of the group
// size becomes <name>.weight (U32 packed) + <name>.scales + <name>.biases in the model's float
// dtype; everything else is copied. Writes shards (model.safetensors, or
// model-0000i-of-0000N.safetensors when more than one), model.safetensors.index.json, config.json
// with "quantization": {"group_size", "bits"}, and copies the tokenizer files.
// Throws UsageError (bad bits/group, model already quantized), FormatError, IoError.
QuantizeReport quantize_model(const std::string& model, const std::string& out_dir, const QuantizeOptions& options);

}  // namespace mlxcel::runtime
