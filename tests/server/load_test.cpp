// A bounded load test on the test engine: 8 clients, 300 requests, mixed streaming, chat and
// abandoned streams, against 4 sequences and a queue of 4.
#include <gtest/gtest.h>

#include <cstdio>

#include "load_runner.h"
#include "mlxcel/memory.h"
#include "server_fixture.h"
#include "test_engine.h"

namespace mlxcel::server::test {
namespace {

TEST(Load, EightClientsMixedRequestsNoServerErrorsNoLeak) {
  TestEngineOptions o;
  o.slots = 4;
  o.context = 512;
  o.step_delay = std::chrono::milliseconds(1);
  TestEngine engine(o);
  ServerOptions so;
  so.queue_size = 4;
  RunningServer server(engine, so);
  const uint64_t baseline = active_memory();

  const LoadResult r = run_load(server.port(), 8, 300, {"x", "say:hello there", "tell me"}, 16);

  for (const auto& p : r.problems) ADD_FAILURE() << p;
  for (const auto& [status, count] : r.by_status) {
    std::printf("load: status %d x %llu\n", status, static_cast<unsigned long long>(count));
  }
  uint64_t answered = 0;
  for (const auto& [status, count] : r.by_status) {
    answered += count;
    // 200, or 503 when the queue was full; nothing else.
    EXPECT_TRUE(status == 200 || status == 503) << status << " x " << count;
  }
  EXPECT_EQ(answered + r.abandoned, 300u);
  EXPECT_GT(r.by_status.count(200) ? r.by_status.at(200) : 0, 0u);
  EXPECT_EQ(r.abandoned, 30u);  // i % 10 == 5 for i < 300
  // Every sequence came back and its memory with it.
  EXPECT_TRUE(eventually([&] { return engine.active_slots() == 0; }, 5000));
  EXPECT_TRUE(eventually([&] { return active_memory() == baseline; }, 5000))
      << active_memory() << " vs " << baseline;
}

}  // namespace
}  // namespace mlxcel::server::test
