// Inspect latency: load_model_spec + plan_memory on a 1-file model (Llama-3.2-1B shape) and on a
// 30-shard sparse model of real size (Llama-3.1-405B shape, ~812 GB apparent, a few MB on disk),
// plus the full inspect report (advisor included) for reference. Prints latency per run and the
// bytes read per run (rchar from /proc/self/io) beside the targets (< 10 ms, < 50 ms).
//
//   bench_inspect_latency [RUNS]      (default 50; build Release for numbers worth recording)
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "arch/registry.h"
#include "cli/inspect_report.h"
#include "io/safetensors.h"
#include "mlxcel/estimate.h"

namespace fs = std::filesystem;
using namespace mlxcel;

namespace {

std::string configs_dir() { return std::string(MLXCEL_SOURCE_DIR) + "/../shared/testdata/configs"; }

uint64_t rchar() {
  std::ifstream in("/proc/self/io");
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value)
    if (key == "rchar:") return value;
  return 0;
}

// Writes the model that analytic_spec derives from `config_path` as `shards` sparse safetensors
// files (tensor data left as holes) plus config.json and, when sharded, the index.
void write_sparse_model(const std::string& config_path, const fs::path& dir, int shards) {
  fs::create_directories(dir);
  fs::copy_file(config_path, dir / "config.json", fs::copy_options::overwrite_existing);
  ModelSpec spec = analytic_spec(read_config_json(config_path));
  const uint64_t total = spec.weight_bytes();
  const uint64_t per_shard = total / static_cast<uint64_t>(shards) + 1;
  std::vector<std::vector<SafetensorsTensorData>> files(static_cast<size_t>(shards));
  std::map<std::string, std::string> weight_map;
  auto name = [&](int s) {
    return shards == 1 ? std::string("model.safetensors")
                       : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards);
  };
  uint64_t acc = 0;
  for (const auto& t : spec.tensors) {
    int s = static_cast<int>(std::min<uint64_t>(acc / per_shard, static_cast<uint64_t>(shards - 1)));
    files[static_cast<size_t>(s)].push_back({t.name, t.dtype, t.shape, nullptr});
    weight_map[t.name] = name(s);
    acc += t.bytes;
  }
  for (int s = 0; s < shards; ++s) write_safetensors((dir / name(s)).string(), files[static_cast<size_t>(s)]);
  if (shards > 1) write_safetensors_index((dir / "model.safetensors.index.json").string(), total, weight_map);
}

struct Result {
  std::string name;
  int runs = 0;
  double median_ms = 0, p90_ms = 0, max_ms = 0;
  uint64_t rchar_per_run = 0;
  uint64_t apparent_bytes = 0;
  double target_ms = 0;
};

template <typename F>
Result measure(const std::string& name, int runs, double target_ms, uint64_t apparent, F&& work) {
  work();  // warm the page cache and the allocator once
  // Reading /proc/self/io adds its own bytes; measure that with nothing in between.
  uint64_t a = rchar(), b = rchar();
  const uint64_t probe_cost = b - a;
  std::vector<double> ms;
  uint64_t read_total = 0;
  for (int i = 0; i < runs; ++i) {
    uint64_t before = rchar();
    auto t0 = std::chrono::steady_clock::now();
    work();
    auto t1 = std::chrono::steady_clock::now();
    uint64_t after = rchar();
    read_total += after - before - probe_cost;
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  Result r;
  r.name = name;
  r.runs = runs;
  r.median_ms = ms[ms.size() / 2];
  r.p90_ms = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
  r.max_ms = ms.back();
  r.rchar_per_run = read_total / static_cast<uint64_t>(runs);
  r.apparent_bytes = apparent;
  r.target_ms = target_ms;
  return r;
}

uint64_t apparent_size(const fs::path& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir)) total += fs::file_size(e.path());
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 50;
  char tmpl[] = "/tmp/mlxcel-bench-inspect-XXXXXX";
  if (!mkdtemp(tmpl)) {
    fmt::print(stderr, "mkdtemp failed\n");
    return 1;
  }
  const fs::path root(tmpl);
  int rc = 0;
  try {
    const fs::path small = root / "llama-3.2-1b";
    const fs::path big = root / "llama-3.1-405b";
    write_sparse_model(configs_dir() + "/meta-llama__Llama-3.2-1B-Instruct/config.json", small, 1);
    write_sparse_model(configs_dir() + "/meta-llama__Llama-3.1-405B/config.json", big, 30);

    const CalibrationProfile& profile = default_calibration_profile();
    const AvailableMemory available = budget_available_memory(uint64_t{64} << 30);
    std::vector<Result> results;
    for (const auto& [label, dir, target] :
         {std::tuple<std::string, fs::path, double>{"1-file Llama-3.2-1B", small, 10.0},
          std::tuple<std::string, fs::path, double>{"30-shard Llama-3.1-405B", big, 50.0}}) {
      const std::string path = dir.string();
      results.push_back(measure(label + ": spec+plan", runs, target, apparent_size(dir), [&] {
        ModelSpec spec = load_model_spec(path);
        RunConfig run = default_run_config(spec);
        MemoryPlan plan = plan_memory(spec, run, profile);
        if (plan.total == 0) std::abort();
      }));
      results.push_back(measure(label + ": full report", runs, target, apparent_size(dir), [&] {
        ModelSpec spec = load_model_spec(path);
        RunConfig run = default_run_config(spec);
        SpecForFormat make = spec_for_format_from_config(spec);
        auto report = cli::build_inspect_report(std::move(spec), run, profile, available, make,
                                                path, "");
        if (report.plan.total == 0) std::abort();
      }));
    }

    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    fmt::print("# bench_inspect_latency: {} runs each, {} CPUs online\n", runs,
               sysconf(_SC_NPROCESSORS_ONLN));
    fmt::print("{:<36} {:>6} {:>10} {:>10} {:>10} {:>14} {:>16} {:>10} {:>6}\n", "case", "runs",
               "median_ms", "p90_ms", "max_ms", "rchar_per_run", "apparent_bytes", "target_ms",
               "met");
    for (const auto& r : results)
      fmt::print("{:<36} {:>6} {:>10.3f} {:>10.3f} {:>10.3f} {:>14} {:>16} {:>10.0f} {:>6}\n",
                 r.name, r.runs, r.median_ms, r.p90_ms, r.max_ms, r.rchar_per_run,
                 r.apparent_bytes, r.target_ms, r.median_ms < r.target_ms ? "yes" : "no");
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    rc = 1;
  }
  std::error_code ec;
  fs::remove_all(root, ec);
  return rc;
}
