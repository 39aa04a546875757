// The generation loop: prefill the prompt, then sample and decode one token at a time, streaming
// text through a callback; timings for prompt and decode throughput.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "runtime/model.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace mlxcel::runtime {

struct GenerateOptions {
  SamplerConfig sampler;
  uint64_t max_tokens = 256;
  bool stop_at_eos = true;
  uint32_t seq = 0;  // KV slot of the model to use (reset first, unless `cached`)
  // The first `cached` prompt ids are already sequence `seq`'s (model.length(seq) == cached, and
  // cached < prompt.size()): only the rest is prefilled. A chat's earlier turns.
  uint64_t cached = 0;
  std::vector<int32_t> extra_stops;  // end-of-turn ids beyond the model's EOS
};

struct GenerateResult {
  std::vector<int32_t> tokens;    // generated ids (without the prompt)
  uint64_t prompt_tokens = 0;     // prompt ids prefilled (those not already cached)
  double prompt_seconds = 0;      // prefill of the prompt, up to its last token's logits
  uint64_t decode_steps = 0;      // single-token forward passes after the prompt
  double decode_seconds = 0;
  bool stopped_at_eos = false;
  bool stopped_at_context = false;  // the context filled before max_tokens were generated
};

// Token ids that end generation: the config's eos_token_id (a number or a list) and the
// tokenizer's EOS.
std::vector<int32_t> stop_tokens(const Model& model, const Tokenizer& tokenizer);

// Runs the prompt (at least one id) and generates up to max_tokens more (never past the
// context: the loop ends when the context is full). on_text receives each newly decodable piece
// of text (complete UTF-8) as it is produced, and the held remainder at the end.
GenerateResult generate(Model& model, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                        const GenerateOptions& options, const std::function<void(std::string_view)>& on_text);

}  // namespace mlxcel::runtime
