#include "server/runtime_engine.h"

#include <algorithm>
#include <filesystem>

#include "core/json_input.h"
#include "mlxcel/errors.h"
#include "runtime/generate.h"

namespace mlxcel::server {

namespace {

std::filesystem::path model_dir(const ModelSpec& spec) {
  std::filesystem::path root(spec.root);
  return std::filesystem::is_directory(root) ? root : root.parent_path();
}

}  // namespace

RuntimeEngine::RuntimeEngine(const ModelSpec& spec, const runtime::LoadOptions& options,
                             std::string model_id)
    : model_id_(std::move(model_id)),
      tokenizer_(Tokenizer::from_path(spec.root)),
      template_source_(templates::load_chat_template(model_dir(spec))),
      template_(std::make_unique<templates::Template>(template_source_.source)),
      special_tokens_(templates::load_special_tokens(model_dir(spec))),
      prefill_chunk_(options.run.prefill_chunk) {
  model_ = runtime::Model::load(spec, options);
  stops_ = runtime::stop_tokens(*model_, tokenizer_);
  tool_format_ = detect_tool_format(template_source_.fallback ? "" : template_source_.source);
  for (const std::string& marker : tool_marker_texts(tool_format_)) {
    if (auto id = tokenizer_.token_to_id(marker); id && tokenizer_.is_special(*id)) {
      tool_markers_.push_back(*id);
    }
  }
  slots_.resize(model_->sequences());
}

RuntimeEngine::~RuntimeEngine() = default;

uint32_t RuntimeEngine::slot_count() const { return static_cast<uint32_t>(slots_.size()); }
uint64_t RuntimeEngine::slot_context() const { return model_->context(); }
uint64_t RuntimeEngine::vocab_size() const { return model_->vocab_size(); }

std::vector<int32_t> RuntimeEngine::tokenize(std::string_view text, bool add_special) const {
  return tokenizer_.encode(text, EncodeOptions{.add_special = add_special, .parse_special = true});
}

std::string RuntimeEngine::token_bytes(int32_t token) const {
  // Control tokens (BOS, chat markers) are not text, as with skip_special in decode; but the
  // markers of the template's tool-call syntax ([TOOL_CALLS], <|python_tag|>) are kept so that
  // the reply can be parsed into calls.
  if (tokenizer_.is_special(token)) {
    if (std::find(tool_markers_.begin(), tool_markers_.end(), token) != tool_markers_.end()) {
      return tokenizer_.id_to_token(token);
    }
    return {};
  }
  return tokenizer_.token_to_piece(token);
}

bool RuntimeEngine::is_end_of_generation(int32_t token) const {
  return std::find(stops_.begin(), stops_.end(), token) != stops_.end();
}

namespace {

// An assistant message's tool_calls as templates expect them: arguments as a mapping when the
// JSON text is an object (vLLM does the same; templates print them with tojson), else the text.
nlohmann::ordered_json template_tool_calls(const nlohmann::json& calls) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& c : calls) {
    const std::string& text = c.at("function").at("arguments").get_ref<const std::string&>();
    nlohmann::ordered_json args = text;
    std::string why;
    if (auto parsed = try_parse_json<nlohmann::ordered_json>(text, &why); parsed && parsed->is_object()) {
      args = std::move(*parsed);
    }
    nlohmann::ordered_json f;
    f["name"] = c["function"]["name"];
    f["arguments"] = std::move(args);
    nlohmann::ordered_json oc;
    oc["id"] = c["id"];
    oc["type"] = "function";
    oc["function"] = std::move(f);
    out.push_back(std::move(oc));
  }
  return out;
}

}  // namespace

ChatPrompt RuntimeEngine::render_chat(const nlohmann::json& messages,
                                      const nlohmann::ordered_json& tools) const {
  // Role and content first, as the client wrote them (templates that dump messages see them so).
  nlohmann::ordered_json ordered = nlohmann::ordered_json::array();
  for (const auto& m : messages) {
    nlohmann::ordered_json om;
    om["role"] = m.at("role");
    om["content"] = m.at("content");
    if (m.contains("name")) om["name"] = m["name"];
    if (m.contains("tool_calls")) om["tool_calls"] = template_tool_calls(m["tool_calls"]);
    if (m.contains("tool_call_id")) om["tool_call_id"] = m["tool_call_id"];
    ordered.push_back(std::move(om));
  }
  try {
    // Templates write BOS themselves (the fallback too), so the text is tokenized without
    // special tokens, as transformers' apply_chat_template does.
    return ChatPrompt{template_->render(
                          templates::make_chat_context(ordered, true, tools, special_tokens_)),
                      false};
  } catch (const templates::TemplateRaised& e) {
    throw InvalidRequest(e.template_message(), "messages");
  } catch (const templates::TemplateRenderError& e) {
    // A render that fails on this conversation (a budget such as max_memory_bytes, a type error
    // in the template) is the request's problem, a 400, never a server failure.
    throw InvalidRequest(e.what(), "messages");
  }
}

void RuntimeEngine::admit(uint32_t slot, std::span<const int32_t> prompt,
                          const SamplingParams& sampling) {
  auto sampler = std::make_unique<SequenceSampler>(sampling, prompt);  // throws before the reset
  Slot& s = slots_.at(slot);
  model_->reset(slot);
  s = Slot{};
  s.active = true;
  s.prompt.assign(prompt.begin(), prompt.end());
  s.sampler = std::move(sampler);
}

std::vector<StepToken> RuntimeEngine::step() {
  std::vector<StepToken> out;
  // Every slot that has a token to feed decodes in one batched forward pass.
  std::vector<runtime::DecodeRow> rows;
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].active && slots_[s].has_next) rows.push_back({s, slots_[s].next});
  }
  if (!rows.empty()) {
    std::span<float> logits = model_->decode(rows);
    const uint64_t vocab = model_->vocab_size();
    for (size_t r = 0; r < rows.size(); ++r) {
      Slot& slot = slots_[rows[r].seq];
      out.push_back(slot.sampler->sample(rows[r].seq, logits.subspan(r * vocab, vocab)));
      slot.next = out.back().token;
    }
  }
  // Slots reading their prompt advance one chunk each; the last chunk yields the first token.
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    Slot& slot = slots_[s];
    if (!slot.active || slot.prefilled >= slot.prompt.size()) continue;
    const uint64_t n = std::min<uint64_t>(prefill_chunk_, slot.prompt.size() - slot.prefilled);
    std::span<float> logits =
        model_->prefill(s, std::span<const int32_t>(slot.prompt).subspan(slot.prefilled, n));
    slot.prefilled += n;
    if (slot.prefilled == slot.prompt.size()) {
      out.push_back(slot.sampler->sample(s, logits));
      slot.next = out.back().token;
      slot.has_next = true;
    }
  }
  return out;
}

void RuntimeEngine::release(uint32_t slot) {
  Slot& s = slots_.at(slot);
  if (!s.active) return;
  model_->reset(slot);
  s = Slot{};
}

KvUsage RuntimeEngine::kv_usage() const {
  const KvPlan& kv = model_->plan().kv;
  KvUsage usage;
  usage.total = kv.total;
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (!slots_[s].active) continue;
    const uint64_t length = model_->length(s);
    for (const KvLayerPlan& layer : kv.layers) {
      usage.used += layer.bytes_per_token * std::min(length, layer.tokens_kept);
      usage.used += layer.state_bytes;  // constant per sequence
    }
  }
  usage.used = std::min(usage.used, usage.total);
  return usage;
}

}  // namespace mlxcel::server
