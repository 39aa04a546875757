#include "test_engine.h"

#include <algorithm>
#include <stdexcept>
#include <thread>

namespace mlxcel::server::test {

TestEngine::TestEngine(TestEngineOptions options)
    : options_(options),
      kv_pool_(allocate(uint64_t{options.slots} * options.context * options.kv_bytes_per_token,
                        "test.kv_pool", Init::Zero)),
      seqs_(options.slots) {}

std::vector<int32_t> TestEngine::tokenize(std::string_view text, bool add_special) const {
  tokenized_bytes_ += text.size();
  std::vector<int32_t> ids;
  if (add_special) ids.push_back(kBos);
  for (unsigned char c : text) ids.push_back(c);
  return ids;
}

std::string TestEngine::token_bytes(int32_t token) const {
  if (token >= 0 && token < 256) return std::string(1, static_cast<char>(token));
  return {};
}

ChatPrompt TestEngine::render_chat(const nlohmann::json& messages,
                                   const nlohmann::ordered_json& tools) const {
  ChatPrompt p;
  p.add_special = true;
  if (tools.is_array()) {
    p.text += "<|tools|>";
    for (const auto& t : tools) p.text += t["function"]["name"].get<std::string>() + ",";
    p.text += "\n";
  }
  for (const auto& m : messages) {
    const std::string content = m.at("content").is_null() ? "" : m["content"].get<std::string>();
    if (content == "RAISE") throw InvalidRequest("Conversation roles must alternate");
    p.text += "<|" + m.at("role").get<std::string>() + "|>";
    if (m.contains("tool_call_id")) p.text += "[" + m["tool_call_id"].get<std::string>() + "]";
    p.text += content;
    if (m.contains("tool_calls")) {
      for (const auto& c : m["tool_calls"]) {
        p.text += "[call " + c["function"]["name"].get<std::string>() + " " +
                  c["function"]["arguments"].get<std::string>() + "]";
      }
    }
    p.text += "\n";
  }
  p.text += "<|assistant|>";
  return p;
}

void TestEngine::admit(uint32_t slot, std::span<const int32_t> prompt,
                       const SamplingParams& sampling) {
  Sequence& s = seqs_.at(slot);
  if (s.active) throw std::logic_error("admit into a busy slot");
  auto sampler = std::make_unique<SequenceSampler>(sampling, prompt);
  s = Sequence{};
  s.sampler = std::move(sampler);
  s.active = true;
  s.prompt.assign(prompt.begin(), prompt.end());
  std::string text;
  for (int32_t t : prompt) {
    if (t < 256) text += static_cast<char>(t);
  }
  if (auto at = text.rfind("say:"); at != std::string::npos) {
    s.scripted = true;
    s.script = text.substr(at + 4);
    if (auto nl = s.script.find('\n'); nl != std::string::npos) s.script.resize(nl);
  }
  s.fail = text.find("fail:step") != std::string::npos;
  s.flat = text.find("flat:") != std::string::npos;
  s.cycle_start = sampling.temperature > 0 ? sampling.seed % 10 : 0;
  s.scratch = allocate(4096, "test.sequence_scratch");
  {
    std::lock_guard lock(mutex_);
    last_sampling_ = sampling;
  }
  ++active_;
  ++admitted_;
}

std::vector<StepToken> TestEngine::step() {
  ++steps_;
  if (options_.step_delay.count() > 0) std::this_thread::sleep_for(options_.step_delay);
  std::vector<StepToken> out;
  uint32_t batch = 0;
  uint64_t kv = 0;
  for (uint32_t i = 0; i < seqs_.size(); ++i) {
    Sequence& s = seqs_[i];
    if (!s.active) continue;
    ++batch;
    if (s.fail) throw std::runtime_error("injected step failure");
    if (s.prefilled < s.prompt.size()) {
      s.prefilled = std::min<uint64_t>(s.prompt.size(), s.prefilled + options_.prefill_chunk);
      if (s.prefilled < s.prompt.size()) {
        kv += s.prefilled;
        continue;  // still prefilling: no token this step
      }
    }
    std::vector<float> logits(vocab_size(), 0.0f);
    if (s.flat) {
      std::fill(logits.begin(), logits.end(), -30.0f);
      for (int32_t k = 0; k < 10; ++k) logits['a' + k] = 1.0f - 0.1f * static_cast<float>(k);
    } else {
      int32_t want;
      if (s.scripted) {
        want = s.emitted < s.script.size() ? static_cast<unsigned char>(s.script[s.emitted]) : kEos;
      } else {
        want = 'a' + static_cast<int32_t>((s.cycle_start + s.emitted) % 10);
      }
      logits[static_cast<size_t>(want)] = 80.0f;
    }
    ++s.emitted;
    kv += s.prefilled + s.emitted;
    out.push_back(s.sampler->sample(i, logits));
  }
  kv_tokens_ = kv;
  uint32_t prev = max_batch_.load();
  while (batch > prev && !max_batch_.compare_exchange_weak(prev, batch)) {
  }
  return out;
}

void TestEngine::release(uint32_t slot) {
  Sequence& s = seqs_.at(slot);
  if (!s.active) return;
  s = Sequence{};
  --active_;
  if (active_ == 0) kv_tokens_ = 0;
}

KvUsage TestEngine::kv_usage() const {
  return {kv_pool_.size(), std::min(kv_pool_.size(), kv_tokens_ * options_.kv_bytes_per_token)};
}

SamplingParams TestEngine::last_sampling() const {
  std::lock_guard lock(mutex_);
  return last_sampling_;
}

}  // namespace mlxcel::server::test
