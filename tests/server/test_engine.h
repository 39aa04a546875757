// A deterministic stand-in for a model, so the HTTP layer and the scheduler can be tested exactly.
// Tokens are bytes (id = byte value), plus EOS = 256 and BOS = 257. What it generates:
// - after the last "say:" in the prompt, the bytes up to the next '\n' (or the end), then EOS;
// - otherwise "abcdefghij" repeated forever, starting at seed % 10 when temperature > 0.
// It does so through logits and the server's real sampler (SequenceSampler): the token it wants
// has logit 80 and every other 0, so no temperature strays from it but a logit_bias of +100 on
// another token wins. "flat:" in the prompt gives instead logits 1.0, 0.9, ..., 0.1 to 'a'..'j'
// and -30 to every other token (EOS included), for penalties, top-k and min-p.
// "fail:step" in the prompt makes the step throw. Prompts are prefilled `prefill_chunk` tokens per
// step; each step sleeps `step_delay`. KV and per-sequence buffers come from the accounting
// allocator, so memory tests see them.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mlxcel/memory.h"
#include "server/engine.h"
#include "server/sampling.h"

namespace mlxcel::server::test {

struct TestEngineOptions {
  uint32_t slots = 2;
  uint64_t context = 64;
  uint64_t prefill_chunk = 1000;
  std::chrono::milliseconds step_delay{0};
  uint64_t kv_bytes_per_token = 64;
  uint64_t max_token_bytes = 0;  // what max_token_bytes() reports (tokens are single bytes)
  ToolFormat tool_format = ToolFormat::Hermes;  // what tool_format() reports
};

class TestEngine : public Engine {
 public:
  static constexpr int32_t kEos = 256;
  static constexpr int32_t kBos = 257;

  explicit TestEngine(TestEngineOptions options = {});

  std::string model_id() const override { return "test-model"; }
  uint32_t slot_count() const override { return options_.slots; }
  uint64_t slot_context() const override { return options_.context; }
  uint64_t vocab_size() const override { return 258; }
  std::vector<int32_t> tokenize(std::string_view text, bool add_special) const override;
  uint64_t max_token_bytes() const override { return options_.max_token_bytes; }
  std::string token_bytes(int32_t token) const override;
  bool is_end_of_generation(int32_t token) const override { return token == kEos; }
  // "<|tools|>name,name\n" when tools are given, "<|role|>content\n" per message (a tool_calls
  // message adds "[call name args]" per call, a tool message starts with "[id]"), then "<|assistant|>"; a
  // message "RAISE" is rejected like a template's raise_exception.
  using Engine::render_chat;
  ChatPrompt render_chat(const nlohmann::json& messages,
                         const nlohmann::ordered_json& tools) const override;
  ToolFormat tool_format() const override { return options_.tool_format; }

  void admit(uint32_t slot, std::span<const int32_t> prompt,
             const SamplingParams& sampling) override;
  std::vector<StepToken> step() override;
  void release(uint32_t slot) override;
  KvUsage kv_usage() const override;

  // Observations for tests (any thread).
  uint32_t active_slots() const { return active_.load(); }
  uint32_t max_batch() const { return max_batch_.load(); }  // most sequences in one step
  uint64_t admitted() const { return admitted_.load(); }
  uint64_t steps() const { return steps_.load(); }
  uint64_t tokenized_bytes() const { return tokenized_bytes_.load(); }  // text seen by tokenize
  SamplingParams last_sampling() const;

 private:
  struct Sequence {
    bool active = false;
    std::vector<int32_t> prompt;
    uint64_t prefilled = 0;
    std::string script;  // bytes to emit, then EOS; empty: cycle
    bool scripted = false;
    uint64_t emitted = 0;
    uint64_t cycle_start = 0;
    bool fail = false;
    bool flat = false;
    std::unique_ptr<SequenceSampler> sampler;
    Buffer scratch;  // per-sequence allocation, freed on release
  };

  TestEngineOptions options_;
  Buffer kv_pool_;
  std::vector<Sequence> seqs_;
  std::atomic<uint32_t> active_{0};
  std::atomic<uint32_t> max_batch_{0};
  std::atomic<uint64_t> admitted_{0};
  std::atomic<uint64_t> steps_{0};
  mutable std::atomic<uint64_t> tokenized_bytes_{0};
  std::atomic<uint64_t> kv_tokens_{0};
  mutable std::mutex mutex_;
  SamplingParams last_sampling_;
};

}  // namespace mlxcel::server::test
