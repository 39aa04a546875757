// Chat templates: render a model's Jinja chat_template the way Hugging Face transformers'
// apply_chat_template does (sandboxed Jinja with trim_blocks and lstrip_blocks, loop controls,
// json.dumps-style tojson, raise_exception, strftime_now), and find that template next to the
// model. See docs/chat-templates.md for what the interpreter supports.
//
// Errors: a template with bad syntax (or nested deeper than RenderLimits::max_nesting_depth)
// throws mlxcel::FormatError naming line and column; a template that calls raise_exception
// throws templates::TemplateRaised; any other failure while rendering throws
// templates::TemplateRenderError, or its subclass TemplateLimitExceeded when one of the
// RenderLimits (memory, string size, nesting, calls, loop iterations, time, stack) stopped it
// (see templates/errors.h and templates/budget.h).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "templates/errors.h"
#include "templates/interpreter.h"

namespace mlxcel::templates {

// A parsed template, reusable for many renders (parse once per model, render per request).
// Rendering does not modify the Template, so one Template may be rendered from several threads.
class Template {
 public:
  explicit Template(const std::string& source, RenderOptions options = {});
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // The context's top-level keys become template variables. ordered_json keeps object keys in
  // document order, as Python does; with nlohmann::json they come out sorted.
  std::string render(const nlohmann::ordered_json& context) const;
  std::string render(const nlohmann::json& context) const;

  const RenderOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parse and render in one go.
std::string render_chat_template(const std::string& source, const nlohmann::ordered_json& context);
std::string render_chat_template(const std::string& source, const nlohmann::json& context);

// The context transformers passes to a chat template: messages, tools (null when absent),
// documents (null), add_generation_prompt, then the special tokens (bos_token, eos_token, ...)
// and any extra keyword arguments (e.g. enable_thinking), later keys overriding earlier ones.
nlohmann::ordered_json make_chat_context(const nlohmann::ordered_json& messages,
                                         bool add_generation_prompt,
                                         const nlohmann::ordered_json& tools = nullptr,
                                         const nlohmann::ordered_json& special_tokens = {},
                                         const nlohmann::ordered_json& extra = {});

// Where a template came from.
struct ChatTemplateSource {
  std::string source;
  std::string origin;     // file path (plus "#name" for a named entry), or "builtin fallback"
  bool fallback = false;  // true for the builtin fallback format
};

// The model directory's chat template, looked for in this order: chat_template.jinja,
// tokenizer_config.json's "chat_template" (a string, or a list of {"name", "template"} from which
// `name` is taken), chat_template.json's "chat_template". nullopt when there is none.
// Throws FormatError for unreadable JSON, ConfigError when a list lacks `name`.
std::optional<ChatTemplateSource> find_chat_template(const std::filesystem::path& model_dir,
                                                     const std::string& name = "default");

// find_chat_template, or the builtin fallback format when the model has no template.
ChatTemplateSource load_chat_template(const std::filesystem::path& model_dir,
                                      const std::string& name = "default");

// The plain format for models without a template: each message as "Role: content" followed by
// a blank line ("System: ...\n\nUser: ...\n\n"), content parts of type "text" joined by newlines,
// bos_token first when it is a string, and "Assistant:" at the end when add_generation_prompt.
extern const char* const kFallbackChatTemplate;

// bos_token, eos_token, unk_token and pad_token of tokenizer_config.json (falling back to
// special_tokens_map.json), as strings; tokens stored as {"content": ...} objects are unwrapped.
// Missing files or tokens are simply absent from the result.
nlohmann::ordered_json load_special_tokens(const std::filesystem::path& model_dir);

}  // namespace mlxcel::templates
