// Fuzzes the OpenAI request side of the server: parse_request(body, endpoint) for both
// /v1/completions and /v1/chat/completions on every input (JSON syntax, field types and ranges,
// unknown fields, messages, prompt as text or token ids, stop, stream_options, sampling).
// A successful parse is checked against what src/server/api.h promises.
//
// Later: the HTTP transport (src/server/http_server, being rewritten) gets its request parser
// fuzzed here too -- an input that starts with an HTTP method ("POST ", "GET ") goes through the
// HTTP parser and its body through fuzz_body(); until then every input is a body.
// Seeds: fuzz/corpus/openai_request_fuzz (requests in the shapes the OpenAI clients send, and
// regressions). -max_len 65536.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "mlxcel/errors.h"
#include "server/api.h"
#include "server/responses.h"

using mlxcel::fuzz::broken_promise;
using mlxcel::server::Endpoint;

namespace {

void fuzz_body(std::string_view body, Endpoint endpoint) {
  mlxcel::server::ParsedRequest r;
  try {
    r = mlxcel::server::parse_request(body, endpoint);
  } catch (const mlxcel::server::ApiError& e) {
    if (mlxcel::fuzz::verbose()) {
      std::fprintf(stderr, "%s: ", endpoint == Endpoint::Completions ? "completions" : "chat");
    }
    mlxcel::fuzz::refused(e);
    if (e.status() < 400 || e.status() > 599) broken_promise("ApiError with a non-error status");
    (void)mlxcel::server::dump_json(e.to_json());  // as the server sends it
    return;
  }
  if (r.endpoint != endpoint) broken_promise("endpoint changed");
  if (endpoint == Endpoint::Completions) {
    if (r.prompt_text.has_value() == !r.prompt_ids.empty()) {
      broken_promise("completions request without exactly one prompt form");
    }
  } else {
    if (!r.messages.is_array() || r.messages.empty()) broken_promise("chat request without messages");
    for (const auto& m : r.messages) {
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
          !m["content"].is_string()) {
        broken_promise("message is not {role, content(string)}");
      }
      const std::string role = m["role"].get<std::string>();
      if (role != "system" && role != "user" && role != "assistant") broken_promise("role " + role);
    }
    (void)r.messages.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  }
  if (r.max_tokens && r.max_tokens_field.empty()) broken_promise("max_tokens without its field name");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  fuzz_body(in, Endpoint::Completions);
  fuzz_body(in, Endpoint::ChatCompletions);
  return 0;
}
