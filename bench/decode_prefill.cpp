// End-to-end prefill and decode throughput of the runtime on a Llama-3.2-1B-shaped random model in
// bf16, MLX 8-bit and MLX 4-bit (group 64), printed beside the memory read bandwidth measured in
// the same run and the decode roofline (bandwidth / bytes read per token). Prints a table and one
// JSON line per format; passes or fails nothing.
//
//   bench_decode_prefill [--threads N] [--prompt N] [--decode N] [--formats bf16,q8,q4]
//                        [--config PATH] [--layers N] [--dir DIR] [--bw-mib MiB] [--rounds N]
//                        [--prefill-chunk N]   (tokens per prefill pass; default the whole prompt,
//                                               generate/serve use 512)
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "arch/registry.h"
#include "kernels/cpu/kernels.h"
#include "mlxcel/memory.h"
#include "mlxcel/size.h"
#include "runtime/model.h"
#include "runtime/random_model.h"
#include "bandwidth.h"
#include "bench_args.h"

using namespace mlxcel;
namespace fs = std::filesystem;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Args {
  uint32_t threads = 2;
  uint64_t prompt = 512;
  uint64_t decode = 64;
  std::vector<std::string> formats = {"bf16", "q8", "q4"};
  std::string config = std::string(MLXCEL_SOURCE_DIR) + "/../shared/testdata/configs/meta-llama__Llama-3.2-1B-Instruct/config.json";
  uint64_t layers = 0;  // 0: the config's
  std::string dir;
  uint64_t bw_mib = 1024;
  uint64_t rounds = 4;  // decode rounds, each between two bandwidth measurements
  uint64_t prefill_chunk = 0;  // 0: the whole prompt in one pass
};

Args parse(int argc, char** argv) {
  Args a;
  bench::ArgReader r(argc, argv,
                     "usage: bench_decode_prefill [--threads N] [--prompt N] [--decode N] [--formats bf16,q8,q4] "
                     "[--config PATH] [--layers N] [--dir DIR] [--bw-mib MiB] [--rounds N] [--prefill-chunk N]");
  while (r.next()) {
    const std::string& k = r.flag();
    if (k == "--threads") a.threads = static_cast<uint32_t>(r.count(1, 4096));
    else if (k == "--prompt") a.prompt = r.count(1, 1u << 20);
    else if (k == "--decode") a.decode = r.count(1, 1u << 20);
    else if (k == "--config") a.config = r.value();
    else if (k == "--layers") a.layers = r.count(1, 4096);
    else if (k == "--dir") a.dir = r.value();
    else if (k == "--bw-mib") a.bw_mib = r.count(2, 1u << 20);
    else if (k == "--rounds") a.rounds = r.count(1, 1024);
    else if (k == "--prefill-chunk") a.prefill_chunk = r.count(1, 1u << 20);
    else if (k == "--formats") a.formats = r.list();
    else r.fail();
  }
  return a;
}

struct Result {
  std::string format;
  uint64_t weight_bytes = 0;
  double bytes_per_token = 0;  // weights + the KV cache read at the mean decode context
  double prefill_tps = 0, decode_tps = 0, roofline = 0;
  double bandwidth = 0;                  // median over the rounds of max(before, after)
  double fraction = 0, fraction_lo = 0, fraction_hi = 0;  // median, min, max over the rounds
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(args.config));
  const std::string base = args.dir.empty() ? (fs::temp_directory_path() / "mlxcel-bench-decode-prefill").string() : args.dir;
  fs::create_directories(base);

  const uint64_t chunk = args.prefill_chunk ? std::min(args.prefill_chunk, args.prompt) : args.prompt;
  std::printf("# decode/prefill bench: %s, %u threads, prompt %llu (prefill chunks of %llu), decode %llu, ISA %s\n",
              args.config.c_str(), args.threads, static_cast<unsigned long long>(args.prompt),
              static_cast<unsigned long long>(chunk), static_cast<unsigned long long>(args.decode),
              std::string(kernels::isa_name(kernels::active_isa())).c_str());
  bench::BandwidthProbe probe(args.bw_mib << 20);
  const double bw_first = probe.measure(args.threads, 5);
  std::printf("# peak read bandwidth (%u threads, %llu MiB, huge pages, prefetching AVX sum): %.1f GB/s\n",
              args.threads, static_cast<unsigned long long>(probe.bytes() >> 20), bw_first);
  double bw_peak = bw_first;

  std::vector<Result> results;
  for (const std::string& fmt_name : args.formats) {
    runtime::RandomModelOptions o;
    o.dtype = DType::BF16;
    o.seed = 1;
    o.group_size = 64;
    if (args.layers) o.layers = args.layers;
    if (fmt_name == "q8") o.bits = 8;
    else if (fmt_name == "q4") o.bits = 4;
    else if (fmt_name != "bf16") {
      std::fprintf(stderr, "unknown format %s (bf16, q8, q4)\n", fmt_name.c_str());
      return 2;
    }
    const std::string dir = base + "/" + fmt_name;
    double t0 = now();
    if (!fs::exists(dir + "/model.safetensors")) runtime::make_random_model(config, o, dir);
    const double t_make = now() - t0;

    ModelSpec spec = load_model_spec(dir);
    runtime::LoadOptions lo;
    lo.progress = false;
    lo.run.context = args.prompt + args.decode + 16;
    lo.run.prefill_chunk = chunk;
    lo.run.threads = args.threads;
    lo.run.cache_type_k = KvCacheType::F16;
    lo.run.cache_type_v = KvCacheType::F16;
    t0 = now();
    std::unique_ptr<runtime::Model> m = runtime::Model::load(spec, lo);
    const double t_load = now() - t0;

    std::vector<int32_t> prompt(args.prompt);
    for (uint64_t i = 0; i < args.prompt; ++i) prompt[i] = static_cast<int32_t>(3 + (i * 7919) % 250);
    // Warm-up pass: first touch of the workspace pages and the kernels' one-time setup.
    m->prefill(0, std::span<const int32_t>(prompt.data(), std::min<uint64_t>(args.prompt, 64)));
    m->reset(0);

    t0 = now();
    std::span<float> logits = m->prefill(0, prompt);
    const double t_prefill = now() - t0;
    int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.begin() + 256) - logits.begin());
    // Decode in rounds, each between two bandwidth measurements: the host's bandwidth moves while
    // we run, so each round is compared with the larger of the two readings around it.
    Result r;
    r.format = fmt_name;
    r.weight_bytes = m->plan().weights.total;
    // Per decoded token: every weight once (the tied embedding as lm_head) plus the K and V rows
    // of the context so far.
    const double kv_row = static_cast<double>(m->plan().kv.bytes_per_token);
    auto bytes_at = [&](double ctx) { return static_cast<double>(r.weight_bytes) + kv_row * ctx; };
    std::vector<double> fractions, bandwidths;
    double t_decode = 0;
    uint64_t done = 0;
    double bw_prev = probe.measure(args.threads, 3);
    for (uint64_t round = 0; round < args.rounds && done < args.decode; ++round) {
      const uint64_t n = (args.decode - done + (args.rounds - round) - 1) / (args.rounds - round);
      t0 = now();
      for (uint64_t i = 0; i < n; ++i) {
        const runtime::DecodeRow row{0, next};
        logits = m->decode(std::span<const runtime::DecodeRow>(&row, 1));
        next = static_cast<int32_t>(std::max_element(logits.begin(), logits.begin() + 256) - logits.begin());
      }
      const double dt = now() - t0;
      const double bw_next = probe.measure(args.threads, 3);
      const double bw = std::max(bw_prev, bw_next);
      const double ctx = static_cast<double>(args.prompt + done) + static_cast<double>(n) / 2.0;
      fractions.push_back(static_cast<double>(n) / dt * bytes_at(ctx) / (bw * 1e9));
      std::fprintf(stderr, "# %s round %llu: %llu tokens, %.2f tok/s, bw %.1f / %.1f GB/s, %.0f%% of the roofline\n",
                   fmt_name.c_str(), static_cast<unsigned long long>(round), static_cast<unsigned long long>(n),
                   static_cast<double>(n) / dt, bw_prev, bw_next, 100.0 * fractions.back());
      bandwidths.push_back(bw);
      bw_peak = std::max({bw_peak, bw_prev, bw_next});
      bw_prev = bw_next;
      t_decode += dt;
      done += n;
    }

    r.bytes_per_token = bytes_at(static_cast<double>(args.prompt) + static_cast<double>(args.decode) / 2.0);
    r.prefill_tps = static_cast<double>(args.prompt) / t_prefill;
    r.decode_tps = static_cast<double>(done) / t_decode;
    r.bandwidth = median(bandwidths);
    r.roofline = r.bandwidth * 1e9 / r.bytes_per_token;
    r.fraction = median(fractions);
    r.fraction_lo = *std::min_element(fractions.begin(), fractions.end());
    r.fraction_hi = *std::max_element(fractions.begin(), fractions.end());
    results.push_back(r);
    std::fprintf(stderr, "# %s: made in %.1f s, loaded in %.2f s, prefill %.2f s, decode %.2f s\n", fmt_name.c_str(),
                 t_make, t_load, t_prefill, t_decode);
  }
  std::printf("# peak read bandwidth seen in the run: %.1f GB/s\n", bw_peak);
  std::printf("# bw: median over the decode rounds of the larger reading around each round; decode / roofline:\n"
              "# median over the rounds of (round tok/s x bytes/token) / its bw, with the range\n\n");
  std::printf("| format | weights | bytes/token | prefill tok/s | decode tok/s | bw GB/s | roofline tok/s | decode / roofline |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const Result& r : results) {
    std::printf("| %s | %s | %.3f GB | %.1f | %.2f | %.1f | %.2f | %.0f%% (%.0f–%.0f%%) |\n", r.format.c_str(),
                format_bytes(r.weight_bytes).c_str(), r.bytes_per_token / 1e9, r.prefill_tps, r.decode_tps,
                r.bandwidth, r.roofline, 100.0 * r.fraction, 100.0 * r.fraction_lo, 100.0 * r.fraction_hi);
  }
  std::printf("\n");
  for (const Result& r : results) {
    nlohmann::json j = {{"bench", "decode_prefill"}, {"format", r.format}, {"threads", args.threads},
                        {"prompt_tokens", args.prompt}, {"decode_tokens", args.decode},
                        {"weight_bytes", r.weight_bytes}, {"bytes_per_token", r.bytes_per_token},
                        {"prefill_tokens_per_s", r.prefill_tps}, {"decode_tokens_per_s", r.decode_tps},
                        {"bandwidth_gb_s", r.bandwidth}, {"peak_bandwidth_gb_s", bw_peak},
                        {"roofline_tokens_per_s", r.roofline}, {"decode_fraction_of_roofline", r.fraction},
                        {"decode_fraction_min", r.fraction_lo}, {"decode_fraction_max", r.fraction_hi}};
    std::printf("%s\n", j.dump().c_str());
  }
  return 0;
}
