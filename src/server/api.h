// The OpenAI request side: strict parsing and validation of /v1/completions and
// /v1/chat/completions bodies, and the error type every handler answers with
// ({"error": {"message", "type", "param", "code"}} and an HTTP status).
// Field policy (docs/server.md): fields we implement are checked for type and range; a few that
// clients send with neutral defaults (n, response_format, echo, ...) are accepted only with that
// neutral value; informational ones (user, store, metadata) are type-checked
// and ignored; any other field is rejected with 400 naming it, so that a request never silently
// does something other than what it asked for.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/engine.h"

namespace mlxcel::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string code = {}, std::string param = {});
  int status() const noexcept { return status_; }
  const std::string& code() const noexcept { return code_; }
  const std::string& param() const noexcept { return param_; }
  // "invalid_request_error" for 4xx, "authentication_error" for 401, "server_error" for 5xx.
  std::string type() const;
  nlohmann::json to_json() const;

 private:
  int status_;
  std::string code_;
  std::string param_;
};

enum class Endpoint { Completions, ChatCompletions };

// tool_choice: Auto (the default with tools), None (tools are not shown to the model), Required
// and Named (the reply is started as a call; docs/server.md "Tool calls").
enum class ToolChoice { Auto, None, Required, Named };

struct ParsedRequest {
  Endpoint endpoint = Endpoint::Completions;
  std::string model;  // as sent; the server answers with its own model id
  bool stream = false;
  bool include_usage = false;
  std::optional<uint64_t> max_tokens;  // max_tokens or max_completion_tokens
  std::string max_tokens_field;        // which of the two was given (for messages)
  // seed is random when seed_given is false; logit_bias ids are not yet checked against the
  // vocabulary (the caller knows it)
  SamplingParams sampling;
  bool seed_given = false;
  std::vector<std::string> stop;
  // chat: validated messages, each {"role", "content"(string)[, "name"]}; "developer" -> "system";
  // assistant messages may carry "tool_calls" (content then null when absent), tool messages
  // "tool_call_id"
  nlohmann::json messages = nlohmann::json::array();
  // chat: the validated function tools in the client's key order (null when none were given)
  nlohmann::ordered_json tools;
  std::vector<std::string> tool_names;
  ToolChoice tool_choice = ToolChoice::Auto;
  std::string tool_choice_name;  // Named
  bool parallel_tool_calls = true;
  // completions: the prompt as text or as token ids (exactly one is set)
  std::optional<std::string> prompt_text;
  std::vector<int64_t> prompt_ids;
};

// Throws ApiError (400) naming the field for malformed JSON, wrong types, out-of-range values,
// unknown fields and missing required fields.
ParsedRequest parse_request(std::string_view body, Endpoint endpoint);

}  // namespace mlxcel::server
