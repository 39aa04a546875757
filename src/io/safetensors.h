// safetensors: header reader (reads only the 8-byte length and the JSON header, never tensor
// data), index reader for sharded models, and a writer used by convert and by tests.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlxcel/model_spec.h"

namespace mlxcel {

struct SafetensorsHeader {
  std::string path;
  uint64_t file_size = 0;
  uint64_t header_len = 0;   // the JSON length from the first 8 bytes
  uint64_t data_start = 0;   // 8 + header_len
  // In file order (sorted by offset); offsets absolute in the file; component left as Other and
  // file left -1 (the spec builder assigns the index into ModelSpec::files).
  std::vector<TensorSpec> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__"
  uint64_t bytes_read = 0;   // bytes read from the file
};

// Throws IoError (cannot open/read) or FormatError (anything malformed: header length beyond the
// file or over the 100 MB safetensors limit, invalid JSON, unknown dtype, shape overflow, offsets
// out of range, overlapping, or a span that is not shape x dtype).
SafetensorsHeader read_safetensors_header(const std::string& path);

struct SafetensorsIndex {
  std::string path;
  std::optional<uint64_t> total_size;          // metadata.total_size
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  std::vector<std::string> shard_files;        // distinct shard names, sorted
};

// Throws FormatError for malformed JSON or an unsafe shard name (absolute, "..", a separator).
// metadata.total_size is optional (an integral float such as 1.6e10 is accepted). Shards are not
// checked for existence here; locate_model does that.
SafetensorsIndex read_safetensors_index(const std::string& path);

struct SafetensorsTensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  const void* data = nullptr;  // nullptr: leave the span as a hole (sparse file of real size)
};

// Writes atomically (temporary file, then rename): on any error no partial file is left.
// Tensors are laid out contiguously in the given order.
void write_safetensors(const std::string& path, const std::vector<SafetensorsTensorData>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Writes model.safetensors.index.json for the given shards (tensor -> file) and total size.
void write_safetensors_index(const std::string& path, uint64_t total_size,
                             const std::map<std::string, std::string>& weight_map);

}  // namespace mlxcel
