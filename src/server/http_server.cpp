#include "server/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <thread>

#include "mlxcel/errors.h"
#include "mlxcel/memory.h"
#include "server/api.h"
#include "server/client_socket.h"
#include "server/metrics.h"
#include "server/responses.h"
#include "server/scheduler.h"

namespace mlxcel::server {

using nlohmann::json;

namespace {

constexpr auto kWaitSlice = std::chrono::milliseconds(250);
// While a stream has nothing to send (queued behind busy sequences), an SSE comment goes out this
// often: a write to a vanished client fails, which frees its place at once.
constexpr auto kKeepAliveInterval = std::chrono::seconds(1);

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

std::string status_text(int status) {
  switch (status) {
    case 400:
      return "malformed HTTP request (request line, method or headers)";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 413:
      return "the request body is larger than the server's limit (--max-body)";
    case 414:
      return "the request URI is too long";
    case 416:
      return "range not satisfiable";
    case 431:
      return "request header fields too large";
    case 503:
      return "service unavailable";
    default:
      return status >= 500 ? "internal server error" : "bad request";
  }
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

// Without the socket a non-streamed request cannot be cancelled; say so once, not per request.
void warn_no_client_socket(const httplib::Request& req) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return;
  spdlog::warn("[server] cannot find the socket of a connection ({}:{} -> {}:{}); requests that "
               "are not streamed run to their end when their client disconnects",
               req.remote_addr, req.remote_port, req.local_addr, req.local_port);
}

void write_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status();
  res.set_content(dump_json(e.to_json()), "application/json");
}

// What a streamed response keeps between calls of the content provider.
struct StreamState {
  std::shared_ptr<Generation> gen;
  ResponseMeta meta;
  bool include_usage = false;
  bool first = true;
  std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
};

}  // namespace

struct HttpServer::Impl {
  Engine& engine;
  ServerOptions options;
  Scheduler scheduler;
  RequestCounters counters;
  httplib::Server http;
  const int64_t started = unix_now();
  std::atomic<bool> stopping{false};
  std::atomic<bool> serving{false};

  Impl(Engine& e, ServerOptions o)
      : engine(e), options(std::move(o)), scheduler(e, options.queue_size) {
    setup();
  }

  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  bool authorized(const httplib::Request& req) const {
    if (options.api_key.empty()) return true;
    const std::string header = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) {
      return false;
    }
    return constant_time_equal(std::string_view(header).substr(kBearer.size()), options.api_key);
  }

  // Every handler runs inside this: authentication, and errors turned into OpenAI error JSON
  // (nothing a request does can take the process down).
  httplib::Server::Handler guarded(Handler handler, bool needs_auth = true) {
    return [this, handler = std::move(handler), needs_auth](const httplib::Request& req,
                                                            httplib::Response& res) {
      try {
        if (needs_auth && !authorized(req)) {
          res.set_header("WWW-Authenticate", "Bearer");
          throw ApiError(401,
                         req.has_header("Authorization")
                             ? "invalid API key in the Authorization header"
                             : "missing API key: send \"Authorization: Bearer <key>\"",
                         "invalid_api_key");
        }
        handler(req, res);
      } catch (const ApiError& e) {
        write_error(res, e);
      } catch (const MemoryLimitExceeded& e) {
        spdlog::error("[server] {} {}: {}", req.method, req.path, e.what());
        write_error(res, ApiError(503, e.what(), "memory_limit_exceeded"));
      } catch (const std::exception& e) {
        spdlog::error("[server] {} {}: {}", req.method, req.path, e.what());
        write_error(res, ApiError(500, std::string("internal error: ") + e.what(),
                                  "internal_error"));
      }
    };
  }

  void setup() {
    const uint64_t threads =
        std::max<uint64_t>(8, uint64_t{engine.slot_count()} + options.queue_size + 4);
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(options.max_body);
    http.set_keep_alive_max_count(100);
    http.set_keep_alive_timeout(options.keep_alive_seconds);

    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      counters.record(route_label(req.path), res.status);
      spdlog::debug("[server] {} {} {}", req.method, req.path, res.status);
    });
    // Statuses httplib sets itself (413 body too large, 400 unparsable HTTP, 404 no route) get
    // the OpenAI error shape too.
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty() || res.content_provider_) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      std::string message = status_text(res.status);
      std::string code;
      if (res.status == 413) {
        code = "request_too_large";
      } else if (res.status == 400) {
        code = "invalid_http";
      } else if (res.status == 404) {
        message = "unknown route " + req.method + " " + req.path;
        code = "not_found";
      }
      write_error(res, ApiError(res.status, message, code));
      return httplib::Server::HandlerResponse::Handled;
    }));

    http.Get("/health", guarded([this](const auto&, auto& res) { health(res); }, false));
    http.Get("/metrics", guarded([this](const auto&, auto& res) { metrics(res); }));
    http.Get("/v1/models", guarded([this](const auto&, auto& res) { models(res); }));
    http.Get("/v1/models/(.+)", guarded([this](const auto& req, auto& res) { model(req, res); }));
    http.Post("/v1/completions", guarded([this](const auto& req, auto& res) {
                generate(req, res, Endpoint::Completions);
              }));
    http.Post("/v1/chat/completions", guarded([this](const auto& req, auto& res) {
                generate(req, res, Endpoint::ChatCompletions);
              }));
    // Anything else: 405 on a known path with the wrong method, 404 otherwise.
    auto fallback = guarded([](const httplib::Request& req, httplib::Response& res) {
      if (is_get_route(req.path) || is_post_route(req.path)) {
        res.set_header("Allow", is_get_route(req.path) ? "GET" : "POST");
        throw ApiError(405, "method " + req.method + " is not allowed on " + req.path,
                       "method_not_allowed");
      }
      throw ApiError(404, "unknown route " + req.method + " " + req.path, "not_found");
    });
    http.Get(".*", fallback);
    http.Post(".*", fallback);
    http.Put(".*", fallback);
    http.Patch(".*", fallback);
    http.Delete(".*", fallback);
    http.Options(".*", fallback);
  }

  void health(httplib::Response& res) {
    if (stopping) {
      res.status = 503;
      res.set_content(R"({"status":"shutting down"})", "application/json");
      return;
    }
    const SchedulerStats s = scheduler.stats();
    json j = {{"status", "ok"},
              {"model", engine.model_id()},
              {"sequences", s.slots},
              {"sequences_active", s.active},
              {"requests_queued", s.queued},
              {"ctx_size", engine.slot_context()}};
    res.set_content(dump_json(j), "application/json");
  }

  void metrics(httplib::Response& res) {
    MetricsSnapshot m;
    m.memory = memory_stats();
    m.scheduler = scheduler.stats();
    m.requests = counters.requests();
    m.refused_queue_full = counters.refusals(Refusal::QueueFull);
    m.refused_context = counters.refusals(Refusal::ContextTooLong);
    m.planned_bytes = options.planned_bytes;
    m.estimate_bytes = options.estimate_bytes;
    try {
      m.process = process_memory();
    } catch (const IoError&) {
      // no /proc: the process metrics are left out
    }
    res.set_content(render_metrics(m), "text/plain; version=0.0.4; charset=utf-8");
  }

  json model_json() const {
    return {{"id", engine.model_id()},
            {"object", "model"},
            {"created", started},
            {"owned_by", "mlxcel"}};
  }

  void models(httplib::Response& res) {
    json j = {{"object", "list"}, {"data", json::array({model_json()})}};
    res.set_content(dump_json(j), "application/json");
  }

  void model(const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches.size() > 1 ? std::string(req.matches[1]) : "";
    if (id != engine.model_id()) {
      throw ApiError(404, "the model '" + id + "' does not exist (this server serves '" +
                              engine.model_id() + "')",
                     "model_not_found", "model");
    }
    res.set_content(dump_json(model_json()), "application/json");
  }

  std::vector<int32_t> prompt_tokens(const ParsedRequest& p) const {
    if (p.endpoint == Endpoint::ChatCompletions) {
      ChatPrompt chat;
      try {
        chat = engine.render_chat(p.messages);
      } catch (const InvalidRequest& e) {
        throw ApiError(400, std::string("the chat template rejected the messages: ") + e.what(),
                       "invalid_messages", e.param().empty() ? "messages" : e.param());
      }
      return engine.tokenize(chat.text, chat.add_special);
    }
    if (p.prompt_text) return engine.tokenize(*p.prompt_text, true);
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

  void generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
    ParsedRequest p = parse_request(req.body, endpoint);
    GenerationRequest g;
    g.prompt = prompt_tokens(p);
    const uint64_t context = engine.slot_context();
    const uint64_t n = g.prompt.size();
    if (n == 0) {
      throw ApiError(400, "the prompt is empty (no tokens)", "invalid_value",
                     endpoint == Endpoint::ChatCompletions ? "messages" : "prompt");
    }
    if (n >= context) {
      counters.refuse(Refusal::ContextTooLong);
      throw ApiError(400,
                     "the prompt has " + std::to_string(n) + " tokens but a sequence holds " +
                         std::to_string(context) +
                         " tokens (--ctx-size), leaving no room to generate",
                     "context_length_exceeded",
                     endpoint == Endpoint::ChatCompletions ? "messages" : "prompt");
    }
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

    std::shared_ptr<Generation> gen;
    try {
      gen = scheduler.submit(std::move(g));
    } catch (const Overloaded& e) {
      counters.refuse(Refusal::QueueFull);
      res.set_header("Retry-After", "1");
      throw ApiError(503, e.what(), "server_overloaded");
    } catch (const InvalidRequest& e) {
      throw ApiError(400, e.what(), "invalid_value");
    }

    ResponseMeta meta{endpoint, make_response_id(endpoint), unix_now(), engine.model_id()};
    if (!p.stream) {
      // Nothing is written until the answer is complete, so a client that left is noticed by
      // looking at its socket between tokens; its sequence is then freed at the next step.
      const std::optional<ClientSocket> client =
          ClientSocket::find(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
      if (!client) warn_no_client_socket(req);
      std::string text;
      for (;;) {
        Generation::Update u = gen->wait(kWaitSlice);
        text += u.text;
        if (!u.finished) {
          if (client && client->closed()) {
            gen->cancel();
            spdlog::debug("[server] {} {}: the client closed the connection; generation cancelled "
                          "after {} tokens",
                          req.method, req.path, u.completion_tokens);
            // Nobody reads it; the status shows in mlxcel_requests_total (499, as nginx logs it).
            throw ApiError(499, "the client closed the connection before the answer was ready",
                           "client_closed_request");
          }
          continue;
        }
        if (u.reason == FinishReason::Error) {
          throw ApiError(u.error_status, u.error,
                         u.error_status == 503 ? "server_shutting_down" : "generation_failed");
        }
        res.set_content(dump_json(final_response(meta, text, finish_reason_name(u.reason),
                                                 gen->prompt_tokens(), u.completion_tokens)),
                        "application/json");
        return;
      }
    }

    auto state = std::make_shared<StreamState>();
    state->gen = gen;
    state->meta = meta;
    state->include_usage = p.include_usage;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [state](size_t, httplib::DataSink& sink) { return stream_step(*state, sink); },
        // Runs when the response ends for any reason: a client that went away frees its slot.
        [state](bool) { state->gen->cancel(); });
  }

  // One call of the content provider: waits a little for text, writes what came. Returning false
  // (a failed write: the client is gone) makes httplib drop the connection.
  static bool stream_step(StreamState& s, httplib::DataSink& sink) {
    auto write = [&](const std::string& data) {
      if (!sink.write(data.data(), data.size())) {
        s.gen->cancel();
        return false;
      }
      s.last_write = std::chrono::steady_clock::now();
      return true;
    };
    const bool chat = s.meta.endpoint == Endpoint::ChatCompletions;
    if (s.first && chat) {
      // The role goes first, as OpenAI streams it, so clients see the reply start at once.
      if (!write(sse_event(stream_chunk(s.meta, "", true, "", s.include_usage)))) return false;
      s.first = false;
    }
    Generation::Update u = s.gen->wait(kWaitSlice);
    if (!u.text.empty()) {
      if (!write(sse_event(stream_chunk(s.meta, u.text, s.first, "", s.include_usage)))) {
        return false;
      }
      s.first = false;
    }
    if (u.finished) {
      if (u.reason == FinishReason::Error) {
        ApiError e(u.error_status, u.error,
                   u.error_status == 503 ? "server_shutting_down" : "generation_failed");
        write(sse_event(e.to_json()));
        sink.done();
        return true;
      }
      if (!write(sse_event(stream_chunk(s.meta, "", s.first, finish_reason_name(u.reason),
                                        s.include_usage)))) {
        return false;
      }
      if (s.include_usage &&
          !write(sse_event(usage_chunk(s.meta, s.gen->prompt_tokens(), u.completion_tokens)))) {
        return false;
      }
      if (!write(std::string(kSseDone))) return false;
      sink.done();
      return true;
    }
    if (std::chrono::steady_clock::now() - s.last_write >= kKeepAliveInterval) {
      return write(": keep-alive\n\n");
    }
    return true;
  }
};

HttpServer::HttpServer(Engine& engine, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  const auto& o = impl_->options;
  if (o.port == 0) {
    const int port = impl_->http.bind_to_any_port(o.host);
    if (port <= 0) throw IoError("server", "cannot bind to any port on " + o.host);
    return port;
  }
  if (!impl_->http.bind_to_port(o.host, o.port)) {
    throw IoError("server", "cannot bind to " + o.host + ":" + std::to_string(o.port) +
                                " (address in use, or not a local address)");
  }
  return o.port;
}

void HttpServer::serve() {
  // serving is set before stopping is read, and stop() does the reverse, so one of the two sees
  // the other and a stop racing with the start is never lost.
  impl_->serving = true;
  if (impl_->stopping) {
    impl_->serving = false;
    return;
  }
  impl_->http.listen_after_bind();
  impl_->serving = false;
}

void HttpServer::stop() {
  impl_->stopping = true;
  impl_->scheduler.shutdown();
  // httplib ignores stop() until listen has started; wait for that so a stop is never lost.
  for (int i = 0; i < 400 && impl_->serving && !impl_->http.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  impl_->http.stop();
}

}  // namespace mlxcel::server
