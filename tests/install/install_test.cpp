// cmake --install: the binary finds its default model and profile wherever the prefix lands (it
// is installed to one directory, moved to another and run from a third), and a program built
// against the installed package with find_package(mlxcel) plans a model like `inspect` does.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "cli/cli_util.h"

using namespace mlxcel::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// One installed-and-moved prefix for the suite (the install copies the libraries once).
class Installed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string first = dir_->file("first-prefix");
    CliResult r = run_command("cmake --install " + shell_quote(MLXCEL_BUILD_DIR) + " --prefix " + shell_quote(first));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    fs::rename(first, prefix());  // relocated: nothing may remember where it was installed
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string prefix() { return dir_->file("moved-prefix"); }
  // The installed binary, run from a scratch directory (not the source or build tree).
  static CliResult mlxcel(const std::string& args) {
    fs::create_directories(dir_->file("elsewhere"));
    return run_command("cd " + shell_quote(dir_->file("elsewhere")) + " && env -u MLXCEL_DATA_DIR " +
                       shell_quote(prefix() + "/bin/mlxcel") + " " + args);
  }
  static TempDir* dir_;
};
TempDir* Installed::dir_ = nullptr;

}  // namespace

TEST_F(Installed, TheLayoutHasTheBinaryDataHeadersAndPackageConfig) {
  for (const char* rel : {"bin/mlxcel", "share/mlxcel/profiles/cpu-default.json",
                          "share/mlxcel/models/stories260K/model.safetensors", "include/mlxcel/estimate.h",
                          "include/mlxcel/model_spec.h", "lib/cmake/mlxcel/mlxcelConfig.cmake",
                          "lib/cmake/mlxcel/mlxcelTargets.cmake", "lib/libmlxcel_estimate.a"}) {
    EXPECT_TRUE(fs::exists(prefix() + "/" + rel)) << rel;
  }
}

TEST_F(Installed, RelocatedBinaryPlansAndGeneratesTheDefaultModel) {
  CliResult plan = mlxcel("inspect --json");
  ASSERT_EQ(plan.code, 0) << plan.err;
  const json doc = json::parse(plan.out);
  EXPECT_EQ(doc["model"]["root"], fs::weakly_canonical(prefix() + "/share/mlxcel/models/stories260K").string());
  EXPECT_NE(doc["overhead"]["profile"].get<std::string>().find("(built in)"), std::string::npos) << doc["overhead"];
  CliResult gen = mlxcel("generate --prompt 'Once upon a time' --max-tokens 8 --no-echo --threads 1");
  EXPECT_EQ(gen.code, 0) << gen.err;
}

TEST_F(Installed, TheBinaryHoldsNoPathIntoTheSourceTree) {
  // Source file names may appear in debug info; the resource paths the program used to build
  // from MLXCEL_SOURCE_DIR must not.
  std::ifstream in(prefix() + "/bin/mlxcel", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1000u);
  for (const std::string rel : {"/models/stories260K", "/profiles/cpu-default.json"}) {
    EXPECT_EQ(bytes.find(std::string(MLXCEL_SOURCE_DIR) + rel), std::string::npos) << rel;
  }
}

TEST_F(Installed, AProgramBuiltAgainstThePackagePlansAsInspectDoes) {
  const std::string src = dir_->file("consumer");
  fs::create_directories(src);
  write_text(src + "/CMakeLists.txt", R"(cmake_minimum_required(VERSION 3.25)
project(plan_consumer CXX)
find_package(mlxcel 0.1 REQUIRED)
add_executable(plan main.cpp)
target_link_libraries(plan PRIVATE mlxcel::estimate)
)");
  write_text(src + "/main.cpp", R"(#include <cstdio>
#include <cstdlib>
#include "mlxcel/estimate.h"
#include "mlxcel/model_spec.h"
int main(int argc, char** argv) {
  if (argc != 3) return 2;
  mlxcel::ModelSpec spec = mlxcel::read_model_spec(argv[1]);
  mlxcel::RunConfig run = mlxcel::default_run_config(spec);
  run.context = std::strtoull(argv[2], nullptr, 10);
  run.threads = 2;
  const mlxcel::MemoryPlan plan = mlxcel::plan_memory(spec, run, mlxcel::default_calibration_profile());
  std::printf("%llu\n", static_cast<unsigned long long>(plan.total));
  return 0;
}
)");
  const std::string build = dir_->file("consumer-build");
  CliResult conf = run_command("cmake -S " + shell_quote(src) + " -B " + shell_quote(build) +
                               " -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + shell_quote(prefix()));
  ASSERT_EQ(conf.code, 0) << conf.out << conf.err;
  CliResult make = run_command("cmake --build " + shell_quote(build));
  ASSERT_EQ(make.code, 0) << make.out << make.err;
  const std::string model = prefix() + "/share/mlxcel/models/stories260K";
  CliResult total = run_command(shell_quote(build + "/plan") + " " + shell_quote(model) + " 200");
  ASSERT_EQ(total.code, 0) << total.err;
  CliResult plan = mlxcel("inspect " + shell_quote(model) + " --json -c 200 --threads 2");
  ASSERT_EQ(plan.code, 0) << plan.err;
  EXPECT_EQ(std::stoull(total.out), json::parse(plan.out)["total_bytes"].get<uint64_t>());
}
