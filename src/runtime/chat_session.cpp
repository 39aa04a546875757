#include "runtime/chat_session.h"

#include <algorithm>

namespace mlxcel::runtime {

ChatSession::ChatSession(const std::filesystem::path& model_dir, const Tokenizer& tokenizer,
                         const std::string& system)
    : tokenizer_(tokenizer),
      source_(templates::load_chat_template(model_dir)),
      template_(source_.source),
      special_tokens_(templates::load_special_tokens(model_dir)) {
  if (!system.empty()) messages_.push_back({{"role", "system"}, {"content", system}});
}

std::vector<int32_t> ChatSession::prompt_after_user(const std::string& text) {
  messages_.push_back({{"role", "user"}, {"content", text}});
  const std::string rendered =
      template_.render(templates::make_chat_context(messages_, true, nullptr, special_tokens_));
  return tokenizer_.encode(rendered, EncodeOptions{.add_special = false, .parse_special = true});
}

void ChatSession::add_assistant(const std::string& text) {
  messages_.push_back({{"role", "assistant"}, {"content", text}});
}

std::vector<int32_t> ChatSession::end_of_turn_tokens() const {
  std::vector<int32_t> out;
  if (auto it = special_tokens_.find("eos_token"); it != special_tokens_.end() && it->is_string()) {
    if (auto id = tokenizer_.token_to_id(it->get<std::string>())) out.push_back(*id);
  }
  return out;
}

uint64_t common_prefix(std::span<const int32_t> cached, std::span<const int32_t> next) {
  const auto [a, b] = std::mismatch(cached.begin(), cached.end(), next.begin(), next.end());
  return static_cast<uint64_t>(a - cached.begin());
}

}  // namespace mlxcel::runtime
