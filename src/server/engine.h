// The narrow interface the server needs from a loaded model: text <-> tokens, chat rendering, a
// fixed pool of sequence slots (the KV cache planned at start: slot_count() sequences of
// slot_context() tokens each), and a batched step that advances every active slot together.
// runtime_engine.cpp adapts the runtime to it; tests use a deterministic double.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/sampler.h"
#include "server/tool_calls.h"

namespace mlxcel::server {

// A request the engine cannot serve because of its content (a chat template's raise_exception, a
// token id outside the vocabulary). The server answers 400 with the message; anything else an
// engine throws is a server failure (500) and never takes the process down.
class InvalidRequest : public std::runtime_error {
 public:
  InvalidRequest(std::string message, std::string param = {})
      : std::runtime_error(std::move(message)), param_(std::move(param)) {}
  const std::string& param() const noexcept { return param_; }

 private:
  std::string param_;
};

struct SamplingParams {
  float temperature = 1.0f;         // <= 0: greedy
  float top_p = 1.0f;               // (0, 1]; 1: off
  uint32_t top_k = 0;               // 0: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // 1: off; over prompt and generated tokens, as vLLM
  float presence_penalty = 0.0f;    // OpenAI's, over generated tokens
  float frequency_penalty = 0.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;  // ids checked against the vocabulary
  bool logprobs = false;            // report each sampled token's log-probability
  uint32_t top_logprobs = 0;        // and this many alternatives
  uint64_t seed = 0;
};

// A rendered conversation. Chat templates usually write the BOS token into the text themselves,
// so whether the tokenizer should add special tokens comes with the text.
struct ChatPrompt {
  std::string text;
  bool add_special = false;
};

struct StepToken {
  uint32_t slot = 0;
  int32_t token = 0;
  std::optional<runtime::SampledLogprobs> logprobs;  // when the request asked for them
};

// KV pool figures for /metrics, in bytes.
struct KvUsage {
  uint64_t total = 0;  // allocated at start for all slots
  uint64_t used = 0;   // holding tokens of active sequences
};

// Threading contract: the scheduler thread alone calls admit/step/release/kv_usage; HTTP worker
// threads call the const functions concurrently, so those must be thread-safe.
class Engine {
 public:
  virtual ~Engine() = default;

  virtual std::string model_id() const = 0;
  virtual uint32_t slot_count() const = 0;
  virtual uint64_t slot_context() const = 0;  // tokens per slot: prompt + generated
  virtual uint64_t vocab_size() const = 0;

  virtual std::vector<int32_t> tokenize(std::string_view text, bool add_special) const = 0;
  // No token of this engine's tokenizer covers more input bytes than this, so a text of n bytes
  // is at least n / max_token_bytes() tokens; 0 when the tokenizer cannot promise a bound (e.g. a
  // normalizer that deletes characters). Lets the server refuse a prompt that cannot fit the
  // context before tokenizing it.
  virtual uint64_t max_token_bytes() const { return 0; }
  // The bytes `token` appends to generated text; may be part of a UTF-8 character (the server
  // joins pieces and only emits whole characters). Empty for control tokens.
  virtual std::string token_bytes(int32_t token) const = 0;
  // EOS / end-of-turn: generation stops and the token's text is not emitted.
  virtual bool is_end_of_generation(int32_t token) const = 0;
  // `messages` is an array of {"role", "content"} objects with string contents (null for an
  // assistant message that only carries "tool_calls"; tool messages have "tool_call_id"), already
  // validated by the server; `tools` the request's function tools or null. The result ends with
  // the assistant generation prompt. Throws InvalidRequest when the template rejects the
  // conversation.
  virtual ChatPrompt render_chat(const nlohmann::json& messages,
                                 const nlohmann::ordered_json& tools) const = 0;
  ChatPrompt render_chat(const nlohmann::json& messages) const { return render_chat(messages, nullptr); }
  // The tool-call syntax the chat template teaches (None: requests with tools are refused).
  virtual ToolFormat tool_format() const { return ToolFormat::None; }

  // Starts a sequence in a free slot. The prompt is non-empty and prompt.size() < slot_context().
  // Prefill may happen here or in the following steps.
  virtual void admit(uint32_t slot, std::span<const int32_t> prompt,
                     const SamplingParams& sampling) = 0;
  // Advances every active slot: a slot whose prompt is processed gets its next sampled token (a
  // slot still prefilling a long prompt in chunks may get none). Must not be called with no
  // active slot. The sampled token is fed to the model on the next step unless released first.
  virtual std::vector<StepToken> step() = 0;
  // Frees the slot at once (its KV rows become reusable); a no-op for a free slot.
  virtual void release(uint32_t slot) = 0;
  virtual KvUsage kv_usage() const = 0;
};

}  // namespace mlxcel::server
