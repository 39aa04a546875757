// ClientSocket on real loopback connections made in the test: it finds the server's end of a
// connection by its two addresses and tells a client that waits from one that left.
#include "server/client_socket.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "server_fixture.h"

namespace mlxcel::server::test {
namespace {

int port_of(int fd) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6&>(a).sin6_port)
                                 : ntohs(reinterpret_cast<sockaddr_in&>(a).sin_port);
}

// A listening socket, a client connected to it and the accepted server end, all on loopback.
struct Connection {
  int listener = -1;
  int client = -1;
  int server = -1;
  std::string host;  // numeric loopback address, as httplib writes it

  explicit Connection(int family) {
    host = family == AF_INET6 ? "::1" : "127.0.0.1";
    sockaddr_storage a{};
    socklen_t len = 0;
    if (family == AF_INET6) {
      auto& a6 = reinterpret_cast<sockaddr_in6&>(a);
      a6.sin6_family = AF_INET6;
      a6.sin6_addr = in6addr_loopback;
      len = sizeof a6;
    } else {
      auto& a4 = reinterpret_cast<sockaddr_in&>(a);
      a4.sin_family = AF_INET;
      a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof a4;
    }
    listener = ::socket(family, SOCK_STREAM, 0);
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        ::listen(listener, 4) != 0) {
      return;  // no such loopback here (IPv6 disabled): ok() is false
    }
    socklen_t alen = len;
    getsockname(listener, reinterpret_cast<sockaddr*>(&a), &alen);
    client = ::socket(family, SOCK_STREAM, 0);
    if (::connect(client, reinterpret_cast<sockaddr*>(&a), len) != 0) return;
    server = ::accept(listener, nullptr, nullptr);
  }
  ~Connection() {
    for (int fd : {listener, client, server}) {
      if (fd >= 0) ::close(fd);
    }
  }
  bool ok() const { return server >= 0; }
  int server_port() const { return port_of(listener); }
  int client_port() const { return port_of(client); }
  std::optional<ClientSocket> find() const {
    return ClientSocket::find(host, server_port(), host, client_port());
  }
  void close_client() {
    ::close(client);
    client = -1;
  }
};

TEST(ClientSocket, FindsTheServerEndOfAConnection) {
  Connection c(AF_INET);
  ASSERT_TRUE(c.ok());
  const auto found = c.find();
  ASSERT_TRUE(found);
  // Not the client's end, which has the same two addresses the other way round.
  EXPECT_EQ(found->fd(), c.server);
}

TEST(ClientSocket, FindsAnIpv6Connection) {
  Connection c(AF_INET6);
  if (!c.ok()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  const auto found = c.find();
  ASSERT_TRUE(found);
  EXPECT_EQ(found->fd(), c.server);
}

TEST(ClientSocket, NoConnectionWithThoseAddresses) {
  Connection c(AF_INET);
  ASSERT_TRUE(c.ok());
  // The right ports from another host; the listener's port as both ends.
  EXPECT_FALSE(ClientSocket::find("127.0.0.2", c.server_port(), c.host, c.client_port()));
  EXPECT_FALSE(ClientSocket::find(c.host, c.server_port(), c.host, c.server_port()));
  EXPECT_FALSE(ClientSocket::find(c.host, -1, c.host, -1));
}

TEST(ClientSocket, OpenWhileTheClientWaits) {
  Connection c(AF_INET);
  ASSERT_TRUE(c.ok());
  const auto s = c.find();
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->closed());
}

TEST(ClientSocket, ClosedOnceTheClientCloses) {
  Connection c(AF_INET);
  ASSERT_TRUE(c.ok());
  const auto s = c.find();
  ASSERT_TRUE(s);
  c.close_client();
  EXPECT_TRUE(eventually([&] { return s->closed(); }));
  EXPECT_TRUE(s->closed());  // peeking consumed nothing
}

TEST(ClientSocket, ClosedWhenTheClientResets) {
  Connection c(AF_INET);
  ASSERT_TRUE(c.ok());
  const auto s = c.find();
  ASSERT_TRUE(s);
  const linger abort_on_close{1, 0};  // close sends RST instead of FIN
  setsockopt(c.client, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
  c.close_client();
  EXPECT_TRUE(eventually([&] { return s->closed(); }));
}

TEST(ClientSocket, HalfCloseCountsAsGone) {
  // A client that shuts down its sending side has said it sends nothing more; like Go's net/http
  // and later cpp-httplib releases, that is taken as having left.
  Connection c(AF_INET);
  ASSERT_TRUE(c.ok());
  const auto s = c.find();
  ASSERT_TRUE(s);
  ::shutdown(c.client, SHUT_WR);
  EXPECT_TRUE(eventually([&] { return s->closed(); }));
}

TEST(ClientSocket, MoreBytesFromTheClientMeanItIsStillThere) {
  Connection c(AF_INET);
  ASSERT_TRUE(c.ok());
  const auto s = c.find();
  ASSERT_TRUE(s);
  ASSERT_EQ(::send(c.client, "GET", 3, MSG_NOSIGNAL), 3);
  char got[3] = {};
  // Wait until the bytes have arrived (recv with MSG_PEEK blocks until then), then ask.
  ASSERT_EQ(::recv(c.server, got, sizeof got, MSG_PEEK | MSG_WAITALL), 3);
  EXPECT_FALSE(s->closed());
  // And they are still there for the server to read.
  ASSERT_EQ(::recv(c.server, got, sizeof got, 0), 3);
  EXPECT_EQ(std::string(got, 3), "GET");
}

}  // namespace
}  // namespace mlxcel::server::test
