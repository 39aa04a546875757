// One sequence's sampler, shared by the engines so that the real runtime and the test engine
// apply a request's sampling fields identically: a runtime::Sampler configured from
// SamplingParams, plus the token history the repetition penalty looks at.
#pragma once

#include <span>
#include <vector>

#include "runtime/sampler.h"
#include "server/engine.h"

namespace mlxcel::server {

class SequenceSampler {
 public:
  // Throws InvalidRequest for parameters the sampler refuses.
  SequenceSampler(const SamplingParams& params, std::span<const int32_t> prompt);

  // Samples the slot's next token from `logits` (modified in place), with log-probabilities when
  // the request asked for them, and records it in the history.
  StepToken sample(uint32_t slot, std::span<float> logits);

 private:
  runtime::Sampler sampler_;
  bool logprobs_ = false;
  bool keep_history_ = false;     // only the repetition penalty reads it
  std::vector<int32_t> history_;  // prompt then generated tokens
};

}  // namespace mlxcel::server
