#include "server/responses.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "core/utf8.h"

namespace mlxcel::server {

using nlohmann::json;

std::string make_response_id(Endpoint endpoint) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = endpoint == Endpoint::ChatCompletions ? "chatcmpl-" : "cmpl-";
  for (int i = 0; i < 24; ++i) id += kHex[rng() & 15];
  return id;
}

json usage_json(uint64_t prompt_tokens, uint64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

namespace {

json envelope(const ResponseMeta& meta, bool chunk) {
  const bool chat = meta.endpoint == Endpoint::ChatCompletions;
  json j = json::object();
  j["id"] = meta.id;
  j["object"] = chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  j["created"] = meta.created;
  j["model"] = meta.model;
  return j;
}

json finish_json(std::string_view finish_reason) {
  return finish_reason.empty() ? json(nullptr) : json(std::string(finish_reason));
}

// The float's shortest decimal form as the JSON number (not its double widening,
// -0.10000000149011612); -inf, which JSON cannot carry, as -9999 as OpenAI reports it.
json logprob_number(float lp) {
  if (!std::isfinite(lp)) return -9999.0;
  return std::strtod(fmt::format("{}", lp).c_str(), nullptr);
}

json byte_values(const std::string& bytes) {
  json out = json::array();
  for (unsigned char c : bytes) out.push_back(static_cast<int>(c));
  return out;
}

json chat_token(const TokenText& t) {
  return {{"token", utf8_lossy(t.bytes)},
          {"logprob", logprob_number(t.logprob)},
          {"bytes", byte_values(t.bytes)}};
}

}  // namespace

json logprobs_json(const ResponseMeta& meta, const std::vector<TokenLogprobs>& tokens) {
  if (!meta.logprobs) return nullptr;
  if (meta.endpoint == Endpoint::ChatCompletions) {
    json content = json::array();
    for (const TokenLogprobs& t : tokens) {
      json entry = chat_token(t.chosen);
      json top = json::array();
      for (const TokenText& alt : t.top) top.push_back(chat_token(alt));
      entry["top_logprobs"] = std::move(top);
      content.push_back(std::move(entry));
    }
    return {{"content", std::move(content)}, {"refusal", nullptr}};
  }
  // Legacy: the sampled token always appears among its top_logprobs (up to logprobs + 1 keys).
  json tokens_j = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  for (const TokenLogprobs& t : tokens) {
    const std::string text = utf8_lossy(t.chosen.bytes);
    tokens_j.push_back(text);
    lps.push_back(logprob_number(t.chosen.logprob));
    json top = json::object();
    for (const TokenText& alt : t.top) top[utf8_lossy(alt.bytes)] = logprob_number(alt.logprob);
    if (!top.contains(text)) top[text] = logprob_number(t.chosen.logprob);
    tops.push_back(std::move(top));
    offsets.push_back(t.text_offset);
  }
  return {{"tokens", std::move(tokens_j)},
          {"token_logprobs", std::move(lps)},
          {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offsets)}};
}

json final_response(const ResponseMeta& meta, std::string_view text,
                    const std::vector<TokenLogprobs>& logprobs, std::string_view finish_reason,
                    uint64_t prompt_tokens, uint64_t completion_tokens,
                    const std::vector<ToolCall>& tool_calls) {
  json j = envelope(meta, false);
  json choice = {{"index", 0}};
  if (meta.endpoint == Endpoint::ChatCompletions) {
    json message = {{"role", "assistant"}};
    message["content"] =
        tool_calls.empty() || !text.empty() ? json(std::string(text)) : json(nullptr);
    if (!tool_calls.empty()) {
      json calls = json::array();
      for (const ToolCall& c : tool_calls) {
        calls.push_back({{"id", c.id},
                         {"type", "function"},
                         {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
      }
      message["tool_calls"] = std::move(calls);
    }
    choice["message"] = std::move(message);
  } else {
    choice["text"] = std::string(text);
  }
  choice["logprobs"] = logprobs_json(meta, logprobs);
  choice["finish_reason"] = finish_json(finish_reason);
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(prompt_tokens, completion_tokens);
  return j;
}

json stream_chunk(const ResponseMeta& meta, const Piece& piece, bool first,
                  std::string_view finish_reason, bool include_usage) {
  json j = envelope(meta, true);
  json choice = {{"index", 0}};
  if (meta.endpoint == Endpoint::ChatCompletions) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (finish_reason.empty() || !piece.text.empty()) delta["content"] = piece.text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = piece.text;
  }
  // The role-only first chunk and the finishing chunk carry no tokens.
  const bool has_tokens = !piece.logprobs.empty() || (!piece.text.empty() && finish_reason.empty());
  choice["logprobs"] = has_tokens ? logprobs_json(meta, piece.logprobs) : json(nullptr);
  choice["finish_reason"] = finish_json(finish_reason);
  j["choices"] = json::array({choice});
  if (include_usage) j["usage"] = nullptr;
  return j;
}

std::vector<json> tool_call_chunks(const ResponseMeta& meta, const ToolCall& call, uint32_t index,
                                   const std::vector<TokenLogprobs>& logprobs,
                                   bool include_usage) {
  auto chunk = [&](json call_delta, json lp) {
    json j = envelope(meta, true);
    json choice = {{"index", 0},
                   {"delta", {{"tool_calls", json::array({std::move(call_delta)})}}},
                   {"logprobs", std::move(lp)},
                   {"finish_reason", nullptr}};
    j["choices"] = json::array({std::move(choice)});
    if (include_usage) j["usage"] = nullptr;
    return j;
  };
  std::vector<json> out;
  out.push_back(chunk({{"index", index},
                       {"id", call.id},
                       {"type", "function"},
                       {"function", {{"name", call.name}, {"arguments", ""}}}},
                      logprobs.empty() ? json(nullptr) : logprobs_json(meta, logprobs)));
  out.push_back(chunk({{"index", index}, {"function", {{"arguments", call.arguments}}}}, nullptr));
  return out;
}

std::string tool_parser_events(const ResponseMeta& meta, ToolCallParser::Output released,
                               std::vector<TokenLogprobs>& held, uint32_t& next_index,
                               bool include_usage) {
  std::string events;
  if (!released.content.empty()) {
    Piece piece{std::move(released.content), std::move(held)};
    held.clear();
    events += sse_event(stream_chunk(meta, piece, false, "", include_usage));
  }
  for (const ToolCall& call : released.calls) {
    for (const json& c : tool_call_chunks(meta, call, next_index, held, include_usage)) {
      events += sse_event(c);
    }
    held.clear();
    ++next_index;
  }
  return events;
}

json usage_chunk(const ResponseMeta& meta, uint64_t prompt_tokens, uint64_t completion_tokens) {
  json j = envelope(meta, true);
  j["choices"] = json::array();
  j["usage"] = usage_json(prompt_tokens, completion_tokens);
  return j;
}

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string sse_event(const json& data) { return "data: " + dump_json(data) + "\n\n"; }

}  // namespace mlxcel::server
