#include "server/sampling.h"

#include <limits>

#include "mlxcel/errors.h"

namespace mlxcel::server {

namespace {

runtime::SamplerConfig sampler_config(const SamplingParams& p) {
  runtime::SamplerConfig c;
  c.temperature = p.temperature;
  c.top_p = p.top_p;
  c.top_k = p.top_k;
  c.min_p = p.min_p;
  c.repeat_penalty = p.repetition_penalty;
  // vLLM and transformers penalize every token of prompt and completion, not a recent window.
  c.repeat_last_n = std::numeric_limits<uint32_t>::max();
  c.presence_penalty = p.presence_penalty;
  c.frequency_penalty = p.frequency_penalty;
  c.logit_bias = p.logit_bias;
  c.top_logprobs = p.logprobs ? p.top_logprobs : 0;
  c.seed = p.seed;
  return c;
}

runtime::Sampler make_sampler(const SamplingParams& p) {
  try {
    return runtime::Sampler(sampler_config(p));
  } catch (const UsageError& e) {
    throw InvalidRequest(e.what());
  }
}

}  // namespace

SequenceSampler::SequenceSampler(const SamplingParams& params, std::span<const int32_t> prompt)
    : sampler_(make_sampler(params)),
      logprobs_(params.logprobs),
      keep_history_(params.repetition_penalty != 1.0f) {
  if (keep_history_) history_.assign(prompt.begin(), prompt.end());
}

StepToken SequenceSampler::sample(uint32_t slot, std::span<float> logits) {
  StepToken out;
  out.slot = slot;
  if (logprobs_) {
    runtime::SampledLogprobs lp;
    out.token = sampler_.sample(logits, history_, &lp);
    out.logprobs = std::move(lp);
  } else {
    out.token = sampler_.sample(logits, history_);
  }
  if (keep_history_) history_.push_back(out.token);
  return out;
}

}  // namespace mlxcel::server
