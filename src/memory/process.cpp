// Process-level probes: what the kernel says this process holds (VmRSS) and has held (VmHWM).
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

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
  return ProcessMemory{*rss, *hwm};
}

bool reset_process_peak() {
  // "5" resets the peak RSS (VmHWM) to the current RSS; kernels before 4.0 or sandboxes reject it.
  int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

}  // namespace mlxcel
