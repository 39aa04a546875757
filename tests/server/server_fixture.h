// Runs an HttpServer over an engine on a random loopback port for the duration of a test, and
// small helpers to talk to it: httplib::Client for ordinary requests, a raw socket for streams that
// must be cut or for bytes httplib would not send.
#pragma once

#include <httplib.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/http_server.h"

namespace mlxcel::server::test {

class RunningServer {
 public:
  RunningServer(Engine& engine, ServerOptions options = {});
  ~RunningServer();
  int port() const { return port_; }
  httplib::Client client() const;
  void stop();

 private:
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
};

// The "data: " payloads of an SSE body, in order ("[DONE]" included); comments skipped. Fails the
// test when the framing is wrong (an event not ending in a blank line, a line without "data: ").
std::vector<std::string> sse_payloads(const std::string& body);

// POSTs `body` with "stream": true to `path` and returns the parsed chunks, [DONE] excluded
// (checked to be last); a test failure and no chunks when the answer is not a 200 stream.
std::vector<nlohmann::json> stream_chunks(const RunningServer& server, const std::string& path, nlohmann::json body);

// A raw loopback connection (caller closes; -1 and a test failure when it cannot connect), and
// sending all of `data` on it (stops quietly when the server closed early).
int open_connection(int port);
void send_bytes(int fd, const std::string& data);

// POSTs `body` over a raw socket and returns the socket (caller closes) after sending.
int raw_post(int port, const std::string& path, const std::string& body,
             const std::string& extra_headers = "");
// Reads from `fd` until `needle` has appeared in what was read or `timeout_ms` passed.
std::string read_until(int fd, const std::string& needle, int timeout_ms);
// Sends raw bytes and returns the whole response (until the server closes or timeout).
std::string raw_exchange(int port, const std::string& request, int timeout_ms = 3000);

// Polls `pred` every 5 ms up to `timeout_ms`; true when it held.
template <typename Pred>
bool eventually(Pred pred, int timeout_ms = 3000) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace mlxcel::server::test
