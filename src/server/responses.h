// The OpenAI response side: completion and chat objects, streamed chunks and SSE framing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/api.h"
#include "server/text_stream.h"
#include "server/tool_calls.h"

namespace mlxcel::server {

struct ResponseMeta {
  Endpoint endpoint = Endpoint::Completions;
  std::string id;       // "cmpl-..." or "chatcmpl-..."
  int64_t created = 0;  // unix seconds
  std::string model;
  bool logprobs = false;  // the request asked for log-probabilities
};

// A fresh response id: the endpoint's prefix and 24 random hex digits.
std::string make_response_id(Endpoint endpoint);

nlohmann::json usage_json(uint64_t prompt_tokens, uint64_t completion_tokens);

// A choice's "logprobs": null unless asked for; chat's {"content": [{token, logprob, bytes,
// top_logprobs}], "refusal": null}, or legacy completions' {tokens, token_logprobs,
// top_logprobs, text_offset}.
nlohmann::json logprobs_json(const ResponseMeta& meta, const std::vector<TokenLogprobs>& tokens);

// The whole (non-streamed) response. With tool calls, the chat message carries "tool_calls" and
// its content is null when no text is left.
nlohmann::json final_response(const ResponseMeta& meta, std::string_view text,
                              const std::vector<TokenLogprobs>& logprobs,
                              std::string_view finish_reason, uint64_t prompt_tokens,
                              uint64_t completion_tokens,
                              const std::vector<ToolCall>& tool_calls = {});

// One streamed chunk: a piece of text and its tokens' logprobs. For chat, `first` adds the
// assistant role to the delta. A non-empty finish_reason ends the choice (empty delta, logprobs
// null). include_usage adds "usage": null, as OpenAI does on every chunk before the usage chunk.
nlohmann::json stream_chunk(const ResponseMeta& meta, const Piece& piece, bool first,
                            std::string_view finish_reason, bool include_usage);
// A streamed tool call, as OpenAI sends it: first {index, id, type, function: {name, arguments:
// ""}}, then {index, function: {arguments}}. `logprobs` are those of the tokens that became the
// call (on the first chunk; null when not asked for).
std::vector<nlohmann::json> tool_call_chunks(const ResponseMeta& meta, const ToolCall& call,
                                             uint32_t index,
                                             const std::vector<TokenLogprobs>& logprobs,
                                             bool include_usage);
// The SSE events for what a streamed reply's tool-call parser released: a content chunk, then
// each call's chunks (numbered from next_index on). `held` holds the logprobs of tokens whose text
// has not left yet; they go with the first chunk and the vector is emptied. Nothing released:
// no events and `held` stays.
std::string tool_parser_events(const ResponseMeta& meta, ToolCallParser::Output released,
                               std::vector<TokenLogprobs>& held, uint32_t& next_index,
                               bool include_usage);
// The last chunk when stream_options.include_usage is set: empty choices and the usage.
nlohmann::json usage_chunk(const ResponseMeta& meta, uint64_t prompt_tokens,
                           uint64_t completion_tokens);

// "data: <json>\n\n"; invalid UTF-8 (never produced by the server) would become U+FFFD.
std::string sse_event(const nlohmann::json& data);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// Compact JSON, invalid UTF-8 replaced rather than thrown on.
std::string dump_json(const nlohmann::json& j);

}  // namespace mlxcel::server
