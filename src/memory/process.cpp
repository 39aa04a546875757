// Process-level probes: what the kernel says this process holds (VmRSS) and has held (VmHWM).
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "core/checked.h"
#include "mlxcel/errors.h"
#include "mlxcel/memory.h"

namespace mlxcel {
namespace {

constexpr const char* kStatus = "/proc/self/status";

// The largest RSS or VmHWM any read so far returned. The kernel counts a thread's page faults in
// the thread first and folds them into the process (and its high-water mark) later, so a VmHWM
// read after a busy thread exits can be below an RSS read while it ran (seen: serve's /metrics
// showed 15,175,680 B, the VmHWM logged at exit 15,163,392 B). A peak must not go down.
std::atomic<uint64_t> g_seen_peak{0};

uint64_t raise_seen_peak(uint64_t v) {
  uint64_t cur = g_seen_peak.load(std::memory_order_relaxed);
  while (v > cur && !g_seen_peak.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
  return std::max(cur, v);
}

// "VmRSS:\t   12345 kB" -> 12345 * 1024. The kernel always reports these fields in kB.
std::optional<uint64_t> parse_kb_field(std::string_view line, std::string_view key) {
  if (line.substr(0, key.size()) != key) return std::nullopt;
  std::string_view rest = line.substr(key.size());
  size_t i = rest.find_first_not_of(" \t");
  if (i == std::string_view::npos) return std::nullopt;
  rest = rest.substr(i);
  uint64_t kb = 0;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), kb);
  if (ec != std::errc() || std::string_view(ptr, rest.data() + rest.size()) != " kB") {
    return std::nullopt;
  }
  return checked_mul(kb, 1024);
}

}  // namespace

ProcessMemory process_memory() {
  std::ifstream in(kStatus);
  if (!in) throw IoError("memory", fmt::format("cannot read process memory ({})", kStatus));
  std::optional<uint64_t> rss, hwm;
  std::string line;
  while (std::getline(in, line)) {
    if (!rss) rss = parse_kb_field(line, "VmRSS:");
    if (!hwm) hwm = parse_kb_field(line, "VmHWM:");
  }
  if (!rss || !hwm) {
    throw IoError("memory", fmt::format("no readable VmRSS/VmHWM fields in process status ({})",
                                        kStatus));
  }
  return ProcessMemory{*rss, raise_seen_peak(std::max(*rss, *hwm))};
}

bool reset_process_peak() {
  // "5" resets the peak RSS (VmHWM) to the current RSS; kernels before 4.0 or sandboxes reject it.
  int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  if (ok) g_seen_peak.store(0, std::memory_order_relaxed);
  return ok;
}

}  // namespace mlxcel
