// Hostile model files through the real binary: each must end in exit 2 with a message naming the
// file, the field and the value, promptly and without a crash; and the binary must exit promptly
// under an address-space limit.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "cli/cli_util.h"

using namespace mlxcel;
using namespace mlxcel::test;

namespace {

namespace fs = std::filesystem;

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

class Untrusted : public ::testing::Test {
 protected:
  std::string model(const std::string& name = "m") {
    const fs::path p = dir.path() / name;
    fs::create_directories(p);
    return p.string();
  }
  // inspect with the test profile (the default profile is read from the source tree).
  CliResult inspect(const std::string& path) {
    write_text(dir.file("profile.json"), kTestProfile);
    return run_mlxcel({"inspect", path, "--calibration", dir.file("profile.json"), "--memory-budget", "1GiB"});
  }
  // config with `field` set to `value`: inspect exits 2 naming file, field and value, within 20 s.
  void expect_field_refused_promptly(nlohmann::json config, const std::string& field, uint64_t value) {
    const std::string m = model();
    config[field] = value;
    write_text(m + "/config.json", config.dump());
    const auto t0 = std::chrono::steady_clock::now();
    CliResult r = inspect(m);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "(" + m + "/config.json, " + field + ", " + std::to_string(value) + ")")) << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  }
  TempDir dir;
};

TEST_F(Untrusted, ConfigNested100000DeepExits2) {
  const std::string m = model();
  write_text(m + "/config.json", R"({"model_type": "llama", "rope_scaling": )" + nested(100000) + "}");
  CliResult r = inspect(m);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "(" + m + "/config.json, rope_scaling[0]")) << r.err;
  EXPECT_TRUE(contains(r.err, "nested deeper than 128 levels")) << r.err;
}

TEST_F(Untrusted, SafetensorsHeaderNested100000DeepExits2) {
  const std::string m = model();
  write_tiny_llama(m);
  const std::string header = R"({"__metadata__": )" + nested(100000) + "}";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  write_text(m + "/model.safetensors", bytes + header);
  CliResult r = inspect(m);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "header is not valid JSON (" + m + "/model.safetensors, __metadata__")) << r.err;
}

TEST_F(Untrusted, SafetensorsIndexNested100000DeepExits2) {
  const std::string m = model();
  write_tiny_llama(m, 2);
  write_text(m + "/model.safetensors.index.json", R"({"weight_map": )" + nested(100000) + "}");
  CliResult r = inspect(m);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "index is not valid JSON (" + m + "/model.safetensors.index.json, weight_map"))
      << r.err;
}

TEST_F(Untrusted, ConfigNumberOverflowExits2NamingFieldAndValue) {
  const std::string m = model();
  std::string config = kTinyLlamaConfig;
  config.replace(config.find("10000.0"), 7, "1e400");  // rope_theta
  write_text(m + "/config.json", config);
  CliResult r = inspect(m);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "[arch] invalid JSON in config (" + m + "/config.json, rope_theta, number "
                              "overflow parsing '1e400')"))
      << r.err;
}

// 65,536 experts x 61 layers took 3.7 GB and 25 s.
TEST_F(Untrusted, SixtyFiveThousandExpertsExits2Promptly) {
  nlohmann::json c = nlohmann::json::parse(read_text(testdata("configs/deepseek-ai__DeepSeek-R1/config.json")));
  expect_field_refused_promptly(c, "n_routed_experts", 65536);
}

// 100,000 layers took 2.1 GB and 60 s.
TEST_F(Untrusted, HundredThousandLayersExits2Promptly) {
  expect_field_refused_promptly(nlohmann::json::parse(kTinyLlamaConfig), "num_hidden_layers", 100000);
}

// block_count 0xFFFFFFFF sized per-layer arrays of 32 GiB: bad_alloc, exit 1.
TEST_F(Untrusted, GgufBlockCountMaxExits2) {
  const std::string path = dir.file("m.gguf");
  nlohmann::json meta = {{"general.architecture", "llama"},    {"llama.block_count", 4294967295u},
                         {"llama.embedding_length", 64},       {"llama.feed_forward_length", 176},
                         {"llama.attention.head_count", 4},    {"llama.attention.head_count_kv", 2},
                         {"llama.vocab_size", 512}};
  write_gguf(path, meta, {{"token_embd.weight", DType::F32, {512, 64}, nullptr}},
             {{"llama.block_count", 4}});
  CliResult r = inspect(path);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "(" + path + ", llama.block_count, 4294967295)")) << r.err;
}

TEST_F(Untrusted, MakeRandomModelNestedConfigExits2AndWritesNothing) {
  write_text(dir.file("config.json"), R"({"model_type": )" + nested(100000) + "}");
  CliResult r = run_mlxcel({"make-random-model", dir.file("config.json"), "--out", dir.file("out")});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "(" + dir.file("config.json") + ", model_type")) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("out")));
}

// Runs the binary in a child with RLIMIT_AS set; the exit code, or -1 when it had to be killed
// after `timeout`.
int run_with_address_limit(const std::vector<std::string>& args, rlim_t limit, std::chrono::seconds timeout,
                           const std::string& out_path) {
  std::vector<char*> argv;
  std::string bin = MLXCEL_BINARY;
  argv.push_back(bin.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    struct rlimit r {limit, limit};
    setrlimit(RLIMIT_AS, &r);
    int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid < 0) return -2;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -3;
}

// Under `prlimit --as=200000000` every command printed its result and then spun forever: each
// OpenBLAS worker thread retries its 128 MiB buffer allocation until it succeeds, and exit joins
// the workers. The limit here, 120 MB, is below one such buffer, so any machine with two or more
// CPUs (one worker or more) shows the hang, while inspect itself needs about 60 MB of address
// space. AddressSanitizer reserves terabytes of address space up front, so an instrumented binary
// cannot start under such a limit at all: the case runs in plain builds.
TEST_F(Untrusted, InspectUnderAddressSpaceLimitExitsPromptly) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer builds cannot run under an address-space limit";
#endif
  const std::string m = model();
  write_tiny_llama(m);
  write_text(dir.file("profile.json"), kTestProfile);
  const std::string out = dir.file("out.txt");
  const int code = run_with_address_limit(
      {"inspect", m, "--calibration", dir.file("profile.json"), "--memory-budget", "1GiB"}, 120000000,
      std::chrono::seconds(30), out);
  EXPECT_EQ(code, 0) << read_text(out);
  EXPECT_TRUE(contains(read_text(out), "Weights (exact)")) << read_text(out);
}

}  // namespace
