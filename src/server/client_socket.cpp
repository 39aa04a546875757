#include "server/client_socket.h"

#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace mlxcel::server {

namespace {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = sizeof(sockaddr_storage);
};

int port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

// The numeric host the way httplib spells it (getnameinfo with NI_NUMERICHOST).
bool host_is(const Endpoint& e, const std::string& host) {
  std::array<char, NI_MAXHOST> buf{};
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&e.addr), e.len, buf.data(),
                  static_cast<socklen_t>(buf.size()), nullptr, 0, NI_NUMERICHOST) != 0) {
    return false;
  }
  return host == buf.data();
}

bool is_stream_socket(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  int type = 0;
  socklen_t len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

}  // namespace

std::optional<ClientSocket> ClientSocket::find(const std::string& local_addr, int local_port,
                                               const std::string& remote_addr, int remote_port) {
  if (local_port <= 0 || remote_port <= 0) return std::nullopt;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return std::nullopt;
  const int own = dirfd(dir);
  std::optional<ClientSocket> found;
  // Descriptors opened or closed by other threads meanwhile do not matter: a live TCP connection
  // has one address pair, so whatever descriptor shows exactly ours is our connection. (An
  // in-process client's end has the two addresses swapped.)
  while (const dirent* entry = readdir(dir)) {
    const char* name = entry->d_name;
    int fd = -1;
    const auto [end, ec] = std::from_chars(name, name + std::strlen(name), fd);
    if (ec != std::errc() || *end != '\0' || fd == own || !is_stream_socket(fd)) continue;
    Endpoint local;
    Endpoint peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local.addr), &local.len) != 0 ||
        port_of(local.addr) != local_port) {
      continue;
    }
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer.addr), &peer.len) != 0 ||
        port_of(peer.addr) != remote_port) {
      continue;
    }
    if (host_is(local, local_addr) && host_is(peer, remote_addr)) {
      found = ClientSocket(fd);
      break;
    }
  }
  closedir(dir);
  return found;
}

bool ClientSocket::closed() const {
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  const int ready = poll(&p, 1, 0);
  if (ready <= 0) return false;  // nothing to read: the client is waiting (EINTR: ask later)
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return true;
  char byte = 0;
  const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;  // more bytes from the client: a pipelined request
  if (n == 0) return true;  // end of stream: the client closed (or shut down) its side
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;  // ECONNRESET and kin
}

}  // namespace mlxcel::server
