// CPU feature detection (cpuid + xgetbv) and the active ISA level.
#include <cpuid.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <string>

#include <spdlog/spdlog.h>

#include "kernels/cpu/dispatch.h"
#include "mlxcel/errors.h"

namespace mlxcel::kernels {
namespace {

uint64_t read_xcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  const bool avx = (c >> 28) & 1;
  if (osxsave && avx) {
    const uint64_t xcr0 = read_xcr0();
    f.os_avx = (xcr0 & 0x6) == 0x6;             // xmm + ymm state
    f.os_avx512 = f.os_avx && (xcr0 & 0xe0) == 0xe0;  // opmask + zmm hi256 + hi16 zmm
  }
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = (b >> 5) & 1;
    f.avx512f = (b >> 16) & 1;
    f.avx512dq = (b >> 17) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
    f.avx512vnni = (c >> 11) & 1;
    __cpuid_count(7, 1, a, b, c, d);
    f.avx_vnni = (a >> 4) & 1;
    f.avx512bf16 = (a >> 5) & 1;
  }
  return f;
}

Isa compute_best(const CpuFeatures& f) {
  if (!(f.os_avx && f.avx2 && f.fma && f.f16c)) return Isa::Scalar;
  if (!(f.os_avx512 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni)) {
    return Isa::Avx2;
  }
  return f.avx512bf16 ? Isa::Avx512Bf16 : Isa::Avx512;
}

Isa initial_isa() {
  const Isa best = best_isa();
  const char* env = std::getenv("MLXCEL_ISA");
  if (env == nullptr || *env == 0) return best;
  const auto wanted = isa_from_name(env);
  if (!wanted) {
    spdlog::warn("[kernels] MLXCEL_ISA={} is not one of scalar, avx2, avx512, avx512bf16; using {}",
                 env, isa_name(best));
    return best;
  }
  if (*wanted > best) {
    spdlog::warn("[kernels] MLXCEL_ISA={} is not supported by this CPU; using {}", env,
                 isa_name(best));
    return best;
  }
  return *wanted;
}

std::atomic<int>& active_level() {
  static std::atomic<int> level{static_cast<int>(initial_isa())};
  return level;
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Bf16: return "avx512bf16";
  }
  return "unknown";
}

std::optional<Isa> isa_from_name(std::string_view s) {
  std::string lower(s);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16}) {
    if (lower == isa_name(isa)) return isa;
  }
  return std::nullopt;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

Isa best_isa() {
  static const Isa best = compute_best(cpu_features());
  return best;
}

Isa active_isa() { return static_cast<Isa>(active_level().load(std::memory_order_relaxed)); }

Isa set_isa(Isa isa) {
  if (isa > best_isa()) {
    throw UsageError("kernels", "ISA level not supported by this CPU (requested " +
                                    std::string(isa_name(isa)) + ", best " +
                                    std::string(isa_name(best_isa())) + ")");
  }
  return static_cast<Isa>(active_level().exchange(static_cast<int>(isa)));
}

const KernelTable& kernel_table() {
  switch (active_isa()) {
    case Isa::Scalar: return scalar_table();
    case Isa::Avx2: return avx2_table();
    case Isa::Avx512: return avx512_table();
    case Isa::Avx512Bf16: return avx512bf16_table();
  }
  return scalar_table();
}

}  // namespace mlxcel::kernels
