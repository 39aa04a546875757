#include "runtime/generate.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "mlxcel/errors.h"

namespace mlxcel::runtime {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<int32_t> stop_tokens(const Model& model, const Tokenizer& tokenizer) {
  std::vector<int32_t> out;
  const nlohmann::json& cfg = model.spec().config;
  if (auto it = cfg.find("eos_token_id"); it != cfg.end()) {
    if (it->is_number_integer()) out.push_back(it->get<int32_t>());
    if (it->is_array()) {
      for (const auto& v : *it) {
        if (v.is_number_integer()) out.push_back(v.get<int32_t>());
      }
    }
  }
  if (auto e = tokenizer.eos_id()) out.push_back(*e);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

GenerateResult generate(Model& model, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                        const GenerateOptions& options, const std::function<void(std::string_view)>& on_text) {
  if (prompt.empty()) throw UsageError("generate", "the prompt has no tokens (prompt, 0)");
  if (prompt.size() > model.context()) {
    throw UsageError("generate", fmt::format("prompt longer than the context (--ctx-size, {}: prompt has {} tokens)",
                                             model.context(), prompt.size()));
  }
  if (options.cached > 0 && (options.cached >= prompt.size() || model.length(options.seq) != options.cached)) {
    throw UsageError("generate", fmt::format("cached prefix does not match the sequence (cached, {}: prompt {}, "
                                             "sequence holds {})",
                                             options.cached, prompt.size(), model.length(options.seq)));
  }
  std::vector<int32_t> stops = options.stop_at_eos ? stop_tokens(model, tokenizer) : std::vector<int32_t>{};
  if (options.stop_at_eos) stops.insert(stops.end(), options.extra_stops.begin(), options.extra_stops.end());
  Sampler sampler(options.sampler);
  // The prompt is the decoder's context, so the first generated piece keeps its leading space.
  StreamDecoder stream = tokenizer.stream_decoder({.skip_special = true}, prompt);
  GenerateResult res;
  res.prompt_tokens = prompt.size() - options.cached;
  std::vector<int32_t> history(prompt.begin(), prompt.end());

  if (options.cached == 0) model.reset(options.seq);
  auto t0 = std::chrono::steady_clock::now();
  std::span<float> out = model.prefill(options.seq, prompt.subspan(options.cached));
  res.prompt_seconds = seconds_since(t0);

  auto t1 = std::chrono::steady_clock::now();
  while (res.tokens.size() < options.max_tokens) {
    const int32_t next = sampler.sample(out, history);
    if (std::find(stops.begin(), stops.end(), next) != stops.end()) {
      res.stopped_at_eos = true;
      break;
    }
    res.tokens.push_back(next);
    history.push_back(next);
    if (on_text) {
      std::string piece = stream.push(next);
      if (!piece.empty()) on_text(piece);
    }
    if (res.tokens.size() == options.max_tokens) break;
    if (model.length(options.seq) >= model.context()) {
      res.stopped_at_context = true;
      break;
    }
    const DecodeRow row{options.seq, next};
    out = model.decode(std::span<const DecodeRow>(&row, 1));
    res.decode_steps++;
  }
  res.decode_seconds = seconds_since(t1);
  if (on_text) {
    std::string rest = stream.flush();
    if (!rest.empty()) on_text(rest);
  }
  return res;
}

}  // namespace mlxcel::runtime
