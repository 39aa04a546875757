// Byte-level builders for hand-made (and deliberately broken) safetensors and GGUF files, kept
// independent of the writers under test.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace mlxcel::test {

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline uint64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(st.st_size);
}

// Bytes actually allocated on disk (st_blocks is in 512-byte units).
inline uint64_t disk_usage(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

// Little-endian byte builder.
struct Bytes {
  std::string b;
  Bytes& raw(const std::string& s) {
    b += s;
    return *this;
  }
  template <typename T>
  Bytes& le(T v) {
    char tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.append(tmp, sizeof(T));
    return *this;
  }
  Bytes& u8(uint8_t v) { return le(v); }
  Bytes& u32(uint32_t v) { return le(v); }
  Bytes& u64(uint64_t v) { return le(v); }
  Bytes& i32(int32_t v) { return le(v); }
  Bytes& f32(float v) { return le(v); }
  Bytes& str(const std::string& s) { return u64(s.size()).raw(s); }  // GGUF string
  Bytes& zeros(size_t n) { return raw(std::string(n, '\0')); }
  Bytes& pad_to(size_t alignment) { return zeros((alignment - b.size() % alignment) % alignment); }
};

// A safetensors file from a literal JSON header and `data_len` zero bytes of data.
inline std::string safetensors_bytes(const std::string& header, uint64_t data_len) {
  Bytes out;
  out.u64(header.size()).raw(header).zeros(data_len);
  return out.b;
}

// Start of a GGUF v3 file: magic, version, tensor count, kv count.
inline Bytes gguf_start(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
  Bytes out;
  out.raw("GGUF").u32(version).u64(tensors).u64(kvs);
  return out;
}

// Expects `stmt` to throw exception type E whose message contains `fragment`.
#define EXPECT_THROW_MSG(stmt, E, fragment)                                              \
  do {                                                                                   \
    try {                                                                                \
      stmt;                                                                              \
      ADD_FAILURE() << "expected " #E " containing \"" << (fragment) << "\"";            \
    } catch (const E& e) {                                                               \
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();    \
    }                                                                                    \
  } while (0)

}  // namespace mlxcel::test
