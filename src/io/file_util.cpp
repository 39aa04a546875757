#include "io/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/checked.h"
#include "core/json_input.h"
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

std::string read_small_file(const std::string& path, uint64_t max_bytes, const std::string& component,
                            std::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block
  if (fd < 0) {
    throw IoError(component, fmt::format("cannot open {} ({}, path, {})", what, path, std::strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw IoError(component, fmt::format("cannot stat {} ({}, path, {})", what, path, std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    throw IoError(component, fmt::format("{} is not a regular file ({}, path, {})", what, path,
                                         S_ISDIR(st.st_mode) ? "a directory" : "a device, FIFO or socket"));
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    throw FormatError(component, fmt::format("{} too large: {} bytes, the limit is {} ({}, size, {})",
                                             what, size, max_bytes, path, size));
  }
  std::string text(size, '\0');
  uint64_t done = 0;
  while (done < size) {
    const ssize_t r = ::pread(fd, text.data() + done, size - done, static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      throw IoError(component, fmt::format("cannot read {} ({}, offset {}, {})", what, path, done,
                                           r < 0 ? std::strerror(errno) : "unexpected end of file"));
    }
    done += static_cast<uint64_t>(r);
  }
  return text;
}

namespace {

// Tracks the member path while nlohmann's SAX parser walks a document, and stops at the error.
class FieldTracker : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::string field() const {
    std::string out;
    for (const Level& l : stack_) {
      if (l.object) {
        if (l.has_key) out += (out.empty() ? "" : ".") + printable(l.key, 80);
      } else if (l.index > 0) {
        out += fmt::format("[{}]", l.index - 1);
      }
    }
    if (out.size() > 80) out = out.substr(0, 80) + "...";
    return out.empty() ? "(document)" : out;
  }

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override {
    if (stack_.size() >= kMaxJsonDepth) return false;  // the depth is the error
    value();
    stack_.push_back({true, {}, false, 0});
    return true;
  }
  bool key(string_t& k) override {
    stack_.back().key = k;
    stack_.back().has_key = true;
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (stack_.size() >= kMaxJsonDepth) return false;
    value();
    stack_.push_back({false, {}, false, 0});
    return true;
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    // An array element that failed to parse is the next one.
    if (!stack_.empty() && !stack_.back().object) ++stack_.back().index;
    return false;
  }

 private:
  struct Level {
    bool object;
    std::string key;
    bool has_key;
    uint64_t index;  // array elements seen so far (the current one is index - 1)
  };
  bool value() {
    if (!stack_.empty() && !stack_.back().object) ++stack_.back().index;
    return true;
  }
  std::vector<Level> stack_;
};

}  // namespace

std::string json_error_field(std::string_view text) {
  FieldTracker t;
  try {
    nlohmann::json::sax_parse(text, &t);
  } catch (const std::exception&) {
    // sax_parse reports through parse_error; anything else leaves the path as far as it got.
  }
  return t.field();
}

StagedDir::StagedDir(const std::string& out_dir, std::string component)
    : out_dir_(out_dir), component_(std::move(component)) {
  namespace fs = std::filesystem;
  fs::path out = fs::path(out_dir).lexically_normal();
  if (!out.has_filename()) out = out.parent_path();  // "dir/" -> "dir"
  out_dir_ = out.string();
  fs::path parent = out.parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) {
    throw IoError(component_, fmt::format("cannot create directory ({}: {})", parent.string(),
                                          ec.message()));
  }
  // mkdir (not mkdtemp) so the directory gets the usual permissions under the umask.
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string candidate =
        (parent / fmt::format(".{}.staging-{:08x}", out.filename().string(), rd())).string();
    if (::mkdir(candidate.c_str(), 0777) == 0) {
      staging_ = candidate;
      return;
    }
    if (errno != EEXIST) {
      throw IoError(component_, fmt::format("cannot create staging directory ({}: {})", candidate,
                                            std::strerror(errno)));
    }
  }
  throw IoError(component_, fmt::format("cannot create a staging directory beside {}", out_dir));
}

StagedDir::~StagedDir() {
  if (committed_ || staging_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);
}

std::string StagedDir::file(const std::string& name) const {
  return (std::filesystem::path(staging_) / name).string();
}

void StagedDir::commit() {
  namespace fs = std::filesystem;
  // One step when out_dir is absent or an empty directory (rename replaces an empty directory).
  if (::rename(staging_.c_str(), out_dir_.c_str()) == 0) {
    committed_ = true;
    return;
  }
  const int err = errno;
  std::error_code dir_ec;
  if (!fs::is_directory(out_dir_, dir_ec)) {  // follows a symlink to a directory
    throw IoError(component_, fmt::format("cannot rename {} to {} ({})", staging_, out_dir_,
                                          std::strerror(err)));
  }
  // out_dir holds other files (or is a symlink to a directory): move ours in beside them.
  std::error_code ec;
  std::vector<fs::path> names;
  for (const auto& entry : fs::directory_iterator(staging_, ec)) names.push_back(entry.path());
  if (ec) {
    throw IoError(component_, fmt::format("cannot list staging directory ({}: {})", staging_,
                                          ec.message()));
  }
  // Refuse what would fail half way (a directory where a file goes) before moving anything.
  for (const fs::path& from : names) {
    const fs::path target = fs::path(out_dir_) / from.filename();
    if (fs::is_directory(fs::symlink_status(target, ec))) {
      throw IoError(component_, fmt::format("cannot replace directory {} with a file", target.string()));
    }
  }
  for (const fs::path& from : names) {
    const fs::path target = fs::path(out_dir_) / from.filename();
    if (::rename(from.c_str(), target.c_str()) != 0) {
      throw IoError(component_, fmt::format("cannot move {} to {} ({})", from.string(),
                                            target.string(), std::strerror(errno)));
    }
  }
  fs::remove(staging_, ec);
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
