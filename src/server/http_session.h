// The HTTP transport (Boost.Beast on Asio): one asynchronous session per connection, so a slow or
// silent client holds a socket and a few kilobytes, never a thread. Each request is read in two
// steps, header then body, with a total deadline for each; the router sees the header first, so
// authentication, routing and the size limit are decided before a body byte is read. Responses
// are written in request order (pipelined requests wait in the read buffer). A generation is
// pumped by notifications from the scheduler, never by a waiting thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "server/api.h"
#include "server/responses.h"
#include "server/scheduler.h"

namespace mlxcel::server {

struct TransportLimits {
  uint64_t max_body = 8u << 20;                // bytes; 413 beyond (chunked bodies too)
  uint32_t max_header_bytes = 16u << 10;       // request line + headers; 431 beyond
  std::chrono::milliseconds header_timeout{10000};  // whole header, from the first wait
  std::chrono::milliseconds body_timeout{30000};    // whole body
  std::chrono::milliseconds write_timeout{30000};   // one response write (a client must read)
  std::chrono::milliseconds keep_alive{5000};       // idle wait for the next request
  uint32_t max_connections = 256;              // beyond: 503 and close
  // Bytes of request bodies held at once across connections (a chunked body reserves max_body);
  // a request past it is refused with 503 before its body is read.
  uint64_t body_budget = 64u << 20;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

inline HttpReply error_reply(const ApiError& e) {
  return HttpReply{e.status(), "application/json", dump_json(e.to_json()), {}};
}

// A chat reply read for tool calls: its syntax, the functions offered, and the text the prompt
// already started the reply with (tool_choice "required" / named), which the parser reads first.
struct ToolReply {
  ToolFormat format = ToolFormat::None;
  ToolParseOptions options;
  std::string prefix;
};

// A generation the session pumps to the client.
struct GenerationReply {
  std::shared_ptr<Generation> gen;
  ResponseMeta meta;
  bool stream = false;
  bool include_usage = false;
  std::optional<ToolReply> tools;
};

struct RequestHead {
  std::string method;
  std::string path;                // target without the query string
  std::string authorization;       // the header's value, "" when absent
  bool has_authorization = false;
  std::optional<uint64_t> content_length;
  bool chunked = false;
};

// What the session asks of the server's routes. Every call may throw only ApiError.
class Router {
 public:
  virtual ~Router() = default;
  // After the header: an answer without reading the body (401, 404, 405, 413), or nullopt.
  virtual std::optional<HttpReply> check_head(const RequestHead& head) = 0;
  // With the body. Runs on the preparation pool (it may render and tokenize a large prompt).
  virtual std::variant<HttpReply, GenerationReply> handle(const RequestHead& head,
                                                           std::string body) = 0;
  // Every response, for the request counters (route label, status).
  virtual void record(const std::string& path, int status) = 0;
};

class Transport {
 public:
  Transport(Router& router, TransportLimits limits, unsigned io_threads, unsigned prep_threads);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Binds and listens; returns the port. Throws IoError (address in use, not local, ...).
  int bind(const std::string& host, int port);
  // Runs until stop(): returns after every connection ended or the grace period ran out.
  void run();
  // Thread-safe: stops accepting, lets open responses finish (up to the grace period), then
  // ends every connection.
  void stop();
  uint32_t connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The state of a connected socket's peer, without consuming data: bytes waiting (a pipelined
// request) or nothing read so far mean Open; end of stream means the client shut its sending
// side (it may still read: a half-closed client); an error or hang-up means Gone.
enum class PeerState { Open, HalfClosed, Gone };
PeerState peer_state(int fd);

}  // namespace mlxcel::server
