#include "server_fixture.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace mlxcel::server::test {

RunningServer::RunningServer(Engine& engine, ServerOptions options) {
  options.host = "127.0.0.1";
  options.port = 0;
  options.keep_alive_seconds = 1;  // so stop() never waits long for an idle connection
  server_ = std::make_unique<HttpServer>(engine, options);
  port_ = server_->bind();
  thread_ = std::thread([this] { server_->serve(); });
}

RunningServer::~RunningServer() { stop(); }

void RunningServer::stop() {
  if (!server_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

httplib::Client RunningServer::client() const {
  httplib::Client c("127.0.0.1", port_);
  c.set_read_timeout(10, 0);
  c.set_connection_timeout(5, 0);
  return c;
}

std::vector<nlohmann::json> stream_chunks(const RunningServer& server, const std::string& path, nlohmann::json body) {
  body["stream"] = true;
  auto c = server.client();
  auto res = c.Post(path, body.dump(), "application/json");
  EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no response");
  if (!res || res->status != 200) return {};
  const auto payloads = sse_payloads(res->body);
  EXPECT_FALSE(payloads.empty());
  if (payloads.empty()) return {};
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::vector<nlohmann::json> out;
  for (size_t i = 0; i + 1 < payloads.size(); ++i) out.push_back(nlohmann::json::parse(payloads[i]));
  return out;
}

std::vector<std::string> sse_payloads(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) {
      ADD_FAILURE() << "SSE event not terminated by a blank line: " << body.substr(pos);
      break;
    }
    const std::string event = body.substr(pos, end - pos);
    pos = end + 2;
    if (!event.empty() && event[0] == ':') continue;  // comment (keep-alive)
    if (event.rfind("data: ", 0) != 0 || event.find('\n') != std::string::npos) {
      ADD_FAILURE() << "SSE event is not a single data line: " << event;
      continue;
    }
    out.push_back(event.substr(6));
  }
  return out;
}

namespace {

int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    ADD_FAILURE() << "cannot connect to 127.0.0.1:" << port;
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close early (413): that is for the caller to check
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

int open_connection(int port) { return connect_loopback(port); }
void send_bytes(int fd, const std::string& data) { send_all(fd, data); }

int raw_post(int port, const std::string& path, const std::string& body,
             const std::string& extra_headers) {
  const int fd = connect_loopback(port);
  if (fd < 0) return fd;
  send_all(fd, "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                   extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                   body);
  return fd;
}

std::string read_until(int fd, const std::string& needle, int timeout_ms) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (got.find(needle) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

std::string raw_exchange(int port, const std::string& request, int timeout_ms) {
  const int fd = connect_loopback(port);
  if (fd < 0) return {};
  send_all(fd, request);
  // Until the headers are in, then until Content-Length bytes of body are (or the server closes).
  std::string got = read_until(fd, "\r\n\r\n", timeout_ms);
  const size_t header_end = got.find("\r\n\r\n");
  if (header_end != std::string::npos) {
    const std::string headers = got.substr(0, header_end);
    const size_t cl = headers.find("Content-Length: ");
    if (cl != std::string::npos) {
      const size_t want = header_end + 4 + std::stoul(headers.substr(cl + 16));
      while (got.size() < want) {
        std::string more = read_until(fd, "\x01never\x01", 50);
        if (more.empty()) break;
        got += more;
      }
    }
  }
  ::close(fd);
  return got;
}

}  // namespace mlxcel::server::test
