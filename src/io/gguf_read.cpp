// GGUF v2/v3 header reader. Layout (little-endian): "GGUF", u32 version, u64 tensor_count,
// u64 kv_count, kv pairs (string key, u32 type, value), tensor infos (string name, u32 n_dims,
// u64 ne[n_dims], u32 ggml type, u64 offset relative to the data section), padding to
// general.alignment, tensor data. Strings are u64 length + bytes; arrays are u32 element type +
// u64 count + elements.
#include <algorithm>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "core/checked.h"
#include "io/file_util.h"
#include "io/gguf.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

constexpr const char* kComponent = "gguf";
constexpr uint64_t kMaxHeaderBytes = 512ull << 20;
constexpr int kMaxArrayDepth = 16;
constexpr uint64_t kChunk = 64 << 10;
constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
// Array elements kept as JSON across the whole file. A kept element costs 16 bytes of JSON or
// more for as little as 1 byte of file, so without a cap a 512 MiB header could ask for 8 GiB.
// The largest real vocabularies (262,144 tokens, with scores and token types: ~800,000 kept
// elements, plus merges) stay far below 2^23.
constexpr uint64_t kMaxKeptArrayElems = 1ull << 23;
// Smallest encodings, used both to reject impossible counts and to bound read-ahead.
constexpr uint64_t kMinKv = 8 + 4 + 1;             // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfo = 8 + 4 + 4 + 8;  // empty name, n_dims 0, type, offset

[[noreturn]] void fail(const std::string& msg) { throw FormatError(kComponent, msg); }

const char* type_name(uint32_t t) {
  static constexpr const char* kNames[] = {"uint8", "int8",   "uint16", "int16", "uint32",
                                           "int32", "float32", "bool",  "string", "array",
                                           "uint64", "int64",  "float64"};
  return t < 13 ? kNames[t] : "unknown";
}

// Bytes of one element of a fixed-size type; 0 for string/array (variable), nullopt if unknown.
std::optional<uint64_t> fixed_size(uint32_t t) {
  switch (t) {
    case gguf_type::kUint8: case gguf_type::kInt8: case gguf_type::kBool: return 1;
    case gguf_type::kUint16: case gguf_type::kInt16: return 2;
    case gguf_type::kUint32: case gguf_type::kInt32: case gguf_type::kFloat32: return 4;
    case gguf_type::kUint64: case gguf_type::kInt64: case gguf_type::kFloat64: return 8;
    case gguf_type::kString: case gguf_type::kArray: return 0;
    default: return std::nullopt;
  }
}

uint64_t min_size(uint32_t t) {
  if (t == gguf_type::kString) return 8;
  if (t == gguf_type::kArray) return 12;
  return *fixed_size(t);
}

// Sequential reader over the header with read-ahead that stops at `floor`, a lower bound of the
// header end kept by the parser, so no byte of the tensor data region is ever read.
class HeaderReader {
 public:
  explicit HeaderReader(io::ReadFile& f) : f_(f) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return f_.size() - pos_; }
  void set_floor(uint64_t floor) { floor_ = floor; }

  const char* take(uint64_t n, const char* what) {
    ensure(n, what);
    const char* p = buf_.data() + (pos_ - buf_start_);
    pos_ += n;
    return p;
  }
  template <typename T>
  T get(const char* what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));  // host is little-endian (x86-64)
    return v;
  }
  void skip(uint64_t n, const char* what) {
    if (n > remaining()) truncated(n, what);
    check_limit(n);
    pos_ += n;
  }

 private:
  [[noreturn]] void truncated(uint64_t n, const char* what) {
    fail(fmt::format("file truncated: {} needs {} bytes at offset {} but only {} remain ({})", what,
                     n, pos_, remaining(), f_.path()));
  }
  void check_limit(uint64_t n) {
    if (pos_ + n > kMaxHeaderBytes) {
      fail(fmt::format("header exceeds the {}-byte limit at offset {} ({})", kMaxHeaderBytes, pos_,
                       f_.path()));
    }
  }
  void ensure(uint64_t n, const char* what) {
    uint64_t buf_end = buf_start_ + buf_.size();
    if (pos_ >= buf_start_ && pos_ + n <= buf_end) return;
    if (n > remaining()) truncated(n, what);
    check_limit(n);
    uint64_t ahead = floor_ > pos_ ? std::min(kChunk, floor_ - pos_) : 0;
    // The floor of a malformed file may lie past its end; never ask for more than is there.
    uint64_t want = std::max(n, std::min(ahead, remaining()));
    std::vector<char> next(want);
    uint64_t kept = 0;
    if (pos_ >= buf_start_ && pos_ < buf_end) {
      kept = buf_end - pos_;
      std::memcpy(next.data(), buf_.data() + (pos_ - buf_start_), kept);
    }
    f_.read_exact(pos_ + kept, next.data() + kept, want - kept);
    buf_ = std::move(next);
    buf_start_ = pos_;
  }

  io::ReadFile& f_;
  uint64_t pos_ = 0;
  uint64_t floor_ = 0;
  std::vector<char> buf_;
  uint64_t buf_start_ = 0;
};

class Parser {
 public:
  Parser(io::ReadFile& f, const GgufReadOptions& opt) : f_(f), r_(f), opt_(opt) {}

  GgufFile parse() {
    GgufFile g;
    g.path = f_.path();
    g.file_size = f_.size();
    if (f_.size() < 24) {
      fail(fmt::format("file too small for a GGUF header: {} bytes, need at least 24 ({})",
                       f_.size(), path()));
    }
    r_.set_floor(24);
    const char* magic = r_.take(4, "magic");
    if (std::memcmp(magic, "GGUF", 4) != 0) {
      fail(fmt::format("bad magic \"{}\", expected \"GGUF\" ({})",
                       io::printable(std::string_view(magic, 4)), path()));
    }
    g.version = r_.get<uint32_t>("version");
    if (g.version == 0x02000000u || g.version == 0x03000000u) {
      fail(fmt::format("unsupported version {}: a big-endian GGUF file ({})", g.version, path()));
    }
    if (g.version != 2 && g.version != 3) {
      fail(fmt::format("unsupported version {} (only 2 and 3 are read) ({})", g.version, path()));
    }
    tensor_count_ = r_.get<uint64_t>("tensor_count");
    uint64_t kv_count = r_.get<uint64_t>("kv_count");
    auto min_tensors = checked_mul(tensor_count_, kMinTensorInfo);
    if (!min_tensors || *min_tensors > r_.remaining()) {
      fail(fmt::format("tensor_count {} impossible for a file of {} bytes ({}, tensor_count)",
                       tensor_count_, f_.size(), path()));
    }
    auto min_kvs = checked_mul(kv_count, kMinKv);
    if (!min_kvs || *min_kvs > r_.remaining() - *min_tensors) {
      fail(fmt::format("kv_count {} impossible for a file of {} bytes ({}, kv_count)", kv_count,
                       f_.size(), path()));
    }

    for (uint64_t i = 0; i < kv_count; ++i) {
      r_.set_floor(r_.pos() + (kv_count - i) * kMinKv + *min_tensors);
      std::string key = read_string("key");
      uint32_t type = r_.get<uint32_t>("value type");
      if (g.metadata.contains(key)) {
        fail(fmt::format("duplicate key ({}, key \"{}\")", path(), io::printable(key)));
      }
      key_ = &key;
      uint64_t after = (kv_count - i - 1) * kMinKv + *min_tensors;
      uint32_t stored = type;
      g.metadata[key] = read_value(type, after, true, 0, &stored);
      g.metadata_types[key] = stored;
      key_ = nullptr;
    }
    read_alignment(g);

    std::set<std::string> names;
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      r_.set_floor(r_.pos() + (tensor_count_ - i) * kMinTensorInfo);
      g.tensors.push_back(read_tensor_info(g));
      if (!names.insert(g.tensors.back().name).second) {
        fail(fmt::format("duplicate tensor name ({}, tensor \"{}\")", path(),
                         io::printable(g.tensors.back().name)));
      }
    }
    g.header_end = r_.pos();
    auto ds = io::align_up(g.header_end, g.alignment);
    if (!ds) fail(fmt::format("data start overflows ({})", path()));
    g.data_start = *ds;
    place_tensors(g);
    g.bytes_read = f_.bytes_read();
    return g;
  }

 private:
  const std::string& path() const { return f_.path(); }
  std::string key_ctx() const {
    return key_ ? fmt::format("{}, key \"{}\"", path(), io::printable(*key_)) : path();
  }

  std::string read_string(const char* what) {
    uint64_t len = r_.get<uint64_t>(what);
    if (len > r_.remaining()) {
      fail(fmt::format("string length {} exceeds the {} bytes left in the file ({}, {} at offset {})",
                       len, r_.remaining(), key_ctx(), what, r_.pos() - 8));
    }
    const char* p = r_.take(len, what);
    return std::string(p, len);
  }

  void skip_string(const char* what) {
    uint64_t len = r_.get<uint64_t>(what);
    if (len > r_.remaining()) {
      fail(fmt::format("string length {} exceeds the {} bytes left in the file ({}, {} at offset {})",
                       len, r_.remaining(), key_ctx(), what, r_.pos() - 8));
    }
    r_.skip(len, what);
  }

  // Reads one value; `after` is the minimum number of header bytes that follow it. When `keep`
  // is false the value is validated and skipped. *stored gets the element type for arrays.
  nlohmann::json read_value(uint32_t type, uint64_t after, bool keep, int depth, uint32_t* stored) {
    switch (type) {
      case gguf_type::kUint8: return r_.get<uint8_t>("uint8");
      case gguf_type::kInt8: return r_.get<int8_t>("int8");
      case gguf_type::kUint16: return r_.get<uint16_t>("uint16");
      case gguf_type::kInt16: return r_.get<int16_t>("int16");
      case gguf_type::kUint32: return r_.get<uint32_t>("uint32");
      case gguf_type::kInt32: return r_.get<int32_t>("int32");
      case gguf_type::kFloat32: return static_cast<double>(r_.get<float>("float32"));
      case gguf_type::kBool: return r_.get<uint8_t>("bool") != 0;
      case gguf_type::kUint64: return r_.get<uint64_t>("uint64");
      case gguf_type::kInt64: return r_.get<int64_t>("int64");
      case gguf_type::kFloat64: return r_.get<double>("float64");
      case gguf_type::kString:
        if (!keep) {
          skip_string("string");
          return nullptr;
        }
        return read_string("string");
      case gguf_type::kArray: return read_array(after, keep, depth, stored);
      default:
        fail(fmt::format("unknown value type {} ({}, offset {})", type, key_ctx(), r_.pos() - 4));
    }
  }

  nlohmann::json read_array(uint64_t after, bool keep, int depth, uint32_t* stored) {
    if (depth >= kMaxArrayDepth) {
      fail(fmt::format("arrays nested deeper than {} ({})", kMaxArrayDepth, key_ctx()));
    }
    uint32_t et = r_.get<uint32_t>("array type");
    uint64_t n = r_.get<uint64_t>("array length");
    auto fixed = fixed_size(et);
    if (!fixed) {
      fail(fmt::format("unknown array element type {} ({}, offset {})", et, key_ctx(), r_.pos() - 12));
    }
    if (stored) *stored = et;
    uint64_t esize = min_size(et);
    auto bytes = checked_mul(n, esize);
    if (!bytes || *bytes > r_.remaining()) {
      fail(fmt::format("array length {} of {} exceeds the {} bytes left in the file ({}, offset {})",
                       n, type_name(et), r_.remaining(), key_ctx(), r_.pos() - 8));
    }
    if (*bytes > kMaxHeaderBytes - std::min(kMaxHeaderBytes, r_.pos())) {
      fail(fmt::format("array length {} of {} runs past the {}-byte header limit ({}, offset {})", n,
                       type_name(et), kMaxHeaderBytes, key_ctx(), r_.pos() - 8));
    }
    bool keep_elems = keep && n <= opt_.max_array_elems_kept;
    if (keep_elems) {
      kept_elems_ += n;  // n <= 2^29 here, so the sum cannot wrap
      if (kept_elems_ > kMaxKeptArrayElems) {
        fail(fmt::format("arrays hold more than {} elements in total ({}, array length, {})",
                         kMaxKeptArrayElems, key_ctx(), n));
      }
    }
    if (!keep_elems && *fixed > 0) {
      r_.skip(*bytes, "array");
      return elided(et, n);
    }
    nlohmann::json arr = nlohmann::json::array();
    if (keep_elems) arr.get_ref<nlohmann::json::array_t&>().reserve(n);
    for (uint64_t k = 0; k < n; ++k) {
      uint64_t rest = (n - k - 1) * esize + after;
      r_.set_floor(r_.pos() + esize + rest);
      nlohmann::json v = read_value(et, rest, keep_elems, depth + 1, nullptr);
      if (keep_elems) arr.push_back(std::move(v));
    }
    return keep_elems ? arr : elided(et, n);
  }

  static nlohmann::json elided(uint32_t et, uint64_t n) {
    return {{"gguf_array_type", et}, {"length", n}, {"elided", true}};
  }

  void read_alignment(GgufFile& g) {
    auto it = g.metadata.find("general.alignment");
    if (it == g.metadata.end()) return;
    uint32_t t = g.metadata_types["general.alignment"];
    bool integer = t == gguf_type::kUint8 || t == gguf_type::kUint16 || t == gguf_type::kUint32 ||
                   t == gguf_type::kUint64 || t == gguf_type::kInt8 || t == gguf_type::kInt16 ||
                   t == gguf_type::kInt32 || t == gguf_type::kInt64;
    if (!integer || !it->is_number_integer()) {
      fail(fmt::format("general.alignment is not an integer ({}, general.alignment, type {})", path(),
                       type_name(t)));
    }
    bool neg = it->is_number_integer() && !it->is_number_unsigned() && it->get<int64_t>() < 0;
    uint64_t a = neg ? 0 : it->get<uint64_t>();
    if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 30)) {
      fail(fmt::format("general.alignment is not a power of two ({}, general.alignment, {})", path(),
                       it->dump()));
    }
    g.alignment = a;
  }

  TensorSpec read_tensor_info(const GgufFile& g) {
    TensorSpec t;
    t.name = read_string("tensor name");
    const std::string ctx = fmt::format("{}, tensor \"{}\"", path(), io::printable(t.name));
    uint32_t n_dims = r_.get<uint32_t>("n_dims");
    if (n_dims > kMaxDims) {
      fail(fmt::format("n_dims {} exceeds the ggml maximum of {} ({}, n_dims)", n_dims, kMaxDims, ctx));
    }
    std::vector<uint64_t> ne(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      ne[d] = r_.get<uint64_t>("dimension");
      if (ne[d] > static_cast<uint64_t>(INT64_MAX)) {
        fail(fmt::format("dimension {} is negative as int64 ({}, ne[{}], {})", d, ctx, d,
                         static_cast<int64_t>(ne[d])));
      }
    }
    uint32_t type_id = r_.get<uint32_t>("tensor type");
    uint64_t offset = r_.get<uint64_t>("tensor offset");

    auto dtype = dtype_from_ggml_id(type_id);
    if (!dtype) fail(fmt::format("unknown ggml type id {} ({}, type)", type_id, ctx));
    t.dtype = *dtype;
    t.shape.assign(ne.rbegin(), ne.rend());
    auto elems = checked_product(ne);
    if (!elems || *elems > static_cast<uint64_t>(INT64_MAX)) {
      fail(fmt::format("element count overflows ({}, ne {})", ctx, nlohmann::json(ne).dump()));
    }
    const auto& info = dtype_info(t.dtype);
    uint64_t row = n_dims > 0 ? ne[0] : 1;
    if (row % info.block_elems != 0) {
      fail(fmt::format("row of {} elements is not a multiple of the {} block size {} ({}, ne[0])", row,
                       info.name, info.block_elems, ctx));
    }
    auto bytes = dtype_bytes(t.dtype, *elems);
    if (!bytes) fail(fmt::format("byte size overflows ({}, ne {})", ctx, nlohmann::json(ne).dump()));
    t.bytes = *bytes;
    if (offset % g.alignment != 0) {
      fail(fmt::format("tensor offset {} is not a multiple of the alignment {} ({}, offset)", offset,
                       g.alignment, ctx));
    }
    t.offset = offset;  // relative until the data start is known
    return t;
  }

  void place_tensors(GgufFile& g) {
    for (auto& t : g.tensors) {
      const std::string ctx = fmt::format("{}, tensor \"{}\"", path(), io::printable(t.name));
      auto abs = checked_add(g.data_start, t.offset);
      auto end = abs ? checked_add(*abs, t.bytes) : std::nullopt;
      if (!end || *end > g.file_size) {
        fail(fmt::format("tensor data outside the file: offset {} + {} bytes past the data start {} "
                         "exceeds the file size {} ({}, offset)",
                         t.offset, t.bytes, g.data_start, g.file_size, ctx));
      }
      t.offset = *abs;
    }
    std::vector<const TensorSpec*> order;
    for (const auto& t : g.tensors) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](const TensorSpec* a, const TensorSpec* b) {
      return a->offset != b->offset ? a->offset < b->offset : a->bytes < b->bytes;
    });
    const TensorSpec* prev = nullptr;
    for (const TensorSpec* t : order) {
      if (t->bytes == 0) continue;
      if (prev && t->offset < prev->offset + prev->bytes) {
        fail(fmt::format("tensors overlap: \"{}\" [{}, {}) and \"{}\" [{}, {}) ({}, offset)",
                         io::printable(prev->name), prev->offset - g.data_start,
                         prev->offset - g.data_start + prev->bytes, io::printable(t->name),
                         t->offset - g.data_start, t->offset - g.data_start + t->bytes, path()));
      }
      prev = t;
    }
  }

  io::ReadFile& f_;
  HeaderReader r_;
  const GgufReadOptions& opt_;
  uint64_t tensor_count_ = 0;
  uint64_t kept_elems_ = 0;
  const std::string* key_ = nullptr;
};

}  // namespace

GgufFile read_gguf(const std::string& path, const GgufReadOptions& options) {
  io::ReadFile f(path, kComponent);
  return Parser(f, options).parse();
}

}  // namespace mlxcel
