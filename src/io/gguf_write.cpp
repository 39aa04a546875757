// GGUF writer for tests and tools (the layout is described in gguf_read.cpp).
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "core/checked.h"
#include "io/file_util.h"
#include "io/gguf.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

constexpr const char* kComponent = "gguf";

[[noreturn]] void fail(const std::string& msg) { throw FormatError(kComponent, msg); }

class Out {
 public:
  template <typename T>
  void put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // host is little-endian (x86-64)
    bytes.append(b, sizeof(T));
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    bytes += s;
  }
  std::string bytes;
};

// The GGUF type a JSON value gets when the caller names none.
uint32_t infer_type(const nlohmann::json& v);

uint32_t infer_element_type(const nlohmann::json& arr) {
  bool any_float = false, any_neg = false, all_num = true, fits32 = true;
  bool all_str = true, all_bool = true, all_arr = true;
  for (const auto& e : arr) {
    all_str = all_str && e.is_string();
    all_bool = all_bool && e.is_boolean();
    all_arr = all_arr && e.is_array();
    all_num = all_num && e.is_number();
    if (e.is_number_float()) any_float = true;
    if (e.is_number_integer() && !e.is_number_unsigned()) {
      int64_t x = e.get<int64_t>();
      if (x < 0) any_neg = true;
    }
  }
  if (arr.empty()) return gguf_type::kUint32;
  if (all_str) return gguf_type::kString;
  if (all_bool) return gguf_type::kBool;
  if (all_arr) return gguf_type::kArray;
  if (!all_num) fail(fmt::format("array mixes value kinds, cannot pick one GGUF type ({})", arr.dump()));
  if (any_float) return gguf_type::kFloat32;
  for (const auto& e : arr) {
    if (any_neg) {
      int64_t x = e.is_number_unsigned() && e.get<uint64_t>() > uint64_t(INT64_MAX) ? INT64_MAX
                                                                                   : e.get<int64_t>();
      if (x < INT32_MIN || x > INT32_MAX) fits32 = false;
    } else if (e.get<uint64_t>() > UINT32_MAX) {
      fits32 = false;
    }
  }
  if (any_neg) return fits32 ? gguf_type::kInt32 : gguf_type::kInt64;
  return fits32 ? gguf_type::kUint32 : gguf_type::kUint64;
}

uint32_t infer_type(const nlohmann::json& v) {
  if (v.is_boolean()) return gguf_type::kBool;
  if (v.is_string()) return gguf_type::kString;
  if (v.is_array()) return gguf_type::kArray;
  if (v.is_number_float()) return gguf_type::kFloat32;
  // Non-negative integers are unsigned whichever way the JSON holds them (C++ literals are signed).
  if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
    return v.get<uint64_t>() <= UINT32_MAX ? gguf_type::kUint32 : gguf_type::kUint64;
  }
  if (v.is_number_integer()) {
    int64_t x = v.get<int64_t>();
    return x >= INT32_MIN ? gguf_type::kInt32 : gguf_type::kInt64;
  }
  fail(fmt::format("cannot write a JSON {} as a GGUF value ({})", v.type_name(), v.dump()));
}

template <typename T>
void put_int(Out& o, const nlohmann::json& v, const std::string& key) {
  bool ok = false;
  if (v.is_number_unsigned()) {
    ok = v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  } else if (v.is_number_integer()) {
    int64_t x = v.get<int64_t>();
    ok = std::numeric_limits<T>::is_signed
             ? x >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                   (x <= 0 || static_cast<uint64_t>(x) <= static_cast<uint64_t>(std::numeric_limits<T>::max()))
             : x >= 0 && static_cast<uint64_t>(x) <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  }
  if (!ok) fail(fmt::format("value {} does not fit the requested integer type (key \"{}\")", v.dump(), key));
  if (v.is_number_unsigned()) {
    o.put<T>(static_cast<T>(v.get<uint64_t>()));
  } else {
    o.put<T>(static_cast<T>(v.get<int64_t>()));
  }
}

void put_value(Out& o, const nlohmann::json& v, uint32_t type, const std::string& key, int depth);

void put_array(Out& o, const nlohmann::json& v, uint32_t elem_type, const std::string& key, int depth) {
  if (depth > 16) fail(fmt::format("arrays nested too deep (key \"{}\")", key));
  o.put<uint32_t>(elem_type);
  o.put<uint64_t>(v.size());
  for (const auto& e : v) put_value(o, e, elem_type, key, depth + 1);
}

void put_value(Out& o, const nlohmann::json& v, uint32_t type, const std::string& key, int depth) {
  auto want = [&](bool ok, const char* what) {
    if (!ok) fail(fmt::format("value {} is not {} (key \"{}\")", v.dump(), what, key));
  };
  switch (type) {
    case gguf_type::kUint8: return put_int<uint8_t>(o, v, key);
    case gguf_type::kInt8: return put_int<int8_t>(o, v, key);
    case gguf_type::kUint16: return put_int<uint16_t>(o, v, key);
    case gguf_type::kInt16: return put_int<int16_t>(o, v, key);
    case gguf_type::kUint32: return put_int<uint32_t>(o, v, key);
    case gguf_type::kInt32: return put_int<int32_t>(o, v, key);
    case gguf_type::kUint64: return put_int<uint64_t>(o, v, key);
    case gguf_type::kInt64: return put_int<int64_t>(o, v, key);
    case gguf_type::kFloat32: want(v.is_number(), "a number"); return o.put<float>(v.get<float>());
    case gguf_type::kFloat64: want(v.is_number(), "a number"); return o.put<double>(v.get<double>());
    case gguf_type::kBool: want(v.is_boolean(), "a bool"); return o.put<uint8_t>(v.get<bool>() ? 1 : 0);
    case gguf_type::kString: want(v.is_string(), "a string"); return o.str(v.get<std::string>());
    case gguf_type::kArray:
      // A nested array: its element type follows from its own values.
      want(v.is_array(), "an array");
      return put_array(o, v, infer_element_type(v), key, depth);
    default: fail(fmt::format("unknown GGUF value type {} (key \"{}\")", type, key));
  }
}

}  // namespace

void write_gguf(const std::string& path, const nlohmann::json& metadata,
                const std::vector<GgufTensorData>& tensors, const std::map<std::string, uint32_t>& types,
                uint32_t version) {
  if (version != 2 && version != 3) fail(fmt::format("cannot write GGUF version {} ({})", version, path));
  if (!metadata.is_object() && !metadata.is_null()) {
    fail(fmt::format("metadata must be a JSON object ({})", path));
  }
  uint64_t alignment = 32;
  if (auto it = metadata.find("general.alignment"); it != metadata.end()) {
    bool non_negative = it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0);
    uint64_t a = non_negative ? it->get<uint64_t>() : 0;
    if (a == 0 || (a & (a - 1)) != 0 || a > UINT32_MAX) {
      fail(fmt::format("general.alignment must be a power of two ({}, {})", path, it->dump()));
    }
    alignment = a;
  }

  Out o;
  o.bytes = "GGUF";
  o.put<uint32_t>(version);
  o.put<uint64_t>(tensors.size());
  const nlohmann::json& md = metadata.is_null() ? nlohmann::json::object() : metadata;
  o.put<uint64_t>(md.size());
  for (const auto& [key, value] : md.items()) {
    o.str(key);
    auto t = types.find(key);
    if (value.is_array()) {
      o.put<uint32_t>(gguf_type::kArray);
      put_array(o, value, t != types.end() ? t->second : infer_element_type(value), key, 0);
    } else {
      uint32_t type = t != types.end() ? t->second : infer_type(value);
      if (key == "general.alignment" && t == types.end()) type = gguf_type::kUint32;
      o.put<uint32_t>(type);
      put_value(o, value, type, key, 0);
    }
  }

  std::vector<uint64_t> offsets, sizes;
  uint64_t pos = 0;
  for (const auto& t : tensors) {
    const auto& info = dtype_info(t.dtype);
    if (info.ggml_id < 0) fail(fmt::format("{} has no ggml type ({}, tensor \"{}\")", info.name, path, t.name));
    if (t.shape.size() > 4) fail(fmt::format("more than 4 dimensions ({}, tensor \"{}\")", path, t.name));
    auto elems = checked_product(t.shape);
    auto bytes = elems ? dtype_bytes(t.dtype, *elems) : std::nullopt;
    uint64_t row = t.shape.empty() ? 1 : t.shape.back();
    if (!bytes || row % info.block_elems != 0) {
      fail(fmt::format("size overflows or rows are not whole {} blocks ({}, tensor \"{}\")", info.name,
                       path, t.name));
    }
    o.str(t.name);
    o.put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d) o.put<uint64_t>(*d);  // ne[0] first
    o.put<uint32_t>(static_cast<uint32_t>(info.ggml_id));
    o.put<uint64_t>(pos);
    offsets.push_back(pos);
    sizes.push_back(*bytes);
    auto next = io::align_up(*bytes, alignment);
    auto np = next ? checked_add(pos, *next) : std::nullopt;
    if (!np) fail(fmt::format("file size overflows ({})", path));
    pos = *np;
  }
  const uint64_t data_start = *io::align_up(o.bytes.size(), alignment);
  auto total = checked_add(data_start, pos);
  if (!total) fail(fmt::format("file size overflows ({})", path));

  io::AtomicWriter w(path, kComponent);
  w.write_at(0, o.bytes.data(), o.bytes.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].data) w.write_at(data_start + offsets[i], tensors[i].data, sizes[i]);
  }
  w.set_size(*total);  // padding and nullptr tensors stay holes (read back as zeros)
  w.commit();
}

}  // namespace mlxcel
