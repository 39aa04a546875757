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

// The whole of a small regular file (a config, an index, a profile), for parsing. IoError when it
// cannot be opened or read or is not a regular file (a FIFO or /dev/zero would never end);
// FormatError when it is larger than max_bytes, before anything is read.
std::string read_small_file(const std::string& path, uint64_t max_bytes, const std::string& component,
                            std::string_view what);

// Where a JSON text that failed to parse goes wrong, for messages: the dotted path of the member
// being read ("text_config.rope_theta", "layers[3]"), or "(document)" at the top level. Only
// called after try_parse_json has rejected the text, so its depth is already known to be sane;
// the walk is nlohmann's iterative SAX parser and allocates only the path.
std::string json_error_field(std::string_view text);

// A directory of outputs that appears whole or not at all. Files are written into a hidden
// staging directory beside `out_dir` ("<parent>/.<name>.staging-XXXXXX"); commit() renames it to
// out_dir in one step when out_dir is absent or empty, and otherwise moves its files into out_dir
// one by one (replacing same-named files; a same-named directory is refused before anything
// moves). Destroyed without commit() (an exception), the staging directory and everything in it
// are removed and out_dir is left as it was.
class StagedDir {
 public:
  StagedDir(const std::string& out_dir, std::string component);
  ~StagedDir();
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;

  // Where to write: the staging directory.
  const std::string& path() const { return staging_; }
  std::string file(const std::string& name) const;
  void commit();

 private:
  std::string out_dir_;
  std::string staging_;
  std::string component_;
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
