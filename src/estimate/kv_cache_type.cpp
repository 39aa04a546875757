#include <array>
#include <cctype>

#include "core/checked.h"
#include "mlxcel/estimate.h"

namespace mlxcel {
namespace {

// ggml blocks (ggml-common.h): q8_0 = f16 scale + 32 int8; q4_0 = f16 scale + 16 bytes of
// nibbles; q4_1 = f16 scale + f16 min + 16; q5_0 = f16 scale + 4 high-bit bytes + 16;
// q5_1 = f16 scale + f16 min + 4 + 16. MLX affine, group 64: packed values + f16 scale + f16 bias.
constexpr std::array<KvCacheTypeInfo, 10> kTable{{
    {KvCacheType::F32, "f32", 1, 4},
    {KvCacheType::F16, "f16", 1, 2},
    {KvCacheType::BF16, "bf16", 1, 2},
    {KvCacheType::Q8_0, "q8_0", 32, 34},
    {KvCacheType::Q4_0, "q4_0", 32, 18},
    {KvCacheType::Q4_1, "q4_1", 32, 20},
    {KvCacheType::Q5_0, "q5_0", 32, 22},
    {KvCacheType::Q5_1, "q5_1", 32, 24},
    {KvCacheType::Q8, "q8", 64, 68},
    {KvCacheType::Q4, "q4", 64, 36},
}};

}  // namespace

const KvCacheTypeInfo& kv_cache_type_info(KvCacheType t) { return kTable[static_cast<size_t>(t)]; }

std::string_view kv_cache_type_name(KvCacheType t) { return kv_cache_type_info(t).name; }

std::optional<KvCacheType> kv_cache_type_from_name(std::string_view name) {
  for (const auto& e : kTable) {
    if (e.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(name[i])) == e.name[i];
    if (same) return e.type;
  }
  return std::nullopt;
}

std::vector<KvCacheType> all_kv_cache_types() {
  // Highest precision first; among equal bits, the finer format first.
  return {KvCacheType::F32,  KvCacheType::F16,  KvCacheType::BF16, KvCacheType::Q8_0,
          KvCacheType::Q8,   KvCacheType::Q5_1, KvCacheType::Q5_0, KvCacheType::Q4_1,
          KvCacheType::Q4_0, KvCacheType::Q4};
}

std::optional<uint64_t> kv_row_bytes(KvCacheType t, uint64_t elems) {
  const auto& info = kv_cache_type_info(t);
  if (elems % info.block_elems != 0) return std::nullopt;
  return checked_mul(elems / info.block_elems, info.block_bytes);
}

}  // namespace mlxcel
