#include "runtime/pread_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/checked.h"
#include "mlxcel/errors.h"

namespace mlxcel::runtime {

PreadFile::PreadFile(const std::string& path, std::string component)
    : path_(path), component_(std::move(component)) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw IoError(component_, fmt::format("cannot open ({}: {})", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int e = errno;
    ::close(fd_);
    throw IoError(component_, fmt::format("cannot stat ({}: {})", path, std::strerror(e)));
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

PreadFile::~PreadFile() {
  if (fd_ >= 0) ::close(fd_);
}

PreadFile::PreadFile(PreadFile&& o) noexcept
    : path_(std::move(o.path_)), component_(std::move(o.component_)), fd_(o.fd_), size_(o.size_) {
  o.fd_ = -1;
}

void PreadFile::read(uint64_t offset, void* dst, uint64_t n) const {
  auto end = checked_add(offset, n);
  if (!end || *end > size_) {
    throw FormatError(component_, fmt::format("range past the end of the file ({}, offset {}, {} bytes, file has {})",
                                              path_, offset, n, size_));
  }
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    const size_t step = static_cast<size_t>(std::min<uint64_t>(n, 1ull << 30));
    ssize_t r = ::pread(fd_, p, step, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw IoError(component_, fmt::format("cannot read ({}, offset {}: {})", path_, offset, std::strerror(errno)));
    }
    if (r == 0) throw IoError(component_, fmt::format("unexpected end of file ({}, offset {})", path_, offset));
    p += r;
    n -= static_cast<uint64_t>(r);
    offset += static_cast<uint64_t>(r);
  }
}

}  // namespace mlxcel::runtime
