// A read-only file descriptor for positioned reads of tensor data (pread, no mapping), so the
// bytes land directly in buffers the accounting allocator owns.
#pragma once

#include <cstdint>
#include <string>

namespace mlxcel::runtime {

class PreadFile {
 public:
  // Throws IoError naming the file when it cannot be opened or stat'ed.
  PreadFile(const std::string& path, std::string component);
  ~PreadFile();
  PreadFile(PreadFile&& other) noexcept;
  PreadFile(const PreadFile&) = delete;
  PreadFile& operator=(const PreadFile&) = delete;
  PreadFile& operator=(PreadFile&&) = delete;

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Reads exactly n bytes at offset; FormatError when the range is past the end of the file,
  // IoError on a read failure.
  void read(uint64_t offset, void* dst, uint64_t n) const;

 private:
  std::string path_;
  std::string component_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace mlxcel::runtime
