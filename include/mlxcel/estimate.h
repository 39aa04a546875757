// The one memory estimator: plan_memory turns a ModelSpec and a RunConfig into bytes. inspect,
// the generate/serve preflight, the advisor and the loader all use it; nothing else computes sizes.
// The formulas are documented buffer by buffer in docs/memory-model.md.
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
std::string_view kv_cache_type_name(KvCacheType t);
// Exact, case-insensitive ("Q8_0" and "q8_0" both work).
std::optional<KvCacheType> kv_cache_type_from_name(std::string_view name);
std::vector<KvCacheType> all_kv_cache_types();  // highest precision first
// Bytes of one cached row of `elems` values; nullopt when elems is not a whole number of blocks.
std::optional<uint64_t> kv_row_bytes(KvCacheType t, uint64_t elems);
// Why `t` cannot hold this model's cached rows (a head dim that is not a whole number of blocks),
// as the ConfigError message plan_memory would throw; nullopt when the type works.
std::optional<std::string> kv_cache_type_problem(const ModelSpec& spec, KvCacheType t);

// `serve` only: what the HTTP server may hold for requests is bounded by its flags.
struct ServerRequestLimits {
  uint64_t max_body = 0;             // --max-body
  uint32_t bodies_in_flight = 0;     // bodies read at once; 0: sequences + 2
  uint32_t preparation_threads = 0;  // requests parsed, rendered and tokenized at once
};
// Request bodies the server reads at once: `bodies_in_flight`, or sequences + 2 when it is 0
// (every sequence's next request, plus two being refused or queued).
uint64_t request_bodies_in_flight(uint32_t bodies_in_flight, uint64_t sequences);

struct RunConfig {
  uint64_t context = 4096;      // tokens per sequence (prompt + generated)
  uint64_t sequences = 1;       // sequences decoded together (batch / --parallel)
  KvCacheType cache_type_k = KvCacheType::F16;
  KvCacheType cache_type_v = KvCacheType::F16;
  uint64_t prefill_chunk = 512; // prompt tokens per forward pass
  uint32_t threads = 2;
  std::optional<ServerRequestLimits> server;  // set by `serve`
};

// The defaults every command shares: context = min(max_position_embeddings, 4096) (4096 when the
// model does not say), threads = online CPUs, the rest as in RunConfig.
constexpr uint64_t kDefaultContext = 4096;
RunConfig default_run_config(const ModelSpec& spec);

struct NamedBytes {
  std::string name;
  uint64_t bytes = 0;
  uint64_t count = 0;  // tensors / buffers / layers behind the figure
};

struct WeightsPlan {
  uint64_t total = 0;
  WeightSource source = WeightSource::Analytic;
  std::vector<NamedBytes> by_component;  // Component order, non-empty only
  std::vector<NamedBytes> by_dtype;      // DType order, non-empty only
};

struct KvLayerPlan {
  uint32_t layer = 0;
  LayerKind kind = LayerKind::Full;
  uint64_t bytes_per_token = 0;  // per sequence; 0 for Linear/None
  uint64_t tokens_kept = 0;      // min(context, window) for Sliding, context for Full/Mla, 0 else
  uint64_t state_bytes = 0;      // Linear: constant state per sequence
  uint64_t bytes = 0;            // this layer, all sequences
};

struct KvPlan {
  uint64_t bytes_per_token = 0;  // per sequence, sum over layers that still grow at this context
                                 // (Full, Mla, and Sliding with context < window)
  uint64_t state_bytes = 0;      // constant state (Linear layers), all sequences
  uint64_t total = 0;            // all layers, all sequences (includes state_bytes)
  std::vector<KvLayerPlan> layers;
};

// The forward pass's scratch arena, buffer by buffer; the runtime allocates exactly these (f32
// activations unless the name says otherwise). Zero-sized buffers are left out.
struct WorkspacePlan {
  uint64_t total = 0;
  uint64_t rows = 0;  // R = max(min(prefill_chunk, context), sequences)
  std::vector<NamedBytes> buffers;
};

// The estimated part: what the runtime does not plan itself, from the calibration profile.
// fitted = base + threads*per_thread + ceil(weights_fraction*weights) + ceil(kv_fraction*kv)
//          + ceil(workspace_fraction*workspace)
//          + ceil(tokenizer coefficient of the file's kind*tokenizer file bytes);
// margin = ceil(margin*(planned + fitted));
// total = fitted + margin.
struct OverheadPlan {
  uint64_t total = 0;
  uint64_t base = 0;
  uint64_t threads = 0;
  uint64_t weights = 0;
  uint64_t kv = 0;
  uint64_t workspace = 0;
  uint64_t tokenizer = 0;  // ceil(coefficient for the file's kind * spec.tokenizer_file_bytes)
  uint64_t margin = 0;
  bool calibrated = false;
  std::string profile;     // profile file
  std::string provenance;  // the profile's one-line provenance summary
};

// `serve` only (zero otherwise): the server's own baseline and request memory at its bound.
// Bodies are exact (the transport answers 503 beyond them); preparation (parsed JSON, rendered
// prompt, token ids, tokenizer work) is the profile's measured cost per body byte; the baseline
// (HTTP threads and buffers, scheduler) is the profile's fitted server_base_bytes.
// bodies = request_bodies_in_flight(...) * max_body;
// preparation = preparation_threads * ceil(server_preparation_per_body_byte * max_body);
// total = base + bodies + preparation.
struct ServerPlan {
  uint64_t total = 0;
  uint64_t base = 0;
  uint64_t bodies = 0;
  uint64_t bodies_in_flight = 0;
  uint64_t preparation = 0;
};

struct MemoryPlan {
  RunConfig run;
  WeightsPlan weights;
  KvPlan kv;
  WorkspacePlan workspace;
  ServerPlan server;
  OverheadPlan overhead;
  uint64_t planned = 0;  // weights + kv + workspace: exact, what the runtime allocates
  uint64_t total = 0;    // planned + server + overhead
  std::vector<std::string> warnings;
};

// Coefficients for what the plan cannot compute: loaded from a calibration profile JSON
// (format in docs/memory-model.md). All coefficients are >= 0 so total >= planned.
struct CalibrationProfile {
  std::string path;
  std::string provenance;
  bool calibrated = false;
  uint64_t base_bytes = 0;          // process baseline (binary, libraries, allocator arenas)
  uint64_t per_thread_bytes = 0;    // thread stacks and per-thread buffers
  double weights_fraction = 0;      // slack proportional to weights (page tables, loader buffers)
  double kv_fraction = 0;           // slack proportional to the KV cache
  double workspace_fraction = 0;    // slack proportional to the workspace (allocator rounding)
  double margin = 0;                // safety fraction on top so the fit bounds every point
  // Heap a loaded tokenizer keeps per byte of its file (not fitted by `calibrate`, whose random
  // models carry a 258-token tokenizer; measured by bench_tokenizer_memory): for tokenizer.json,
  // and for a tiktoken tokenizer.model. Optional in the file: 0 when absent; the tiktoken one
  // falls back to the tokenizer.json one.
  double tokenizer_heap_per_file_byte = 0;
  std::optional<double> tiktoken_heap_per_file_byte;
  // Peak memory `serve` uses to prepare one request, per byte of its body, beyond the body
  // (measured by bench/serve_request_memory.py on its worst body shape). Optional: 0 when absent.
  double server_preparation_per_body_byte = 0;
  // What a `serve` process holds beyond a `generate` one of the same plan under small requests
  // (HTTP threads and buffers, scheduler), fitted by bench/serve_accuracy.py. Optional: 0 when absent.
  uint64_t server_base_bytes = 0;
  // The coefficient that applies to a spec's tokenizer file.
  double tokenizer_coefficient(bool tiktoken) const {
    return tiktoken && tiktoken_heap_per_file_byte ? *tiktoken_heap_per_file_byte : tokenizer_heap_per_file_byte;
  }
};
// Loads a profile; IoError when unreadable, FormatError naming the file and field when malformed.
CalibrationProfile load_calibration_profile(const std::string& path);
// A profile's JSON text; `path` names it in errors and in CalibrationProfile::path.
CalibrationProfile parse_calibration_profile(const std::string& text, const std::string& path);
// profiles/cpu-default.json as it was when the binary was built (compiled in), parsed once.
const CalibrationProfile& default_calibration_profile();

// Throws ConfigError when the spec and run cannot be planned (a cache type whose block does not
// divide a head dim, a missing dimension, a size overflow) and UsageError for a zero context,
// sequence count, chunk or thread count.
MemoryPlan plan_memory(const ModelSpec& spec, const RunConfig& run,
                       const CalibrationProfile& profile = default_calibration_profile());

// Memory this process may use: min(MemAvailable, cgroup v2/v1 limit - usage); swap not counted.
struct AvailableMemory {
  uint64_t bytes = 0;
  std::string source;  // "MemAvailable (/proc/meminfo)", "cgroup v2 memory.max - memory.current
                       // (<dir>)", "cgroup v1 ... (<dir>)", "--memory-budget"
  uint64_t mem_total = 0;      // 0 when not probed (budget)
  uint64_t mem_available = 0;  // 0 when not probed (budget)
};
AvailableMemory probe_available_memory();
// The same probe reading <root>/proc/... and <root>/sys/fs/cgroup/... (tests use fake trees).
AvailableMemory probe_available_memory(const std::string& root);
AvailableMemory budget_available_memory(uint64_t budget);

}  // namespace mlxcel
