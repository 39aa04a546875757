// The Engine over the real runtime: a Model loaded with RunConfig{context, sequences} (so its KV
// cache holds every slot from the start, as the memory plan says), the model's tokenizer and chat
// template. A step decodes every generating slot in one batched forward pass and advances each
// slot still reading its prompt by one prefill chunk.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mlxcel/estimate.h"
#include "mlxcel/model_spec.h"
#include "runtime/model.h"
#include "server/engine.h"
#include "server/sampling.h"
#include "templates/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace mlxcel::server {

class RuntimeEngine : public Engine {
 public:
  // Loads the tokenizer and chat template from the model's directory, then the model with
  // options.run.sequences slots of options.run.context tokens. `model_id` is what /v1/models
  // reports. Throws what Model::load and the loaders throw (IoError, FormatError,
  // MemoryLimitExceeded, ...).
  RuntimeEngine(const ModelSpec& spec, const runtime::LoadOptions& options, std::string model_id);
  ~RuntimeEngine() override;

  std::string model_id() const override { return model_id_; }
  uint32_t slot_count() const override;
  uint64_t slot_context() const override;
  uint64_t vocab_size() const override;
  std::vector<int32_t> tokenize(std::string_view text, bool add_special) const override;
  uint64_t max_token_bytes() const override { return tokenizer_.max_token_bytes(); }
  std::string token_bytes(int32_t token) const override;
  bool is_end_of_generation(int32_t token) const override;
  using Engine::render_chat;
  ChatPrompt render_chat(const nlohmann::json& messages,
                         const nlohmann::ordered_json& tools) const override;
  ToolFormat tool_format() const override { return tool_format_; }

  void admit(uint32_t slot, std::span<const int32_t> prompt,
             const SamplingParams& sampling) override;
  std::vector<StepToken> step() override;
  void release(uint32_t slot) override;
  KvUsage kv_usage() const override;

  const runtime::Model& model() const { return *model_; }
  const templates::ChatTemplateSource& chat_template() const { return template_source_; }

 private:
  struct Slot {
    bool active = false;
    std::vector<int32_t> prompt;
    uint64_t prefilled = 0;      // prompt tokens already run
    bool has_next = false;       // a sampled token waits to be fed
    int32_t next = 0;
    std::unique_ptr<SequenceSampler> sampler;
  };

  std::string model_id_;
  Tokenizer tokenizer_;
  templates::ChatTemplateSource template_source_;
  std::unique_ptr<templates::Template> template_;
  nlohmann::ordered_json special_tokens_;
  std::unique_ptr<runtime::Model> model_;
  std::vector<int32_t> stops_;
  ToolFormat tool_format_ = ToolFormat::None;
  std::vector<int32_t> tool_markers_;  // special tokens whose text the tool-call parser reads
  std::vector<Slot> slots_;
  uint64_t prefill_chunk_ = 512;
};

}  // namespace mlxcel::server
