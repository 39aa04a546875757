// Storage types of tensors on disk and in memory: the safetensors element types and the ggml
// (GGUF) block formats in one table, so a tensor's byte size is computed one way everywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mlxcel {

enum class DType : uint8_t {
  // element types (block of 1)
  Bool, U8, I8, U16, I16, U32, I32, U64, I64, F8_E4M3, F8_E5M2, F16, BF16, F32, F64,
  // ggml block formats
  Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K,
  IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ4_NL, IQ3_S, IQ2_S, IQ4_XS, IQ1_M, TQ1_0, TQ2_0, MXFP4,
};

struct DTypeInfo {
  DType type;
  std::string_view name;  // canonical name: safetensors spelling for element types ("BF16"), ggml
                          // spelling for block formats ("Q4_K")
  uint32_t block_elems;   // elements per block (1 for element types)
  uint32_t block_bytes;   // bytes per block
  int ggml_id;            // GGUF/ggml type id, -1 when GGUF has none
};

const DTypeInfo& dtype_info(DType t);
std::string_view dtype_name(DType t);

// safetensors dtype strings ("F16", "BF16", "F8_E4M3", "BOOL", ...).
std::optional<DType> dtype_from_safetensors(std::string_view name);
// ggml type id as stored in a GGUF tensor info.
std::optional<DType> dtype_from_ggml_id(uint32_t id);
// Case-insensitive name lookup ("bf16", "q4_k", "F32").
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes for n elements; std::nullopt when n is not a whole number of blocks or on overflow.
std::optional<uint64_t> dtype_bytes(DType t, uint64_t n_elems);

}  // namespace mlxcel
