#include "server/http_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <random>

#include "mlxcel/errors.h"
#include "mlxcel/estimate.h"
#include "mlxcel/memory.h"
#include "server/api.h"
#include "server/http_session.h"
#include "server/metrics.h"
#include "server/responses.h"
#include "server/scheduler.h"

namespace mlxcel::server {

using nlohmann::json;

namespace {

const char* const kGetRoutes[] = {"/health", "/metrics", "/v1/models"};
const char* const kPostRoutes[] = {"/v1/completions", "/v1/chat/completions"};

bool is_get_route(const std::string& path) {
  for (const char* r : kGetRoutes) {
    if (path == r) return true;
  }
  return path.rfind("/v1/models/", 0) == 0;
}

bool is_post_route(const std::string& path) {
  for (const char* r : kPostRoutes) {
    if (path == r) return true;
  }
  return false;
}

// Bounded label values for mlxcel_requests_total.
std::string route_label(const std::string& path) {
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  if (is_get_route(path) || is_post_route(path)) return path;
  return "other";
}

// The key's length is not treated as secret; its bytes are compared in constant time.
bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

uint64_t random_seed() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace


struct HttpServer::Impl final : Router {
  Engine& engine;
  ServerOptions options;
  Scheduler scheduler;
  RequestCounters counters;
  const int64_t started = unix_now();
  std::atomic<bool> stopping{false};
  Transport transport;

  Impl(Engine& e, ServerOptions o)
      : engine(e), options(std::move(o)), scheduler(e, options.queue_size),
        transport(*this, limits(options, e), kIoThreads, kPreparationThreads) {}

  static TransportLimits limits(const ServerOptions& o, const Engine& e) {
    TransportLimits l;
    l.max_body = o.max_body;
    l.header_timeout = std::chrono::seconds(o.header_timeout_seconds);
    l.body_timeout = std::chrono::seconds(o.body_timeout_seconds);
    l.keep_alive = std::chrono::seconds(o.keep_alive_seconds);
    l.max_connections = o.max_connections;
    l.body_budget = o.max_body * request_bodies_in_flight(o.bodies_in_flight, e.slot_count());
    return l;
  }

  bool authorized(const RequestHead& head) const {
    if (options.api_key.empty()) return true;
    constexpr std::string_view kBearer = "Bearer ";
    const std::string& header = head.authorization;
    if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) {
      return false;
    }
    return constant_time_equal(std::string_view(header).substr(kBearer.size()), options.api_key);
  }

  // Decided from the header alone, before a byte of the body is read.
  std::optional<HttpReply> check_head(const RequestHead& head) override {
    const bool known_get = is_get_route(head.path);
    const bool known_post = is_post_route(head.path);
    const bool needs_auth = head.path != "/health";
    if ((known_get || known_post) && needs_auth && !authorized(head)) {
      HttpReply r = error_reply(ApiError(
          401,
          head.has_authorization ? "invalid API key in the Authorization header"
                                 : "missing API key: send \"Authorization: Bearer <key>\"",
          "invalid_api_key"));
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    }
    if ((known_get && head.method == "GET") || (known_post && head.method == "POST")) {
      return std::nullopt;
    }
    if (known_get || known_post) {
      HttpReply r = error_reply(ApiError(405,
                                         "method " + head.method + " is not allowed on " + head.path,
                                         "method_not_allowed"));
      r.headers.emplace_back("Allow", known_get ? "GET" : "POST");
      return r;
    }
    return error_reply(ApiError(404, "unknown route " + head.method + " " + head.path, "not_found"));
  }

  std::variant<HttpReply, GenerationReply> handle(const RequestHead& head,
                                                   std::string body) override {
    try {
      if (head.path == "/health") return health();
      if (head.path == "/metrics") return metrics();
      if (head.path == "/v1/models") return models();
      if (head.path.rfind("/v1/models/", 0) == 0) {
        return model(head.path.substr(std::string_view("/v1/models/").size()));
      }
      const Endpoint endpoint =
          head.path == "/v1/completions" ? Endpoint::Completions : Endpoint::ChatCompletions;
      try {
        return generate(body, endpoint);
      } catch (const ApiError& e) {
        if (e.code() != "server_overloaded") throw;
        HttpReply r = error_reply(e);
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
    } catch (const MemoryLimitExceeded& e) {
      spdlog::error("[server] {} {}: {}", head.method, head.path, e.what());
      return error_reply(ApiError(503, e.what(), "memory_limit_exceeded"));
    }
  }

  void record(const std::string& path, int status) override {
    counters.record(route_label(path), status);
    spdlog::debug("[server] {} {}", path, status);
  }

  HttpReply health() {
    if (stopping) return HttpReply{503, "application/json", R"({"status":"shutting down"})", {}};
    const SchedulerStats s = scheduler.stats();
    json j = {{"status", "ok"},
              {"model", engine.model_id()},
              {"sequences", s.slots},
              {"sequences_active", s.active},
              {"requests_queued", s.queued},
              {"ctx_size", engine.slot_context()}};
    return HttpReply{200, "application/json", dump_json(j), {}};
  }

  HttpReply metrics() {
    MetricsSnapshot m;
    m.memory = memory_stats();
    m.scheduler = scheduler.stats();
    m.requests = counters.requests();
    m.refused_queue_full = counters.refusals(Refusal::QueueFull);
    m.refused_context = counters.refusals(Refusal::ContextTooLong);
    m.planned_bytes = options.planned_bytes;
    m.estimate_bytes = options.estimate_bytes;
    m.connections = transport.connections();
    try {
      m.process = process_memory();
    } catch (const IoError&) {
      // no /proc: the process metrics are left out
    }
    return HttpReply{200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(m), {}};
  }

  json model_json() const {
    return {{"id", engine.model_id()},
            {"object", "model"},
            {"created", started},
            {"owned_by", "mlxcel"}};
  }

  HttpReply models() {
    json j = {{"object", "list"}, {"data", json::array({model_json()})}};
    return HttpReply{200, "application/json", dump_json(j), {}};
  }

  HttpReply model(const std::string& id) {
    if (id != engine.model_id()) {
      throw ApiError(404, "the model '" + id + "' does not exist (this server serves '" +
                              engine.model_id() + "')",
                     "model_not_found", "model");
    }
    return HttpReply{200, "application/json", dump_json(model_json()), {}};
  }

  // A text of this many bytes cannot be fewer tokens than this (0: the tokenizer gives no bound),
  // so a prompt that cannot fit the context is refused before it is rendered or tokenized.
  void refuse_if_surely_too_long(uint64_t text_bytes, const char* param) {
    const uint64_t per_token = engine.max_token_bytes();
    if (per_token == 0) return;
    const uint64_t at_least = (text_bytes + per_token - 1) / per_token;
    const uint64_t context = engine.slot_context();
    if (at_least < context) return;
    counters.refuse(Refusal::ContextTooLong);
    throw ApiError(400,
                   fmt::format("the prompt has {} bytes, so at least {} tokens (no token of this "
                               "model covers more than {} bytes), but a sequence holds {} tokens "
                               "(--ctx-size)",
                               text_bytes, at_least, per_token, context),
                   "context_length_exceeded", param);
  }

  // The tool-call reading of a chat request, or nullopt (no tools, or tool_choice "none").
  std::optional<ToolReply> tool_reply(const ParsedRequest& p) {
    if (p.tool_names.empty() || p.tool_choice == ToolChoice::None) return std::nullopt;
    const ToolFormat format = engine.tool_format();
    if (format == ToolFormat::None) {
      throw ApiError(400,
                     "this model's chat template has no tool-call syntax the server can read "
                     "(Hermes/Qwen <tool_call>, Llama 3.x JSON, Mistral [TOOL_CALLS]); send the "
                     "request without 'tools' or with \"tool_choice\": \"none\"",
                     "unsupported_value", "tools");
    }
    ToolReply r;
    r.format = format;
    r.options.names = p.tool_choice == ToolChoice::Named
                          ? std::vector<std::string>{p.tool_choice_name}
                          : p.tool_names;
    r.options.single = !p.parallel_tool_calls;
    r.prefix = tool_call_prefix(format, p.tool_choice_name, p.tool_choice == ToolChoice::Required);
    return r;
  }

  std::vector<int32_t> prompt_tokens(const ParsedRequest& p, const std::optional<ToolReply>& tools) {
    if (p.endpoint == Endpoint::ChatCompletions) {
      ChatPrompt chat;
      try {
        // tool_choice "none": the model is not shown the tools (the conversation may still hold
        // earlier calls and results).
        chat = engine.render_chat(p.messages, tools ? p.tools : nlohmann::ordered_json());
        if (tools) chat.text += tools->prefix;
      } catch (const InvalidRequest& e) {
        throw ApiError(400, std::string("the chat template rejected the messages: ") + e.what(),
                       "invalid_messages", e.param().empty() ? "messages" : e.param());
      }
      // On the rendered text, not the messages: a template may drop or cut what it is given.
      refuse_if_surely_too_long(chat.text.size(), "messages");
      return engine.tokenize(chat.text, chat.add_special);
    }
    if (p.prompt_text) {
      refuse_if_surely_too_long(p.prompt_text->size(), "prompt");
      return engine.tokenize(*p.prompt_text, true);
    }
    std::vector<int32_t> ids;
    const uint64_t vocab = engine.vocab_size();
    for (size_t i = 0; i < p.prompt_ids.size(); ++i) {
      const int64_t id = p.prompt_ids[i];
      if (id < 0 || static_cast<uint64_t>(id) >= vocab) {
        throw ApiError(400,
                       "prompt[" + std::to_string(i) + "]: token id " + std::to_string(id) +
                           " is outside the vocabulary (0.." + std::to_string(vocab - 1) + ")",
                       "invalid_value", "prompt");
      }
      ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
  }

  // Before the prompt is rendered or tokenized: the ids are the request's own mistake.
  void check_logit_bias(const SamplingParams& sampling) const {
    const uint64_t vocab = engine.vocab_size();
    for (const auto& [id, bias] : sampling.logit_bias) {
      if (id < 0 || static_cast<uint64_t>(id) >= vocab) {
        throw ApiError(400,
                       fmt::format("'logit_bias' names token id {}, outside the vocabulary "
                                   "(0..{})",
                                   id, vocab - 1),
                       "invalid_value", "logit_bias");
      }
    }
  }

  GenerationReply generate(const std::string& body, Endpoint endpoint) {
    ParsedRequest p = parse_request(body, endpoint);
    check_logit_bias(p.sampling);
    const char* prompt_param = endpoint == Endpoint::ChatCompletions ? "messages" : "prompt";
    const uint64_t context = engine.slot_context();
    // Token ids are counted before they are checked one by one.
    auto refuse_if_no_room = [&](uint64_t n) {
      if (n < context) return;
      counters.refuse(Refusal::ContextTooLong);
      throw ApiError(400,
                     fmt::format("the prompt has {} tokens but a sequence holds {} tokens "
                                 "(--ctx-size), leaving no room to generate",
                                 n, context),
                     "context_length_exceeded", prompt_param);
    };
    refuse_if_no_room(p.prompt_ids.size());
    std::optional<ToolReply> tools = tool_reply(p);
    GenerationRequest g;
    g.prompt = prompt_tokens(p, tools);
    const uint64_t n = g.prompt.size();
    if (n == 0) throw ApiError(400, "the prompt is empty (no tokens)", "invalid_value", prompt_param);
    refuse_if_no_room(n);
    g.max_tokens = p.max_tokens.value_or(context - n);
    if (g.max_tokens > context - n) {
      counters.refuse(Refusal::ContextTooLong);
      throw ApiError(400,
                     "prompt (" + std::to_string(n) + " tokens) + " + p.max_tokens_field + " (" +
                         std::to_string(g.max_tokens) + ") = " + std::to_string(n + g.max_tokens) +
                         " tokens exceeds the context of a sequence (" +
                         std::to_string(context) + " tokens, --ctx-size); at most " +
                         std::to_string(context - n) + " can be generated for this prompt",
                     "context_length_exceeded", p.max_tokens_field);
    }
    g.sampling = p.sampling;
    if (!p.seed_given) g.sampling.seed = random_seed();
    g.stop = p.stop;

    GenerationReply out;
    try {
      out.gen = scheduler.submit(std::move(g));
    } catch (const Overloaded& e) {
      counters.refuse(Refusal::QueueFull);
      throw ApiError(503, e.what(), "server_overloaded");
    } catch (const InvalidRequest& e) {
      throw ApiError(400, e.what(), "invalid_value");
    }
    out.meta = ResponseMeta{endpoint, make_response_id(endpoint), unix_now(), engine.model_id(),
                            p.sampling.logprobs};
    out.stream = p.stream;
    out.include_usage = p.include_usage;
    out.tools = std::move(tools);
    return out;
  }
};

HttpServer::HttpServer(Engine& engine, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  return impl_->transport.bind(impl_->options.host, impl_->options.port);
}

void HttpServer::serve() { impl_->transport.run(); }

void HttpServer::stop() {
  impl_->stopping = true;
  impl_->scheduler.shutdown();
  impl_->transport.stop();
}

}  // namespace mlxcel::server
