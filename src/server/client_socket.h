// Noticing that the client of a non-streamed request went away while its answer is computed.
// cpp-httplib 0.11 (Debian's) gives a handler neither the connection's socket nor a "connection
// closed" query (Request::is_connection_closed came in later releases), and it writes nothing
// until the handler returns, so a failed write cannot tell us either. What the Request does carry
// is the connection's addresses: the socket is the one open descriptor of this process whose own
// address and peer address are exactly those, and a zero-timeout poll plus a one-byte peek on it
// shows whether the client has closed it.
#pragma once

#include <optional>
#include <string>

namespace mlxcel::server {

class ClientSocket {
 public:
  // The process's connected TCP socket with this local and peer address (numeric host strings as
  // httplib writes them, e.g. "127.0.0.1", "::1"), or nullopt when there is none or the
  // descriptors cannot be listed (no /proc). Linux only; costs one pass over /proc/self/fd.
  static std::optional<ClientSocket> find(const std::string& local_addr, int local_port,
                                          const std::string& remote_addr, int remote_port);

  // True when the peer has closed its side (end of stream) or reset the connection. Bytes the
  // client sent after its request (a pipelined request) mean it is still there. Never blocks
  // and never consumes data. Only valid while httplib still holds the connection open, i.e.
  // inside the handler of the request it was found for.
  bool closed() const;

  int fd() const { return fd_; }

 private:
  explicit ClientSocket(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace mlxcel::server
