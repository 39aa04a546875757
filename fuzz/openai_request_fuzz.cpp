// Fuzzes the request side of the server. An input that starts with an HTTP method ("POST ",
// "GET ", ...) is a whole HTTP request: it goes through the server's two Beast parsers with the
// server's limits (http_parsers.h; header, then body, chunked included), and a body that the
// server would accept goes on as below, to the endpoint its target names. Any other input is a
// body: parse_request(body, endpoint) for both /v1/completions and /v1/chat/completions (JSON
// syntax, field types and ranges, unknown fields, messages, prompt as text or token ids, stop,
// stream_options, sampling). What is accepted is checked against what the server and
// src/server/api.h promise.
// Seeds: fuzz/corpus/openai_request_fuzz (requests in the shapes the OpenAI clients send, as
// bodies and as HTTP requests, and regressions). -max_len 32768.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "mlxcel/errors.h"
#include "server/api.h"
#include "server/http_parsers.h"
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

bool is_http_request(std::string_view in) {
  for (std::string_view m : {"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS "}) {
    if (in.substr(0, m.size()) == m) return true;
  }
  return false;
}

// As the transport reads a request: the header alone, the server's checks on it, then the body.
void fuzz_http(std::string_view in) {
  namespace http = boost::beast::http;
  mlxcel::server::TransportLimits limits;
  limits.max_header_bytes = 4096;  // small, so that inputs reach the limits
  limits.max_body = 8192;
  boost::beast::error_code ec;
  mlxcel::server::HeadParser head;
  mlxcel::server::limit_head_parser(head, limits);
  head.eager(false);
  const size_t used = head.put(boost::asio::buffer(in.data(), in.size()), ec);
  if (ec || !head.is_header_done()) return;  // 400 / 431, or still waiting for the header
  const auto declared = head.content_length();
  if (declared && *declared > limits.max_body) return;  // 413 before the body is read
  const bool chunked = head.chunked();
  const std::string target(head.get().target());
  mlxcel::server::BodyParser body(std::move(head));
  mlxcel::server::limit_body_parser(body, limits, chunked);
  body.eager(true);
  std::string_view rest = in.substr(used);
  while (!body.is_done() && !rest.empty()) {
    const size_t n = body.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    if (ec == http::error::need_more) return;
    if (ec) {
      if (ec == http::error::body_limit && !chunked) broken_promise("body limit hit past the header check");
      return;  // 413 / 400
    }
    if (n == 0) return;
    rest.remove_prefix(n);
  }
  if (!body.is_done()) return;
  const std::string& b = body.get().body();
  if (b.size() > limits.max_body) broken_promise("a body past --max-body was accepted");
  if (declared && b.size() != *declared) broken_promise("the body is not its Content-Length");
  const std::string path = target.substr(0, target.find('?'));
  if (path == "/v1/completions") fuzz_body(b, Endpoint::Completions);
  if (path == "/v1/chat/completions") fuzz_body(b, Endpoint::ChatCompletions);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (is_http_request(in)) {
    fuzz_http(in);
    return 0;
  }
  fuzz_body(in, Endpoint::Completions);
  fuzz_body(in, Endpoint::ChatCompletions);
  return 0;
}
