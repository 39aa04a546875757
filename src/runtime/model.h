// A loaded llama-family model: weights, KV cache and workspace allocated exactly as the memory
// plan lists them, and the forward pass (chunked prefill, batched single-token decode).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/cpu/kernels.h"
#include "mlxcel/estimate.h"
#include "mlxcel/memory.h"
#include "mlxcel/model_spec.h"

namespace mlxcel::runtime {

struct LoadOptions {
  RunConfig run;
  // Progress bar on stderr while reading weights; drawn only when stderr is a terminal.
  bool progress = true;
  // Called for every tensor read, with the spec entry it was read through (tests).
  std::function<void(const TensorSpec&)> on_tensor_read;
};

struct NormWeight {
  const void* data = nullptr;
  DType dtype = DType::F32;
};

struct Linear {
  kernels::Weight w;
  NormWeight bias;  // data == nullptr: no bias
};

struct LayerWeights {
  NormWeight attn_norm, mlp_norm;
  NormWeight q_norm, k_norm;  // per-head RMSNorm (qwen3); data == nullptr when absent
  Linear q, k, v, o;
  Linear gate, up, down;
};

// What the forward pass needs from the config, read once at load.
struct ModelHyper {
  uint64_t hidden = 0, intermediate = 0, vocab = 0, layers = 0;
  uint32_t heads = 0, kv_heads = 0, head_dim = 0, rotary_dim = 0;
  float rms_eps = 1e-6f;
  float rope_attention_factor = 1.0f;
  std::vector<float> inv_freq;  // rotary_dim / 2
};

struct DecodeRow {
  uint32_t seq = 0;   // sequence (KV slot) index, < RunConfig::sequences
  int32_t token = 0;  // the token at the sequence's next position
};

class Model {
 public:
  // Plans memory for (spec, options.run) with plan_memory, then allocates through the accounting
  // allocator exactly the plan's weights (one buffer per tensor, read with pread from its file and
  // offset), KV cache (one buffer per layer for all sequences, the whole context or the sliding
  // window) and workspace buffers. Throws UnsupportedArchitecture for families or tensors the
  // forward pass does not implement, FormatError for tensors of the wrong shape, UsageError for
  // cache types the kernels lack, MemoryLimitExceeded when the plan does not fit the limit.
  static std::unique_ptr<Model> load(const ModelSpec& spec, const LoadOptions& options);

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelSpec& spec() const { return spec_; }
  const MemoryPlan& plan() const { return plan_; }
  const ModelHyper& hyper() const { return hyper_; }
  uint64_t vocab_size() const { return hyper_.vocab; }
  uint64_t context() const { return plan_.run.context; }
  uint64_t sequences() const { return plan_.run.sequences; }
  // Tokens held by sequence `seq` (its next position).
  uint64_t length(uint32_t seq) const;
  // Forgets sequence `seq` (its slots are reused from position 0).
  void reset(uint32_t seq);
  // Keeps the first n tokens of sequence `seq` (n <= length) when every cache still holds their
  // positions: always for full-attention layers, for a sliding layer only while its ring has not
  // wrapped (length <= window). Returns false, changing nothing, otherwise.
  bool truncate(uint32_t seq, uint64_t n);

  // Runs `tokens` of sequence `seq` at its next positions, in chunks of the workspace's rows, and
  // returns the logits of the last one (vocab floats in the workspace, valid until the next call;
  // the caller may modify them, e.g. the sampler).
  // UsageError when the context would overflow or a token is outside the vocabulary.
  std::span<float> prefill(uint32_t seq, std::span<const int32_t> tokens);

  // One token for each row (distinct sequences), all rows through each weight at once. Returns
  // logits [rows.size(), vocab].
  std::span<float> decode(std::span<const DecodeRow> rows);

  // Bytes read from weight files while loading (== plan().weights.total).
  uint64_t bytes_loaded() const { return bytes_loaded_; }
  // Bytes the forward pass needed beyond the plan's buffers (0 when plan and runtime agree).
  uint64_t unplanned_bytes() const { return unplanned_bytes_; }

 private:
  Model() = default;
  void load_weights(const LoadOptions& options);
  void bind_weights();
  void allocate_kv();
  void allocate_workspace();
  void check_token(int32_t token) const;
  // Forward pass of n rows; row r is token tokens[r] of sequence seqs[r] at position pos[r].
  // Rows of one sequence must be consecutive positions. Writes hidden states for all rows.
  void forward(const int32_t* tokens, const uint32_t* seqs, const uint64_t* pos, uint64_t n);
  void attention_layer(uint64_t layer, const uint32_t* seqs, const uint64_t* pos, uint64_t n);
  void logits_for_rows(const uint64_t* rows, uint64_t n);
  float* ws(const std::string& name, uint64_t min_bytes);

  ModelSpec spec_;
  MemoryPlan plan_;
  ModelHyper hyper_;
  std::vector<Buffer> tensors_;               // one per spec_.tensors entry
  std::vector<std::pair<std::string, size_t>> by_name_;  // sorted name -> index
  kernels::Weight embed_;
  kernels::Weight lm_head_;
  NormWeight final_norm_;
  std::vector<LayerWeights> layers_;

  struct LayerKv {
    Buffer buffer;                            // all sequences: [seq][K rows | V rows]
    std::vector<kernels::KvCacheView> k, v;   // per sequence
    uint64_t window = 0;                      // 0 = full attention
  };
  std::vector<LayerKv> kv_;
  std::vector<uint64_t> seq_len_;

  std::vector<std::pair<std::string, Buffer>> workspace_;
  std::vector<std::pair<std::string, Buffer>> unplanned_;
  uint64_t unplanned_bytes_ = 0;
  uint64_t rows_ = 0;  // workspace rows (R)
  float *hidden_ = nullptr, *normed_ = nullptr, *q_ = nullptr, *k_ = nullptr, *v_ = nullptr;
  float *attn_out_ = nullptr, *scores_ = nullptr, *gate_ = nullptr, *up_ = nullptr, *logits_ = nullptr;
  uint64_t scores_stride_ = 0;
  uint32_t scores_rows_ = 0;
  std::span<std::byte> linear_scratch_;
  uint64_t bytes_loaded_ = 0;
  // Per-row bookkeeping of a forward call (rows_ entries; seen_ one per sequence).
  std::vector<int32_t> row_tok_;
  std::vector<uint32_t> row_seq_;
  std::vector<uint64_t> row_pos_, row_index_;
  std::vector<uint8_t> seen_;
};

}  // namespace mlxcel::runtime
