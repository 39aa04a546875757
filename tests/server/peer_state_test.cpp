// peer_state on real loopback connections made in the test: a client that waits, one that shut
// its sending side (it may still read), one that reset, and one that keeps talking.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "server/http_session.h"
#include "server_fixture.h"

namespace mlxcel::server::test {
namespace {

// A listening socket, a client connected to it and the accepted server end, all on loopback.
struct Connection {
  int listener = -1;
  int client = -1;
  int server = -1;

  Connection() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    listener = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        ::listen(listener, 4) != 0) {
      return;
    }
    getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
    client = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(client, reinterpret_cast<sockaddr*>(&a), len) != 0) return;
    server = ::accept(listener, nullptr, nullptr);
  }
  ~Connection() {
    for (int fd : {listener, client, server}) {
      if (fd >= 0) ::close(fd);
    }
  }
  bool ok() const { return server >= 0; }
  void close_client() {
    ::close(client);
    client = -1;
  }
};

TEST(PeerState, OpenWhileTheClientWaits) {
  Connection c;
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(peer_state(c.server), PeerState::Open);
}

TEST(PeerState, HalfClosedOnceTheClientClosesOrShutsItsSendingSide) {
  // TCP shows both as end of stream; only a write tells them apart (the server then probes).
  Connection c;
  ASSERT_TRUE(c.ok());
  ::shutdown(c.client, SHUT_WR);
  EXPECT_TRUE(eventually([&] { return peer_state(c.server) == PeerState::HalfClosed; }));
  EXPECT_EQ(peer_state(c.server), PeerState::HalfClosed);  // peeking consumed nothing
}

TEST(PeerState, GoneWhenTheClientResets) {
  Connection c;
  ASSERT_TRUE(c.ok());
  const linger abort_on_close{1, 0};  // close sends RST instead of FIN
  setsockopt(c.client, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
  c.close_client();
  EXPECT_TRUE(eventually([&] { return peer_state(c.server) == PeerState::Gone; }));
}

TEST(PeerState, GoneOnceAWriteToAClosedClientWasReset) {
  Connection c;
  ASSERT_TRUE(c.ok());
  c.close_client();
  ASSERT_TRUE(eventually([&] { return peer_state(c.server) == PeerState::HalfClosed; }));
  ASSERT_EQ(::send(c.server, " ", 1, MSG_NOSIGNAL), 1);  // answered with a reset
  EXPECT_TRUE(eventually([&] { return peer_state(c.server) == PeerState::Gone; }));
}

TEST(PeerState, MoreBytesFromTheClientMeanItIsStillThere) {
  Connection c;
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(::send(c.client, "GET", 3, MSG_NOSIGNAL), 3);
  char got[3] = {};
  // Wait until the bytes have arrived (recv with MSG_PEEK blocks until then), then ask.
  ASSERT_EQ(::recv(c.server, got, sizeof got, MSG_PEEK | MSG_WAITALL), 3);
  EXPECT_EQ(peer_state(c.server), PeerState::Open);
  ASSERT_EQ(::recv(c.server, got, sizeof got, 0), 3);
  EXPECT_EQ(std::string(got, 3), "GET");
}

}  // namespace
}  // namespace mlxcel::server::test
