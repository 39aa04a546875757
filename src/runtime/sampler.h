// Token sampling: greedy, or temperature with top-k / top-p / min-p filters, after optional
// logit biases and repetition / presence / frequency penalties. Deterministic for a seed.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <unordered_map>
#include <utility>
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
  // OpenAI's penalties over the tokens this sampler has returned (not the prompt): a token's
  // logit loses presence_penalty once it occurred and frequency_penalty per occurrence.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::pair<int32_t, float>> logit_bias{};  // (token, added to its logit); first of all
  uint32_t top_logprobs = 0;  // alternatives sample() reports when asked for log-probabilities
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

// Log-probabilities of the distribution after logit_bias and penalties, before temperature and
// top-k / top-p / min-p: what the model (as adjusted) thinks, not the truncated sampling law.
struct SampledLogprobs {
  float logprob = 0.0f;            // of the sampled token
  std::vector<TokenLogprob> top;   // the config's top_logprobs most likely, best first
};

// Throws UsageError for values out of range (negative temperature is allowed and means greedy;
// top_p outside (0, 1], min_p outside [0, 1], repeat_penalty <= 0, non-finite penalties or biases).
void validate_sampler_config(const SamplerConfig& config);

class Sampler {
 public:
  explicit Sampler(const SamplerConfig& config);

  // Picks the next token. `logits` is modified in place (bias, penalties). `history` is the
  // tokens so far (prompt and generated), used by the repetition penalty. With `logprobs`, also
  // reports the sampled token's log-probability and the config's top_logprobs alternatives.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history,
                 SampledLogprobs* logprobs = nullptr);

  const SamplerConfig& config() const { return config_; }

 private:
  double uniform();  // [0, 1)
  // Applies bias and penalties to `logits` in place and picks the token.
  int32_t pick(std::span<float> logits, std::span<const int32_t> history);

  SamplerConfig config_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
  std::unordered_map<int32_t, uint32_t> generated_;  // token -> times returned (penalties only)
};

// Log-softmax of `logits` at `token`, and the `top_n` most likely tokens (lowest id on ties).
SampledLogprobs compute_logprobs(std::span<const float> logits, int32_t token, uint32_t top_n);

// Repetition penalty as in CTRL / HF / llama.cpp: each distinct token among the last `last_n` of
// history has its logit divided by `penalty` when positive, multiplied when negative.
void apply_repeat_penalty(std::span<float> logits, std::span<const int32_t> history, float penalty,
                          uint32_t last_n);

int32_t argmax(std::span<const float> logits);

}  // namespace mlxcel::runtime
