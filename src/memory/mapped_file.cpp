// Read-only file mappings, counted in mapped_memory() and never in active_memory().
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/checked.h"
#include "memory/accounting.h"
#include "mlxcel/errors.h"
#include "mlxcel/memory.h"

namespace mlxcel {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw IoError("memory", fmt::format("{} ({})", what, path.string()));
}

// Closes the descriptor on every path out of open(); the mapping outlives it.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

MappedFile MappedFile::open(const std::filesystem::path& path, uint64_t offset,
                            std::optional<uint64_t> length) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) fail(path, fmt::format("cannot open file for mapping: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail(path, fmt::format("cannot stat file: {}", std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) fail(path, "cannot map: not a regular file");
  auto file_size = static_cast<uint64_t>(st.st_size);
  if (offset > file_size) {
    fail(path, fmt::format("mapping offset {} is past the end of the file ({} bytes)", offset,
                           file_size));
  }
  uint64_t len = length ? *length : file_size - offset;
  auto end = checked_add(offset, len);
  if (!end || *end > file_size) {
    fail(path, fmt::format("mapping range offset {} + length {} is past the end of the file ({} "
                           "bytes)",
                           offset, len, file_size));
  }

  MappedFile m;
  m.path_ = path;
  m.offset_ = offset;
  if (len == 0) return m;

  // mmap wants a page-aligned file offset: map from the page holding `offset`.
  auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  uint64_t base = offset / page * page;
  uint64_t span = *end - base;  // <= file_size, so it fits in size_t on 64-bit
  void* p = ::mmap(nullptr, static_cast<size_t>(span), PROT_READ, MAP_PRIVATE, f.fd,
                   static_cast<off_t>(base));
  if (p == MAP_FAILED) {
    fail(path, fmt::format("cannot map {} bytes at offset {}: {}", len, offset,
                           std::strerror(errno)));
  }
  m.map_base_ = p;
  m.map_length_ = span;
  m.data_ = static_cast<const std::byte*>(p) + (offset - base);
  m.size_ = len;
  memory_detail::add_mapped(len);
  return m;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(other.data_),
      size_(other.size_),
      offset_(other.offset_),
      map_base_(other.map_base_),
      map_length_(other.map_length_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.offset_ = 0;
  other.map_base_ = nullptr;
  other.map_length_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    reset();
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    offset_ = other.offset_;
    map_base_ = other.map_base_;
    map_length_ = other.map_length_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.offset_ = 0;
    other.map_base_ = nullptr;
    other.map_length_ = 0;
  }
  return *this;
}

void MappedFile::reset() noexcept {
  if (map_base_ != nullptr) {
    ::munmap(map_base_, static_cast<size_t>(map_length_));
    memory_detail::sub_mapped(size_);
  }
  data_ = nullptr;
  size_ = 0;
  map_base_ = nullptr;
  map_length_ = 0;
}

}  // namespace mlxcel
