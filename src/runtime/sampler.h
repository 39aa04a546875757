// Token sampling: greedy, or temperature with top-k / top-p / min-p filters, after an optional
// repetition penalty. Deterministic for a seed.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace mlxcel::runtime {

struct SamplerConfig {
  float temperature = 0.0f;     // <= 0: greedy (argmax, lowest id on ties)
  uint32_t top_k = 0;           // 0: off
  float top_p = 1.0f;           // 1: off
  float min_p = 0.0f;           // 0: off
  float repeat_penalty = 1.0f;  // 1: off
  uint32_t repeat_last_n = 64;  // tokens of history the penalty looks at
  uint64_t seed = 0;
};

// Throws UsageError for values out of range (negative temperature is allowed and means greedy;
// top_p outside (0, 1], min_p outside [0, 1], repeat_penalty <= 0).
void validate_sampler_config(const SamplerConfig& config);

class Sampler {
 public:
  explicit Sampler(const SamplerConfig& config);

  // Picks the next token. `logits` is modified in place (penalty, temperature). `history` is the
  // tokens so far (prompt and generated), used by the repetition penalty.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history);

  const SamplerConfig& config() const { return config_; }

 private:
  double uniform();  // [0, 1)

  SamplerConfig config_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

// Repetition penalty as in CTRL / HF / llama.cpp: each distinct token among the last `last_n` of
// history has its logit divided by `penalty` when positive, multiplied when negative.
void apply_repeat_penalty(std::span<float> logits, std::span<const int32_t> history, float penalty,
                          uint32_t last_n);

int32_t argmax(std::span<const float> logits);

}  // namespace mlxcel::runtime
