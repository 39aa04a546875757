// Estimate accuracy: the memory plan against what real runs use. For each architecture x weight
// format x context x KV cache type, a fresh `mlxcel generate --json-stats` child process (short
// prompt, a few tokens; the KV cache is preallocated for the context) reports the plan, the
// allocator's bytes after loading and at peak, and its RSS high-water mark (VmHWM). Prints a
// markdown table and, with --json, one JSON object per row. Targets (docs/calibration.md): weights
// and KV + workspace equal to the allocator's bytes exactly; total within -1%..+3% of peak RSS.
//
//   bench_estimate_accuracy [--mlxcel PATH] [--configs DIR] [--models DIR] [--calibration FILE]
//                           [--arch NAME]... [--json FILE] [--quick]
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/calibrate_sweep.h"
#include "mlxcel/errors.h"
#include "mlxcel/size.h"
#include "runtime/random_model.h"

extern char** environ;

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace mlxcel;

namespace {

struct Arch {
  std::string name;    // row label
  std::string config;  // directory under --configs
  std::optional<uint64_t> layers;  // fewer layers than the real model, to stay within 100 MB-3 GB
  std::string note;
};

// Four families the runtime runs, at realistic widths and vocabularies. Not the calibration
// sweep's shapes (src/cli/calibrate_sweep.cpp), so the table is measured on unseen points.
const std::vector<Arch> kArchs = {
    {"llama", "HuggingFaceTB__SmolLM2-360M", std::nullopt, "SmolLM2-360M (tied, 32 layers, GQA 15/5)"},
    {"qwen2", "Qwen__Qwen2.5-1.5B", 8, "Qwen2.5-1.5B widths, 8 of 28 layers (q/k/v bias, vocab 151936)"},
    {"qwen3", "Qwen__Qwen3-0.6B", std::nullopt, "Qwen3-0.6B (q/k norm, head_dim 128, vocab 151936)"},
    {"mistral", "mistralai__Mistral-7B-v0.1", 2, "Mistral-7B widths, 2 of 32 layers (vocab 32000)"},
};

struct Format {
  std::string name;
  std::optional<uint32_t> bits;
};
const std::vector<Format> kFormats = {{"bf16", std::nullopt}, {"8bit", 8}, {"4bit", 4}};
const std::vector<uint64_t> kContexts = {512, 4096, 16384};
const std::vector<std::string> kCacheTypes = {"f16", "q8_0"};
constexpr const char* kPrompt = "Memory accuracy run: a short prompt.";
constexpr int kNewTokens = 4;

std::string first_field(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      auto c = line.find(':');
      return c == std::string::npos ? line : line.substr(line.find_first_not_of(" \t", c + 1));
    }
  return "";
}

std::string pct(double v) { return fmt::format("{:+.2f}%", 100 * v); }

double rel(uint64_t estimate, uint64_t measured) {
  return (static_cast<double>(estimate) - static_cast<double>(measured)) / static_cast<double>(measured);
}

void usage() {
  std::fputs(
      "bench_estimate_accuracy [--mlxcel PATH] [--configs DIR] [--models DIR] [--calibration FILE]\n"
      "                        [--arch NAME]... [--json FILE] [--quick]\n"
      "  --mlxcel       the mlxcel binary (default: ../mlxcel next to this program)\n"
      "  --configs      config.json directories (default: MLXCEL_SOURCE_DIR/../shared/testdata/configs)\n"
      "  --models       where random-weight models are written and reused (default /tmp/mlxcel-accuracy-models)\n"
      "  --calibration  profile passed to every run (default: the shipped profiles/cpu-default.json)\n"
      "  --arch         llama, qwen2, qwen3, mistral (repeatable; default all)\n"
      "  --json         also write one JSON object per row to FILE\n"
      "  --quick        one context (4096) and one KV cache type (f16)\n",
      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  std::string mlxcel_bin = (fs::canonical("/proc/self/exe").parent_path().parent_path() / "mlxcel").string();
  std::string configs = std::string(MLXCEL_SOURCE_DIR) + "/../shared/testdata/configs";
  std::string models = "/tmp/mlxcel-accuracy-models";
  std::string calibration, json_out;
  std::vector<std::string> only;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--mlxcel") mlxcel_bin = value();
    else if (a == "--configs") configs = value();
    else if (a == "--models") models = value();
    else if (a == "--calibration") calibration = value();
    else if (a == "--arch") only.push_back(value());
    else if (a == "--json") json_out = value();
    else if (a == "--quick") quick = true;
    else {
      usage();
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  const std::vector<uint64_t> contexts = quick ? std::vector<uint64_t>{4096} : kContexts;
  const std::vector<std::string> caches = quick ? std::vector<std::string>{"f16"} : kCacheTypes;
  fs::create_directories(models);
  std::ofstream jout;
  if (!json_out.empty()) jout.open(json_out, std::ios::trunc);

  struct utsname u {};
  uname(&u);
  std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  fmt::print("# estimate accuracy, {}\n# machine: {} ({} CPUs), MemTotal {}, Linux {}\n# binary: {}\n\n", date,
             first_field("/proc/cpuinfo", "model name"), sysconf(_SC_NPROCESSORS_ONLN),
             first_field("/proc/meminfo", "MemTotal"), u.release, mlxcel_bin);
  fmt::print("| arch | weights | ctx | KV | weights B (plan = alloc) | KV + workspace B (plan = alloc) | "
             "estimate total | peak RSS | alloc peak | error vs RSS | target |\n");
  fmt::print("|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);

  uint32_t rows = 0, exact_fail = 0, band_fail = 0, run_fail = 0;
  double worst_under = 1e9, worst_over = -1e9;  // lowest and highest error seen
  const auto t0 = std::chrono::steady_clock::now();
  for (const Arch& arch : kArchs) {
    if (!only.empty() && std::find(only.begin(), only.end(), arch.name) == only.end()) continue;
    for (const Format& f : kFormats) {
      const fs::path dir = fs::path(models) / fmt::format("{}-{}", arch.name, f.name);
      if (!fs::exists(dir / "config.json") || !fs::exists(dir / "model.safetensors")) {
        json config = json::parse(mlxcel::cli::read_whole_file(fs::path(configs) / arch.config / "config.json"));
        runtime::RandomModelOptions r;
        r.dtype = DType::BF16;
        r.bits = f.bits;
        r.group_size = 64;
        r.seed = 7;
        r.layers = arch.layers;
        runtime::make_random_model(config, r, dir.string());
        fmt::print(stderr, "generated {} {} at {}\n", arch.name, f.name, dir.string());
      }
      for (uint64_t ctx : contexts) {
        for (const std::string& kv : caches) {
          const fs::path stats = fs::path(models) / "stats.json";
          const fs::path log = fs::path(models) / "run.log";
          std::vector<std::string> args = {mlxcel_bin, "generate", dir.string(), "--prompt", kPrompt, "--max-tokens",
                                           std::to_string(kNewTokens), "--ctx-size", std::to_string(ctx),
                                           "--threads", "2", "--cache-type-k", kv, "--cache-type-v", kv,
                                           "--json-stats", stats.string(), "--no-echo", "--force"};
          if (!calibration.empty()) {
            args.push_back("--calibration");
            args.push_back(calibration);
          }
          fs::remove(stats);
          int code = -2;  // -2: the run could not be started
          try {
            code = mlxcel::cli::run_measured_child(args, log);
          } catch (const mlxcel::IoError&) {
          }
          ++rows;
          json j;
          if (code == 0) j = json::parse(mlxcel::cli::read_whole_file(stats), nullptr, false);
          if (code != 0 || j.is_discarded() || !j.contains("after_run") || j["after_run"].is_null()) {
            ++run_fail;
            fmt::print("| {} | {} | {} | {} | run failed (exit {}): {} |\n", arch.name, f.name, ctx, kv, code,
                       log.string());
            std::fflush(stdout);
            continue;
          }
          const auto& p = j["plan"];
          const auto& l = j["after_load"];
          const auto& r = j["after_run"];
          const uint64_t w_plan = p["weights_bytes"], w_alloc = l["allocator_weights_bytes"];
          const uint64_t rest_plan = p["kv_bytes"].get<uint64_t>() + p["workspace_bytes"].get<uint64_t>();
          const uint64_t rest_alloc = l["allocator_kv_workspace_bytes"];
          const uint64_t total = p["total_bytes"], rss = r["rss_peak_bytes"], apeak = r["allocator_peak_bytes"];
          const bool exact = w_plan == w_alloc && rest_plan == rest_alloc;
          const double err = rel(total, rss);
          const bool in_band = err >= -0.01 && err <= 0.03;
          exact_fail += exact ? 0 : 1;
          band_fail += in_band ? 0 : 1;
          worst_under = std::min(worst_under, err);
          worst_over = std::max(worst_over, err);
          fmt::print("| {} | {} | {} | {} | {} {} {} | {} {} {} | {} | {} | {} | {} | {} |\n", arch.name, f.name, ctx, kv,
                     w_plan, w_plan == w_alloc ? "=" : "!=", w_alloc, rest_plan, rest_plan == rest_alloc ? "=" : "!=",
                     rest_alloc, format_bytes(total), format_bytes(rss), format_bytes(apeak), pct(err),
                     exact && in_band ? "ok" : (exact ? "MISS band" : "MISS exact"));
          std::fflush(stdout);
          if (jout) {
            json row = {{"arch", arch.name},           {"model", arch.note},
                        {"weights_format", f.name},    {"context", ctx},
                        {"cache_type", kv},            {"weights_plan", w_plan},
                        {"weights_allocator", w_alloc}, {"kv_bytes", p["kv_bytes"]},
                        {"workspace_bytes", p["workspace_bytes"]},
                        {"kv_workspace_allocator", rest_alloc},
                        {"planned", p["planned_bytes"]}, {"total", total},
                        {"overhead", p["overhead"]},   {"peak_rss", rss},
                        {"allocator_peak", apeak},     {"error_vs_rss", err}};
            jout << row.dump() << "\n";
          }
        }
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("\n{} rows in {:.0f} s: {} failed to run, {} not exact (weights or KV + workspace vs allocator), "
             "{} outside -1%..+3% of peak RSS; error range {} .. {}\n",
             rows, seconds, run_fail, exact_fail, band_fail, pct(worst_under), pct(worst_over));
  return 0;
}
