// A conversation for `generate --chat`: the model's chat template renders the whole history
// each turn, and the tokens already in the KV cache are reused up to where the new rendering
// differs from them (templates are mostly append-only, so usually all of them).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "templates/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace mlxcel::runtime {

class ChatSession {
 public:
  // The template of the model directory (chat_template.jinja, tokenizer_config.json,
  // chat_template.json) or the plain fallback format; `system` (may be empty) opens the history.
  ChatSession(const std::filesystem::path& model_dir, const Tokenizer& tokenizer, const std::string& system);

  bool uses_fallback() const { return source_.fallback; }
  const std::string& template_origin() const { return source_.origin; }

  // Appends the user's message and returns the ids of the whole conversation rendered with the
  // generation prompt (special tokens parsed, no BOS added: templates write their own).
  std::vector<int32_t> prompt_after_user(const std::string& text);
  // Appends the assistant's reply (the decoded text it generated).
  void add_assistant(const std::string& text);

  // End-of-turn ids the template's special tokens name (eos_token, e.g. <|im_end|>, <|eot_id|>)
  // when the tokenizer has them as single tokens; the model's EOS ids come on top.
  std::vector<int32_t> end_of_turn_tokens() const;

 private:
  const Tokenizer& tokenizer_;
  templates::ChatTemplateSource source_;
  templates::Template template_;
  nlohmann::ordered_json special_tokens_;
  nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
};

// How many leading ids of `cached` are also the leading ids of `next` (the KV cache can keep
// exactly those).
uint64_t common_prefix(std::span<const int32_t> cached, std::span<const int32_t> next);

}  // namespace mlxcel::runtime
