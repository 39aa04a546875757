// `mlxcel serve` as a process: the preflight refuses before binding (exit 3), a served model
// answers, SIGTERM stops it gracefully (exit 0) and --json-stats records the run.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "server_fixture.h"
#include "support/test_paths.h"

extern char** environ;

namespace mlxcel::server::test {
namespace {

using nlohmann::json;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Starts the binary with stdout and stderr sent to files.
pid_t spawn_serve(const std::vector<std::string>& args, const std::string& out,
                  const std::string& err) {
  std::vector<std::string> all = {MLXCEL_BINARY, "serve"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

int wait_exit(pid_t pid, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

// The port a server started with --port 0 logged on stderr ("on http://127.0.0.1:PORT"), within
// a minute; 0 when it never said.
int wait_for_port(const std::string& err_path) {
  int port = 0;
  eventually(
      [&] {
        const std::string err = slurp(err_path);
        const size_t at = err.find("on http://127.0.0.1:");
        if (at == std::string::npos) return false;
        port = std::stoi(err.substr(at + 20));
        return true;
      },
      60000);
  return port;
}

TEST(ServeCli, PreflightRefusalExits3BeforeBinding) {
  mlxcel::test::TempDir dir;
  const pid_t pid = spawn_serve({"--port", "0", "--memory-budget", "1MiB"}, dir.file("out"),
                                dir.file("err"));
  ASSERT_GT(pid, 0);
  EXPECT_EQ(wait_exit(pid, 60000), 3);
  const std::string err = slurp(dir.file("err"));
  EXPECT_NE(err.find("serve"), std::string::npos) << err;
  EXPECT_EQ(err.find("on http://"), std::string::npos) << err;  // never bound
}

TEST(ServeCli, ServesAndStopsGracefullyOnSigterm) {
  mlxcel::test::TempDir dir;
  const pid_t pid = spawn_serve({"--port", "0", "--parallel", "2", "--ctx-size", "128",
                                 "--threads", "1", "--json-stats", dir.file("stats.json")},
                                dir.file("out"), dir.file("err"));
  ASSERT_GT(pid, 0);
  const int port = wait_for_port(dir.file("err"));
  ASSERT_GT(port, 0) << slurp(dir.file("err"));

  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  const json h = json::parse(health->body);
  EXPECT_EQ(h["model"], "stories260K");
  EXPECT_EQ(h["sequences"], 2);
  EXPECT_EQ(h["ctx_size"], 128);
  auto res = c.Post("/v1/completions",
                    json({{"prompt", "Once upon a time"}, {"max_tokens", 8}}).dump(),
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  // /metrics carries the plan the run was admitted with (the same numbers --json-stats writes).
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  auto value_of = [&](const std::string& name) -> uint64_t {
    const size_t at = metrics->body.find("\n" + name + " ");
    return at == std::string::npos ? 0 : std::stoull(metrics->body.substr(at + name.size() + 2));
  };
  const uint64_t planned = value_of("mlxcel_memory_planned_bytes");
  const uint64_t estimate = value_of("mlxcel_memory_estimate_bytes");

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  EXPECT_EQ(wait_exit(pid, 30000), 0);
  const std::string err = slurp(dir.file("err"));
  EXPECT_NE(err.find("SIGTERM received"), std::string::npos) << err;
  EXPECT_NE(err.find("mlxcel serve: stopped"), std::string::npos) << err;
  const json stats = json::parse(slurp(dir.file("stats.json")));
  EXPECT_EQ(stats["command"], "serve");
  EXPECT_EQ(stats["run"]["sequences"], 2);
  EXPECT_EQ(stats["run"]["context"], 128);
  EXPECT_TRUE(stats.contains("after_load"));
  EXPECT_TRUE(stats.contains("after_run"));
  EXPECT_EQ(planned, stats["plan"]["planned_bytes"].get<uint64_t>()) << metrics->body;
  EXPECT_EQ(estimate, stats["plan"]["total_bytes"].get<uint64_t>()) << metrics->body;
  // Request bodies are planned at the transport's bound: (--parallel 2 + 2) x --max-body 1 MiB.
  const json& server = stats["plan"]["server"];
  EXPECT_EQ(server["bodies_in_flight"], 4);
  EXPECT_EQ(server["bodies_bytes"], 4u * (1u << 20));
  EXPECT_EQ(server["preparation_threads"], 2);
  // The shipped profile's fitted server baseline joins the bodies and their preparation.
  EXPECT_GT(server["base_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(server["total_bytes"].get<uint64_t>(), server["base_bytes"].get<uint64_t>() +
                                                       server["bodies_bytes"].get<uint64_t>() +
                                                       server["preparation_bytes"].get<uint64_t>());
  EXPECT_EQ(stats["plan"]["total_bytes"].get<uint64_t>(),
            stats["plan"]["planned_bytes"].get<uint64_t>() + server["total_bytes"].get<uint64_t>() +
                stats["plan"]["overhead_bytes"].get<uint64_t>());
}

// Repeated 4 MiB prompts once took a server's RSS from 20 MB to 905 MB and kept it there (every
// pool thread kept its own malloc arena of request buffers, and each prompt was tokenized in
// full). Now a prompt that cannot fit is refused from its size alone, request bodies are read by
// two threads, and large ones are trimmed back to the system after the request.
TEST(ServeCli, RepeatedHugePromptsAreRefusedAndGiveTheirMemoryBack) {
  mlxcel::test::TempDir dir;
  const pid_t pid = spawn_serve({"--port", "0", "--parallel", "1", "--ctx-size", "256",
                                 "--threads", "1", "--max-body", "4MiB"},
                                dir.file("out"), dir.file("err"));
  ASSERT_GT(pid, 0);
  const int port = wait_for_port(dir.file("err"));
  ASSERT_GT(port, 0) << slurp(dir.file("err"));
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  auto rss = [&] {
    const std::string status = slurp("/proc/" + std::to_string(pid) + "/status");
    const size_t at = status.find("VmRSS:");
    return at == std::string::npos ? 0 : std::stoull(status.substr(at + 6)) * 1024;
  };
  ASSERT_TRUE(c.Post("/v1/completions", json({{"prompt", "Once"}, {"max_tokens", 4}}).dump(),
                     "application/json"));
  const uint64_t before = rss();
  const std::string prompt(1u << 20, 'a');
  for (int i = 0; i < 6; ++i) {
    auto res = c.Post("/v1/completions", json({{"prompt", prompt}}).dump(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body.substr(0, 300);
    EXPECT_NE(res->body.find("context_length_exceeded"), std::string::npos)
        << res->body.substr(0, 300);
  }
  const uint64_t after = rss();
#if defined(__SANITIZE_ADDRESS__)
  // ASan's allocator keeps freed memory in its quarantine: RSS says nothing here (the soak in
  // docs/reliability.md measures it on a release build).
  (void)before;
  (void)after;
#else
  EXPECT_LT(after, before + (24u << 20)) << "RSS " << before << " -> " << after;
#endif
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  EXPECT_EQ(wait_exit(pid, 30000), 0);
}

}  // namespace
}  // namespace mlxcel::server::test
