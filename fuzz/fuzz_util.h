// Helpers shared by the libFuzzer harnesses.
//
// Contract every harness checks: a parser of untrusted input either returns or throws a member of
// the mlxcel::Error family (FormatError, ConfigError, ...; the server's ApiError for requests).
// Harnesses catch exactly those. Anything else -- another exception type escaping (a raw
// nlohmann::json exception, std::bad_alloc, std::length_error), a sanitizer report, a timeout,
// running past -rss_limit_mb / -malloc_limit_mb -- is a finding and libFuzzer saves the input.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace mlxcel::fuzz {

// Several files in one input: parts separated by this line. Seeds carry it, so libFuzzer's
// cross-over keeps it; an input without it is one part.
inline constexpr std::string_view kPartSeparator = "\n--mlxcel-fuzz-part--\n";

inline std::vector<std::string_view> split_parts(std::string_view in, size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const size_t at = in.find(kPartSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(in.substr(0, at));
    in.remove_prefix(at + kPartSeparator.size());
  }
  parts.push_back(in);
  return parts;
}

[[noreturn]] inline void die(const char* what) {
  std::fprintf(stderr, "fuzz harness setup failed: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

// A file that lives in memory (memfd) and is reached by a path (/proc/self/fd/N), for readers
// that only take paths. Rewritten for every input; created once per process.
class MemFile {
 public:
  explicit MemFile(const char* name) {
    fd_ = memfd_create(name, MFD_CLOEXEC);
    if (fd_ < 0) die("memfd_create");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  const std::string& path() const { return path_; }
  void write(std::string_view data) {
    if (ftruncate(fd_, 0) != 0) die("ftruncate");
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(done));
      if (n <= 0) die("pwrite");
      done += static_cast<size_t>(n);
    }
  }

 private:
  int fd_ = -1;
  std::string path_;
};

// A directory of real files (for readers that look for names, e.g. config.json in a model dir),
// made once per process and removed at exit: under $MLXCEL_FUZZ_TMP when set (scripts/fuzz.sh
// points it at a directory it removes afterwards, in case a crash skips the atexit), else under
// /dev/shm so that per-input writes stay in memory.
inline std::filesystem::path scratch_dir(const char* harness) {
  namespace fs = std::filesystem;
  static fs::path dir;
  if (!dir.empty()) return dir;
  std::error_code ec;
  fs::path base;
  if (const char* env = std::getenv("MLXCEL_FUZZ_TMP"); env && *env) {
    base = env;
  } else {
    base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
  }
  dir = base / (std::string("mlxcel-fuzz-") + harness + "-" + std::to_string(getpid()));
  fs::create_directories(dir, ec);
  if (ec) die("create scratch directory");
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  });
  return dir;
}

inline void write_file(const std::filesystem::path& path, std::string_view data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) die("fopen");
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f) != data.size()) die("fwrite");
  if (std::fclose(f) != 0) die("fclose");
}

// MLXCEL_FUZZ_VERBOSE=1 prints why an input was refused (to see what a seed exercises:
// `MLXCEL_FUZZ_VERBOSE=1 build-fuzz/fuzz/<harness> file`); silent otherwise, as fuzzing needs.
inline bool verbose() {
  static const bool v = [] {
    const char* e = std::getenv("MLXCEL_FUZZ_VERBOSE");
    return e && *e && *e != '0';
  }();
  return v;
}
inline void refused(const std::exception& e) {
  if (verbose()) std::fprintf(stderr, "refused: %s\n", e.what());
}
// With MLXCEL_FUZZ_VERBOSE, the time since the previous mark (where a slow input spends it).
inline void mark(const char* step) {
  if (!verbose()) return;
  static auto last = std::chrono::steady_clock::now();
  const auto now = std::chrono::steady_clock::now();
  std::fprintf(stderr, "%-24s %9.3f s\n", step, std::chrono::duration<double>(now - last).count());
  last = now;
}

// A finding that is not a crash by itself (a broken promise of the API): abort with a message so
// libFuzzer keeps the input.
[[noreturn]] inline void broken_promise(const std::string& what) {
  std::fprintf(stderr, "BROKEN PROMISE: %s\n", what.c_str());
  std::abort();
}

}  // namespace mlxcel::fuzz
