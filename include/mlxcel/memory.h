// Runtime memory API: one process-wide accounting allocator for every weight, KV and scratch
// buffer, modelled on MLX's memory functions (same names and meanings), plus read-only file
// mappings and process RSS probes. Accounting rules are in docs/memory-api.md:
// - active counts the bytes requested by live buffers, exactly (no alignment padding), so it can
//   be held equal to a MemoryPlan to the byte;
// - padding counts the rounding of live buffers up to their 64-byte capacity;
// - cache counts the full capacity of freed buffers kept for reuse;
// - mapped counts the requested length of live MappedFile regions (never in active).
// All functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string_view>

namespace mlxcel {

// Limit value meaning "no limit" for set_memory_limit / set_cache_limit. A limit of 0 is a real
// limit: no memory for set_memory_limit, no caching for set_cache_limit (as in MLX).
inline constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

// Every buffer's data is aligned to this many bytes and its capacity is a multiple of it.
inline constexpr uint64_t kBufferAlignment = 64;

enum class Init { Uninitialized, Zero };

// A block of memory from the accounting allocator. Move-only; the destructor returns the block to
// the allocator (its cache, or the system when the cache is full). A default-constructed or
// moved-from Buffer is empty; so is a Buffer of 0 bytes (data() == nullptr, nothing accounted).
class Buffer {
 public:
  Buffer() noexcept = default;
  ~Buffer() { reset(); }
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() noexcept { return data_; }
  const void* data() const noexcept { return data_; }
  template <typename T>
  T* as() noexcept {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* as() const noexcept {
    return static_cast<const T*>(data_);
  }
  std::span<std::byte> bytes() noexcept { return {static_cast<std::byte*>(data_), size_}; }
  std::span<const std::byte> bytes() const noexcept {
    return {static_cast<const std::byte*>(data_), size_};
  }
  // The bytes requested (what active_memory counts for this buffer).
  uint64_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // Returns the memory to the allocator now; the Buffer becomes empty.
  void reset() noexcept;

 private:
  friend Buffer allocate(uint64_t bytes, std::string_view what, Init init);
  Buffer(void* data, uint64_t size, uint64_t capacity) noexcept
      : data_(data), size_(size), capacity_(capacity) {}

  void* data_ = nullptr;
  uint64_t size_ = 0;
  uint64_t capacity_ = 0;  // size_ rounded up to kBufferAlignment
};

// Allocates `bytes` for the purpose named by `what` (e.g. "layers.3.kv.k"), reusing a cached
// buffer of the same capacity when there is one. Throws MemoryLimitExceeded when active + bytes
// would pass the memory limit (message names what, the request, the limit and what is held);
// then nothing is allocated and every counter is as before the call. Also throws it when the
// system has no memory even after the whole cache was released (the only counter changed is the
// released cache).
Buffer allocate(uint64_t bytes, std::string_view what, Init init = Init::Uninitialized);

// Bytes requested by live buffers (exact; no padding, no cache, no mappings).
uint64_t active_memory();
// Highest active_memory since start or the last reset_peak_memory.
uint64_t peak_memory();
// Starts a new peak interval: peak becomes the current active (MLX sets 0; what is held at the
// reset is part of any later peak, so we start from it).
void reset_peak_memory();
// Capacity of freed buffers held for reuse.
uint64_t cache_memory();
// Alignment rounding of live buffers (capacity - size summed over them).
uint64_t padding_memory();
// Requested length of live MappedFile regions.
uint64_t mapped_memory();

// Each returns the previous limit. Default for both: kUnlimited.
// The memory limit bounds active_memory; it is enforced on every allocation. When a fresh system
// allocation would take active + padding + cache past it, cached buffers are released first.
uint64_t set_memory_limit(uint64_t bytes);
uint64_t get_memory_limit();
// The cache limit bounds cache_memory; lowering it releases cached buffers at once.
uint64_t set_cache_limit(uint64_t bytes);
uint64_t get_cache_limit();
// Releases every cached buffer to the system.
void clear_cache();

// All counters read under one lock, so they are consistent with each other.
struct MemoryStats {
  uint64_t active = 0;
  uint64_t peak = 0;
  uint64_t cache = 0;
  uint64_t padding = 0;
  uint64_t mapped = 0;
  uint64_t memory_limit = kUnlimited;
  uint64_t cache_limit = kUnlimited;
};
MemoryStats memory_stats();

// A read-only, private memory mapping of part of a file, counted in mapped_memory. Move-only; the
// destructor unmaps. An empty region (length 0) maps nothing and has data() == nullptr.
class MappedFile {
 public:
  // Maps [offset, offset + length) of `path`; without a length, maps to the end of the file.
  // Throws IoError naming the file when it cannot be opened, stat'ed or mapped, or when the range
  // lies outside the file.
  static MappedFile open(const std::filesystem::path& path, uint64_t offset = 0,
                         std::optional<uint64_t> length = std::nullopt);

  MappedFile() noexcept = default;
  ~MappedFile() { reset(); }
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const noexcept { return data_; }
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  uint64_t size() const noexcept { return size_; }
  uint64_t offset() const noexcept { return offset_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  bool empty() const noexcept { return size_ == 0; }

  // Unmaps now; the region becomes empty.
  void reset() noexcept;

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;  // first requested byte
  uint64_t size_ = 0;                // requested length (what mapped_memory counts)
  uint64_t offset_ = 0;
  void* map_base_ = nullptr;  // page-aligned start handed to munmap
  uint64_t map_length_ = 0;
};

// Resident set size of this process now (VmRSS) and its high-water mark, in bytes, from
// /proc/self/status. Throws IoError when the file cannot be read or lacks the fields.
struct ProcessMemory {
  uint64_t rss = 0;
  // VmHWM, or the largest RSS / VmHWM an earlier call returned when that is higher (the kernel
  // folds threads' page counts in lazily): never below anything reported before.
  uint64_t hwm = 0;
};
ProcessMemory process_memory();

// Resets VmHWM to the current RSS by writing "5" to /proc/self/clear_refs (Linux >= 4.0). Returns
// false, without throwing, where the kernel or a sandbox does not allow it.
bool reset_process_peak();

}  // namespace mlxcel
