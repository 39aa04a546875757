// The one memory estimator: plan_memory turns a ModelSpec and a RunConfig into bytes. inspect,
// the generate/serve preflight, the advisor and the loader all use it; nothing else computes sizes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlxcel/model_spec.h"

namespace mlxcel {

enum class KvCacheType : uint8_t { F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q8, Q4 };

struct KvCacheTypeInfo {
  KvCacheType type;
  std::string_view name;   // "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q8", "q4"
  uint32_t block_elems;    // elements per block / group
  uint32_t block_bytes;    // bytes per block (MLX affine: packed values + f16 scale + f16 bias)
};
const KvCacheTypeInfo& kv_cache_type_info(KvCacheType t);
std::optional<KvCacheType> kv_cache_type_from_name(std::string_view name);
std::vector<KvCacheType> all_kv_cache_types();
// Bytes of one cached row of `elems` values; nullopt when elems is not a whole number of blocks.
std::optional<uint64_t> kv_row_bytes(KvCacheType t, uint64_t elems);

struct RunConfig {
  uint64_t context = 4096;      // tokens per sequence (prompt + generated)
  uint64_t sequences = 1;       // sequences decoded together (batch / --parallel)
  KvCacheType cache_type_k = KvCacheType::F16;
  KvCacheType cache_type_v = KvCacheType::F16;
  uint64_t prefill_chunk = 512; // prompt tokens per forward pass
  uint32_t threads = 2;
};

struct NamedBytes {
  std::string name;
  uint64_t bytes = 0;
  uint64_t count = 0;  // tensors / buffers behind the figure
};

struct WeightsPlan {
  uint64_t total = 0;
  WeightSource source = WeightSource::Analytic;
  std::vector<NamedBytes> by_component;
  std::vector<NamedBytes> by_dtype;
};

struct KvLayerPlan {
  uint32_t layer = 0;
  LayerKind kind = LayerKind::Full;
  uint64_t bytes_per_token = 0;  // per sequence, 0 for Linear/None
  uint64_t tokens_kept = 0;      // min(context, window) for Sliding, context for Full/Mla
  uint64_t bytes = 0;            // all sequences
};

struct KvPlan {
  uint64_t bytes_per_token = 0;  // sum over layers that still grow at this context, per sequence
  uint64_t state_bytes = 0;      // constant per-sequence state (Linear layers), all sequences
  uint64_t total = 0;
  std::vector<KvLayerPlan> layers;
};

// The forward pass's scratch arena, buffer by buffer; the runtime allocates exactly these.
struct WorkspacePlan {
  uint64_t total = 0;
  std::vector<NamedBytes> buffers;
};

struct OverheadPlan {
  uint64_t total = 0;
  bool calibrated = false;
  std::string profile;  // profile file and its provenance line
};

struct MemoryPlan {
  RunConfig run;
  WeightsPlan weights;
  KvPlan kv;
  WorkspacePlan workspace;
  OverheadPlan overhead;
  uint64_t total = 0;
};

// Coefficients for what the plan cannot compute: loaded from a calibration profile JSON.
struct CalibrationProfile {
  std::string path;
  std::string provenance;
  bool calibrated = false;
  uint64_t base_bytes = 0;        // process baseline (binary, libraries, allocator arenas)
  uint64_t per_thread_bytes = 0;  // thread stacks and per-thread buffers
  double weights_fraction = 0;    // slack proportional to weights (page tables, loader buffers)
  double workspace_factor = 1.0;  // measured / planned workspace
  double margin = 0;              // safety fraction added on top so the fit bounds every point
};
// Loads a profile (FormatError naming the file and field); the default is the shipped one.
CalibrationProfile load_calibration_profile(const std::string& path);
CalibrationProfile default_calibration_profile();

MemoryPlan plan_memory(const ModelSpec& spec, const RunConfig& run,
                       const CalibrationProfile& profile = default_calibration_profile());

// Memory this process may use: min(MemAvailable, cgroup v2/v1 limit - usage); swap not counted.
struct AvailableMemory {
  uint64_t bytes = 0;
  std::string source;  // "MemAvailable (/proc/meminfo)", "cgroup v2 memory.max - memory.current", "--memory-budget"
  uint64_t mem_total = 0;
  uint64_t mem_available = 0;
};
AvailableMemory probe_available_memory();
AvailableMemory budget_available_memory(uint64_t budget);

}  // namespace mlxcel
