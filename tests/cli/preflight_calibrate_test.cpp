// End to end: `mlxcel calibrate --quick` measures real runs in child processes and writes a
// profile that loads, bounds every measured point and is what inspect then reports.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "cli/cli_util.h"
#include "mlxcel/estimate.h"

using namespace mlxcel;
using namespace mlxcel::test;
using nlohmann::json;

namespace {

}  // namespace

TEST(Calibrate, QuickSweepWritesAProfileThatBoundsEveryPoint) {
  TempDir dir;
  CliResult r = run_mlxcel({"calibrate", "--quick", "--out", dir.file("quick.json"), "--work-dir", dir.file("work")});
  ASSERT_EQ(r.code, 0) << r.err;
  // The quick sweep: a tiny llama in bf16 and 4-bit, 3 run settings each.
  EXPECT_TRUE(contains(r.out, "llama-5M bf16 ctx 256 chunk 128 t1 f16")) << r.out;
  EXPECT_TRUE(contains(r.out, "llama-5M 4bit ctx 8192 chunk 256 t2 f32")) << r.out;

  const CalibrationProfile p = load_calibration_profile(dir.file("quick.json"));
  EXPECT_TRUE(p.calibrated);
  EXPECT_TRUE(contains(p.provenance, "6 points of 3 measured run(s) each")) << p.provenance;
  json j = json::parse(read_text(dir.file("quick.json")));
  EXPECT_EQ(j["name"], "quick");
  EXPECT_EQ(j["provenance"]["points"], 6);
  EXPECT_EQ(j["provenance"]["failed_runs"], 0);
  EXPECT_TRUE(contains(j["provenance"]["command"].get<std::string>(), "calibrate --quick")) << j.dump();
  EXPECT_FALSE(j["provenance"]["machine"].get<std::string>().empty());
  ASSERT_EQ(j["provenance"]["sweep"].size(), 6u);
  for (const auto& s : j["provenance"]["sweep"]) {
    // Upper bound on every measured point; the planned part is what the allocator held at peak.
    EXPECT_GE(s["estimate_bytes"].get<uint64_t>(), s["peak_rss_bytes"].get<uint64_t>()) << s.dump();
    EXPECT_EQ(s["planned_bytes"], s["allocator_peak_bytes"]) << s.dump();
    // three runs per point by default; the point keeps the largest peak RSS
    ASSERT_EQ(s["peak_rss_runs"].size(), 3u) << s.dump();
    uint64_t most = 0;
    for (const auto& v : s["peak_rss_runs"]) most = std::max(most, v.get<uint64_t>());
    EXPECT_EQ(s["peak_rss_bytes"].get<uint64_t>(), most) << s.dump();
  }
  EXPECT_GE(j["provenance"]["max_under_error"].get<double>(), 0.0);

  // inspect loads it and calls the overhead calibrated.
  CliResult i = run_mlxcel({"inspect", (std::filesystem::path(dir.file("work")) / "llama-5M-4bit").string(),
                            "--calibration", dir.file("quick.json"), "--json"});
  ASSERT_EQ(i.code, 0) << i.err;
  EXPECT_EQ(json::parse(i.out)["overhead"]["calibrated"], true);
}

TEST(Calibrate, RepeatsOutsideOneToHundredIsAUsageError) {
  TempDir dir;
  for (const char* bad : {"0", "101", "three"}) {
    CliResult r = run_mlxcel({"calibrate", "--quick", "--repeats", bad, "--out", dir.file("p.json")});
    EXPECT_EQ(r.code, 2) << bad << ": " << r.err;
    EXPECT_TRUE(contains(r.err, "--repeats")) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.file("p.json")));
  }
}

TEST(Calibrate, MissingModelFailsBeforeAnyRun) {
  TempDir dir;
  CliResult r = run_mlxcel({"calibrate", dir.file("no-such-model"), "--out", dir.file("p.json")});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("p.json")));
}
