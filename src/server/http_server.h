// The OpenAI-compatible HTTP server over an Engine: routes, authentication, request validation,
// streaming (SSE) and the scheduler that batches the sequences.
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
  uint64_t max_body = 8u << 20;  // request body limit in bytes (413 beyond)
  // How long an idle keep-alive connection stays open; also the longest a graceful stop waits
  // for idle connections (httplib checks for the stop only between requests).
  int keep_alive_seconds = 5;
  // The memory plan the run was admitted with, shown on /metrics beside what the process holds
  // (0: no plan, e.g. test engines; the plan metrics are then left out).
  uint64_t planned_bytes = 0;   // weights + KV + workspace (exact)
  uint64_t estimate_bytes = 0;  // planned + overhead
};

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
