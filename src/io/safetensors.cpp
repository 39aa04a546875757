#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/checked.h"
#include "core/json_input.h"
#include "io/file_util.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

constexpr const char* kComponent = "safetensors";
// The limit the reference safetensors implementation puts on the JSON header.
constexpr uint64_t kMaxHeaderLen = 100'000'000;
// Dimensions per tensor: NumPy's classic limit; model weights have 1 to 5.
constexpr size_t kMaxRank = 32;

[[noreturn]] void fail(const std::string& msg) { throw FormatError(kComponent, msg); }

std::string tensor_ctx(const std::string& path, const std::string& name) {
  return fmt::format("{}, tensor \"{}\"", path, io::printable(name));
}

// A JSON number that is a non-negative integer (JSON "2.0" and negatives are rejected).
std::optional<uint64_t> as_u64(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

TensorSpec parse_entry(const std::string& path, const std::string& name, const nlohmann::json& e,
                       uint64_t data_start, uint64_t file_size) {
  const std::string ctx = tensor_ctx(path, name);
  if (!e.is_object()) fail(fmt::format("tensor entry is not an object ({}, {})", ctx, e.type_name()));
  TensorSpec t;
  t.name = name;

  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string()) fail(fmt::format("missing or non-string dtype ({}, dtype)", ctx));
  auto dtype = dtype_from_safetensors(dt->get<std::string>());
  if (!dtype) {
    fail(fmt::format("unknown dtype ({}, dtype, \"{}\")", ctx, io::printable(dt->get<std::string>())));
  }
  t.dtype = *dtype;

  auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array()) fail(fmt::format("missing or non-array shape ({}, shape)", ctx));
  if (sh->size() > kMaxRank) {
    fail(fmt::format("shape has {} dimensions, more than the limit of {} ({}, shape, {} dimensions)",
                     sh->size(), kMaxRank, ctx, sh->size()));
  }
  for (const auto& d : *sh) {
    auto v = as_u64(d);
    if (!v) {
      fail(fmt::format("shape dimension is not a non-negative integer ({}, shape, {})", ctx,
                       io::printable(d.dump())));
    }
    t.shape.push_back(*v);
  }

  auto off = e.find("data_offsets");
  if (off == e.end() || !off->is_array() || off->size() != 2) {
    fail(fmt::format("data_offsets must be [begin, end] ({}, data_offsets)", ctx));
  }
  auto begin = as_u64((*off)[0]);
  auto end = as_u64((*off)[1]);
  if (!begin || !end) {
    fail(fmt::format("data_offsets are not non-negative integers ({}, data_offsets, {})", ctx,
                     io::printable(off->dump())));
  }
  if (*begin > *end) {
    fail(fmt::format("data_offsets begin after end ({}, data_offsets, [{}, {}])", ctx, *begin, *end));
  }
  auto abs_end = checked_add(data_start, *end);
  if (!abs_end || *abs_end > file_size) {
    fail(fmt::format("data_offsets out of range: end {} past the data section of {} bytes ({}, "
                     "data_offsets, [{}, {}])",
                     *end, file_size - data_start, ctx, *begin, *end));
  }

  auto elems = checked_product(t.shape);
  if (!elems) fail(fmt::format("shape element count overflows ({}, shape, {})", ctx, sh->dump()));
  auto bytes = dtype_bytes(t.dtype, *elems);
  if (!bytes) {
    fail(fmt::format("shape byte size overflows ({}, shape, {} x {})", ctx, sh->dump(),
                     dtype_name(t.dtype)));
  }
  if (*bytes != *end - *begin) {
    fail(fmt::format("span of {} bytes is not shape x dtype = {} bytes ({}, data_offsets, [{}, {}], "
                     "shape {}, dtype {})",
                     *end - *begin, *bytes, ctx, *begin, *end, sh->dump(), dtype_name(t.dtype)));
  }
  t.bytes = *bytes;
  t.offset = data_start + *begin;
  return t;
}

}  // namespace

SafetensorsHeader read_safetensors_header(const std::string& path) {
  io::ReadFile f(path, kComponent);
  SafetensorsHeader h;
  h.path = path;
  h.file_size = f.size();
  if (f.size() < 8) {
    fail(fmt::format("file too small for a safetensors header: {} bytes, need at least 8 ({})",
                     f.size(), path));
  }
  unsigned char len_bytes[8];
  f.read_exact(0, len_bytes, 8);
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | len_bytes[i];  // little-endian
  h.header_len = len;
  if (len > kMaxHeaderLen) {
    fail(fmt::format("header length {} exceeds the {}-byte limit ({}, header length)", len,
                     kMaxHeaderLen, path));
  }
  if (len > f.size() - 8) {
    fail(fmt::format("header length {} beyond the end of the file of {} bytes ({}, header length)",
                     len, f.size(), path));
  }
  h.data_start = 8 + len;

  std::string text(len, '\0');
  f.read_exact(8, text.data(), len);
  h.bytes_read = f.bytes_read();

  size_t bad = 0;
  if (!io::valid_utf8(text, &bad)) {
    fail(fmt::format("header is not valid UTF-8 ({}, header byte {})", path, bad));
  }
  if (text.empty() || text[0] != '{') fail(fmt::format("header does not start with '{{' ({})", path));
  std::string why;
  std::optional<nlohmann::json> parsed = try_parse_json(text, &why);
  if (!parsed) {
    fail(fmt::format("header is not valid JSON ({}, {}, {})", path, io::json_error_field(text),
                     io::printable(why)));
  }
  const nlohmann::json& j = *parsed;
  if (!j.is_object()) fail(fmt::format("header is not a JSON object ({})", path));

  for (const auto& [key, value] : j.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail(fmt::format("__metadata__ is not an object ({}, __metadata__)", path));
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) {
          fail(fmt::format("__metadata__ value is not a string ({}, __metadata__.{}, {})", path,
                           io::printable(mk), io::printable(mv.dump())));
        }
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_entry(path, key, value, h.data_start, h.file_size));
  }

  // File order; then every non-empty span must start at or after the previous one's end.
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorSpec& a, const TensorSpec& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.bytes < b.bytes;
  });
  const TensorSpec* prev = nullptr;
  for (const auto& t : h.tensors) {
    if (t.bytes == 0) continue;
    if (prev && t.offset < prev->offset + prev->bytes) {
      fail(fmt::format("tensors overlap: \"{}\" [{}, {}) and \"{}\" [{}, {}) ({}, data_offsets)",
                       io::printable(prev->name), prev->offset - h.data_start,
                       prev->offset - h.data_start + prev->bytes, io::printable(t.name),
                       t.offset - h.data_start, t.offset - h.data_start + t.bytes, path));
    }
    prev = &t;
  }
  return h;
}

SafetensorsIndex read_safetensors_index(const std::string& path) {
  constexpr const char* kIdx = "safetensors-index";
  io::ReadFile f(path, kIdx);
  // Indexes are a few MB at most; the cap keeps a wrong file from being slurped whole.
  constexpr uint64_t kMaxIndex = 256ull << 20;
  if (f.size() > kMaxIndex) {
    throw FormatError(kIdx, fmt::format("index file too large: {} bytes ({})", f.size(), path));
  }
  std::string text(f.size(), '\0');
  f.read_exact(0, text.data(), text.size());
  size_t bad = 0;
  if (!io::valid_utf8(text, &bad)) {
    throw FormatError(kIdx, fmt::format("index is not valid UTF-8 ({}, byte {})", path, bad));
  }
  std::string why;
  std::optional<nlohmann::json> parsed = try_parse_json(text, &why);
  if (!parsed) {
    throw FormatError(kIdx, fmt::format("index is not valid JSON ({}, {}, {})", path,
                                        io::json_error_field(text), io::printable(why)));
  }
  const nlohmann::json& j = *parsed;
  if (!j.is_object()) throw FormatError(kIdx, fmt::format("index is not a JSON object ({})", path));

  SafetensorsIndex idx;
  idx.path = path;
  auto meta = j.find("metadata");
  if (meta != j.end() && !meta->is_null()) {
    if (!meta->is_object()) {
      throw FormatError(kIdx, fmt::format("metadata is not an object ({}, metadata)", path));
    }
    auto ts = meta->find("total_size");
    if (ts != meta->end() && !ts->is_null()) {
      auto v = as_u64(*ts);
      // Some converters write total_size as a float ("1.6e10"); accept it when integral.
      if (!v && ts->is_number_float()) {
        double d = ts->get<double>();
        if (d >= 0 && d <= 9007199254740992.0 && d == static_cast<double>(static_cast<uint64_t>(d))) {
          v = static_cast<uint64_t>(d);
        }
      }
      if (!v) {
        throw FormatError(kIdx, fmt::format("metadata.total_size is not a non-negative integer ({}, "
                                            "metadata.total_size, {})",
                                            path, io::printable(ts->dump())));
      }
      idx.total_size = *v;
    }
  }
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object()) {
    throw FormatError(kIdx, fmt::format("missing or non-object weight_map ({}, weight_map)", path));
  }
  std::set<std::string> shards;
  for (const auto& [tensor, file] : wm->items()) {
    if (!file.is_string()) {
      throw FormatError(kIdx, fmt::format("weight_map value is not a string ({}, tensor \"{}\", {})",
                                          path, io::printable(tensor), io::printable(file.dump())));
    }
    const std::string name = file.get<std::string>();
    // Shard names are joined to the model directory: only plain file names may stay inside it.
    bool unsafe = name.empty() || name == "." || name == ".." ||
                  name.find('/') != std::string::npos || name.find('\\') != std::string::npos ||
                  name.find('\0') != std::string::npos;
    if (unsafe) {
      throw FormatError(kIdx, fmt::format("unsafe path in weight_map: shard names must be plain file "
                                          "names ({}, tensor \"{}\", \"{}\")",
                                          path, io::printable(tensor), io::printable(name)));
    }
    idx.weight_map[tensor] = name;
    shards.insert(name);
  }
  idx.shard_files.assign(shards.begin(), shards.end());
  return idx;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsTensorData>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<uint64_t> begins;
  uint64_t pos = 0;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__" || header.contains(t.name)) {
      throw FormatError(kComponent, fmt::format("duplicate or reserved tensor name ({}, \"{}\")", path,
                                                io::printable(t.name)));
    }
    auto elems = checked_product(t.shape);
    auto bytes = elems ? dtype_bytes(t.dtype, *elems) : std::nullopt;
    if (!bytes) {
      throw FormatError(kComponent, fmt::format("tensor size overflows or is not whole blocks ({}, \"{}\")",
                                                path, io::printable(t.name)));
    }
    if (dtype_info(t.dtype).block_elems != 1) {
      throw FormatError(kComponent, fmt::format("{} is not a safetensors dtype ({}, \"{}\")",
                                                dtype_name(t.dtype), path, io::printable(t.name)));
    }
    auto end = checked_add(pos, *bytes);
    if (!end) throw FormatError(kComponent, fmt::format("file size overflows ({})", path));
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {pos, *end}}};
    begins.push_back(pos);
    pos = *end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::type_error&) {
    throw FormatError(kComponent, fmt::format("tensor or metadata name is not valid UTF-8 ({})", path));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
  const uint64_t data_start = 8 + text.size();
  auto total = checked_add(data_start, pos);
  if (!total) throw FormatError(kComponent, fmt::format("file size overflows ({})", path));

  io::AtomicWriter w(path, kComponent);
  unsigned char len_bytes[8];
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(len >> (8 * i));
  w.write_at(0, len_bytes, 8);
  w.write_at(8, text.data(), text.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].data == nullptr) continue;
    auto bytes = *dtype_bytes(tensors[i].dtype, *checked_product(tensors[i].shape));
    w.write_at(data_start + begins[i], tensors[i].data, bytes);
  }
  w.set_size(*total);
  w.commit();
}

void write_safetensors_index(const std::string& path, uint64_t total_size,
                             const std::map<std::string, std::string>& weight_map) {
  nlohmann::json j = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
  std::string text = j.dump(2);
  text.push_back('\n');
  io::AtomicWriter w(path, "safetensors-index");
  w.write_at(0, text.data(), text.size());
  w.set_size(text.size());
  w.commit();
}

}  // namespace mlxcel
