// Internal helpers of the io area: positioned reads that count bytes, atomic writes that leave
// no partial file, and escaping of file-derived text for error messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mlxcel::io {

// A file opened for positioned reads. Every byte read is counted so callers can prove that
// only headers were touched.
class ReadFile {
 public:
  ReadFile(const std::string& path, std::string component);
  ~ReadFile();
  ReadFile(const ReadFile&) = delete;
  ReadFile& operator=(const ReadFile&) = delete;

  uint64_t size() const { return size_; }
  uint64_t bytes_read() const { return bytes_read_; }
  const std::string& path() const { return path_; }
  // Reads exactly n bytes at offset; IoError on a read failure or an unexpected end of file.
  void read_exact(uint64_t offset, void* buf, uint64_t n);

 private:
  std::string path_;
  std::string component_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t bytes_read_ = 0;
};

// Writes a file through a temporary sibling ("<dir>/.<name>.tmp-XXXXXX") that is renamed over
// the target by commit(); destroyed without commit() (an exception), the temporary is removed.
class AtomicWriter {
 public:
  AtomicWriter(const std::string& path, std::string component);
  ~AtomicWriter();
  AtomicWriter(const AtomicWriter&) = delete;
  AtomicWriter& operator=(const AtomicWriter&) = delete;

  void write_at(uint64_t offset, const void* data, uint64_t n);
  // Sets the final size; spans never written stay holes (a sparse file of the real size).
  void set_size(uint64_t size);
  void commit();

 private:
  std::string path_;
  std::string tmp_path_;
  std::string component_;
  int fd_ = -1;
  bool committed_ = false;
};

// File-derived text made safe for a message: printable ASCII kept, other bytes as \xNN,
// cut after `max_len` bytes.
std::string printable(std::string_view s, size_t max_len = 200);

// Strict UTF-8 check (no overlongs, surrogates or code points past U+10FFFF); on failure
// *bad_offset is the offset of the first bad byte.
bool valid_utf8(std::string_view s, size_t* bad_offset = nullptr);

// x rounded up to a multiple of `alignment` (a power of two); nullopt on overflow.
std::optional<uint64_t> align_up(uint64_t x, uint64_t alignment);

}  // namespace mlxcel::io
