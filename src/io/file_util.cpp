#include "io/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "core/checked.h"
#include "mlxcel/errors.h"

namespace mlxcel::io {

ReadFile::ReadFile(const std::string& path, std::string component)
    : path_(path), component_(std::move(component)) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    throw IoError(component_, fmt::format("cannot open file ({}: {})", path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    throw IoError(component_, fmt::format("cannot stat file ({}: {})", path, std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw IoError(component_, fmt::format("not a regular file ({})", path));
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

ReadFile::~ReadFile() {
  if (fd_ >= 0) ::close(fd_);
}

void ReadFile::read_exact(uint64_t offset, void* buf, uint64_t n) {
  auto* out = static_cast<char*>(buf);
  uint64_t done = 0;
  while (done < n) {
    uint64_t chunk = std::min<uint64_t>(n - done, uint64_t{1} << 30);
    ssize_t r = ::pread(fd_, out + done, chunk, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw IoError(component_, fmt::format("read failed ({}, offset {}: {})", path_, offset + done,
                                            std::strerror(errno)));
    }
    if (r == 0) {
      throw IoError(component_, fmt::format("unexpected end of file ({}, offset {}, wanted {} bytes)",
                                            path_, offset + done, n - done));
    }
    done += static_cast<uint64_t>(r);
    bytes_read_ += static_cast<uint64_t>(r);
  }
}

AtomicWriter::AtomicWriter(const std::string& path, std::string component)
    : path_(path), component_(std::move(component)) {
  std::filesystem::path p(path);
  std::filesystem::path dir = p.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmpl = (dir / ("." + p.filename().string() + ".tmp-XXXXXX")).string();
  fd_ = ::mkstemp(tmpl.data());
  if (fd_ < 0) {
    throw IoError(component_, fmt::format("cannot create temporary file ({}: {})", tmpl,
                                          std::strerror(errno)));
  }
  tmp_path_ = tmpl;
  ::fchmod(fd_, 0644);  // mkstemp makes 0600; model files are meant to be shared
}

AtomicWriter::~AtomicWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_path_.empty()) ::unlink(tmp_path_.c_str());
}

void AtomicWriter::write_at(uint64_t offset, const void* data, uint64_t n) {
  const auto* in = static_cast<const char*>(data);
  uint64_t done = 0;
  while (done < n) {
    uint64_t chunk = std::min<uint64_t>(n - done, uint64_t{1} << 30);
    ssize_t w = ::pwrite(fd_, in + done, chunk, static_cast<off_t>(offset + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw IoError(component_, fmt::format("write failed ({}, offset {}: {})", tmp_path_,
                                            offset + done, std::strerror(errno)));
    }
    done += static_cast<uint64_t>(w);
  }
}

void AtomicWriter::set_size(uint64_t size) {
  if (size > static_cast<uint64_t>(INT64_MAX) || ::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    throw IoError(component_, fmt::format("cannot set file size ({}, {} bytes: {})", tmp_path_, size,
                                          std::strerror(errno)));
  }
}

void AtomicWriter::commit() {
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw IoError(component_, fmt::format("close failed ({}: {})", tmp_path_, std::strerror(errno)));
  }
  fd_ = -1;
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    throw IoError(component_, fmt::format("cannot rename {} to {} ({})", tmp_path_, path_,
                                          std::strerror(errno)));
  }
  committed_ = true;
}

std::string printable(std::string_view s, size_t max_len) {
  std::string out;
  size_t n = std::min(s.size(), max_len);
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

bool valid_utf8(std::string_view s, size_t* bad_offset) {
  size_t i = 0;
  auto fail = [&](size_t at) {
    if (bad_offset) *bad_offset = at;
    return false;
  };
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return fail(i);
    }
    if (s.size() - i < len) return fail(i);
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return fail(i);
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return fail(i);
    i += len;
  }
  return true;
}

std::optional<uint64_t> align_up(uint64_t x, uint64_t alignment) {
  auto sum = checked_add(x, alignment - 1);
  if (!sum) return std::nullopt;
  return *sum & ~(alignment - 1);
}

}  // namespace mlxcel::io
