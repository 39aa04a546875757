// GGUF v2/v3 reader: metadata key/values and tensor infos, bounds-checked, never tensor data.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlxcel/model_spec.h"

namespace mlxcel {

// GGUF metadata value type ids (gguf_type).
namespace gguf_type {
inline constexpr uint32_t kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5,
                          kFloat32 = 6, kBool = 7, kString = 8, kArray = 9, kUint64 = 10,
                          kInt64 = 11, kFloat64 = 12;
}

struct GgufReadOptions {
  // Arrays longer than this are not kept in `metadata` (only counted: the value becomes
  // {"gguf_array_type": T, "length": N, "elided": true}); they are still bounds-checked and skipped.
  // Tokenizers ask for everything; inspect keeps small arrays only.
  uint64_t max_array_elems_kept = UINT64_MAX;
};

struct GgufFile {
  std::string path;
  uint32_t version = 0;
  uint64_t file_size = 0;
  uint64_t alignment = 32;   // general.alignment
  uint64_t data_start = 0;   // absolute offset of the tensor data section
  // Every key/value: integers and floats as JSON numbers, bool, string (bytes kept as-is, may
  // not be valid UTF-8), arrays as JSON arrays.
  nlohmann::json metadata = nlohmann::json::object();
  // key -> GGUF value type id as stored; for arrays the element type id (kArray when nested).
  // Same meaning as write_gguf's `types`, so a file can be rewritten with its own types.
  std::map<std::string, uint32_t> metadata_types;
  uint64_t header_end = 0;   // end of the tensor infos (data_start is this aligned up)
  // In tensor-info order; shape row-major (ggml ne reversed), offsets absolute, file left -1.
  // n_dims 0 is a scalar (shape [], 1 element); a dimension of 0 is an empty tensor (0 bytes).
  std::vector<TensorSpec> tensors;
  uint64_t bytes_read = 0;
};

// Reads the header progressively (buffered preads that never go past the end of the tensor
// infos); the tensor data region is never read. Tensor names and string values are kept as raw
// bytes and may be invalid UTF-8: dump metadata with json::error_handler_t::replace.
// Limits: header (metadata + tensor infos) at most 512 MiB, nested arrays at most 16 deep.
// Throws IoError or FormatError (bad magic/version, absurd counts or lengths, offsets outside the
// file or misaligned, unknown ggml type, overlapping tensors, overflow).
GgufFile read_gguf(const std::string& path, const GgufReadOptions& options = {});

// Writer for tests and tools: metadata values are written with the GGUF type implied by the
// JSON value unless `types` names one (key -> gguf value type id, arrays: element type id).
// Implied types: bool; string; non-negative integer -> uint32, or uint64 past 2^32-1; negative
// integer -> int32, or int64 past its range; float -> float32; array -> element type from all its
// values (any float -> float32, any negative -> int32/int64, else uint32/uint64; nested arrays
// each decide their own; an empty array is uint32). general.alignment (default 32, written as
// uint32 when present) sets the data alignment; every tensor starts and ends aligned. Atomic
// (temporary + rename); nullptr data and padding stay holes.
// Throws FormatError for values that do not fit their type and IoError for write failures.
struct GgufTensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;  // row-major
  const void* data = nullptr;   // nullptr: hole
};
void write_gguf(const std::string& path, const nlohmann::json& metadata,
                const std::vector<GgufTensorData>& tensors,
                const std::map<std::string, uint32_t>& types = {}, uint32_t version = 3);

}  // namespace mlxcel
