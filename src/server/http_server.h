// The OpenAI-compatible HTTP server over an Engine: routes, authentication, request validation,
// streaming (SSE) and the scheduler that batches the sequences. The transport underneath
// (http_session.h, Boost.Beast) is asynchronous: threads do not scale with clients.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "server/engine.h"

namespace mlxcel::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;               // 0: any free port (tests)
  std::string api_key;           // non-empty: "Authorization: Bearer <key>" required
  uint32_t queue_size = 16;      // requests that may wait for a free sequence before 503
  uint64_t max_body = 1u << 20;  // request body limit in bytes (413 beyond)
  // How long an idle keep-alive connection waits for its next request.
  int keep_alive_seconds = 5;
  // Total time a client has to send a request's header, and then its body (not per byte: a
  // client trickling one byte a second is cut off all the same).
  int header_timeout_seconds = 10;
  int body_timeout_seconds = 30;
  // Open connections; one more is answered 503 and closed.
  uint32_t max_connections = 256;
  // Request bodies read at once, as a multiple of max_body: the bound on what bodies in flight
  // hold (0: the default, the planned sequences + 2).
  uint32_t bodies_in_flight = 0;
  // The memory plan the run was admitted with, shown on /metrics beside what the process holds
  // (0: no plan, e.g. test engines; the plan metrics are then left out).
  uint64_t planned_bytes = 0;   // weights + KV + workspace (exact)
  uint64_t estimate_bytes = 0;  // planned + overhead
};

// Threads that parse, render and tokenize requests (and threads that read and write sockets).
// Request bodies read at once are mlxcel::request_bodies_in_flight(bodies_in_flight, slots) (a
// chunked body counts as max_body); with these, they bound the server's request memory, which
// the plan counts (ServerPlan).
inline constexpr unsigned kPreparationThreads = 2;
inline constexpr unsigned kIoThreads = 2;

class HttpServer {
 public:
  HttpServer(Engine& engine, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket and returns the port. Throws IoError when it cannot.
  int bind();
  // Serves until stop(); returns after in-flight requests ended.
  void serve();
  // Thread-safe and idempotent: ends every generation (streams get an error event), stops
  // accepting, and lets serve() return.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxcel::server
