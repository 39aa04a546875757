// End-to-end prefill and decode throughput of the runtime on a Llama-3.2-1B-shaped random model in
// bf16, MLX 8-bit and MLX 4-bit (group 64), printed beside the memory read bandwidth measured in
// the same run and the decode roofline (bandwidth / bytes read per token). Prints a table and one
// JSON line per format; passes or fails nothing.
//
//   bench_decode_prefill [--threads N] [--prompt N] [--decode N] [--formats bf16,q8,q4]
//                        [--config PATH] [--layers N] [--dir DIR] [--bw-mib MiB]
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

using namespace mlxcel;
namespace fs = std::filesystem;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_load_ps(a + i), _mm256_load_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_load_ps(a + i + 8), _mm256_load_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_load_ps(a + i + 16), _mm256_load_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_load_ps(a + i + 24), _mm256_load_ps(b + i + 24), s3);
  }
  float t[8];
  _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}

// Read bandwidth in GB/s: a vectorised dot product over two arrays of `bytes_each`, split over
// `threads` threads, best of `reps`.
double measure_bandwidth(uint32_t threads, uint64_t bytes_each, int reps) {
  const size_t n = bytes_each / 4 / 4096 * 4096;
  auto* a = static_cast<float*>(std::aligned_alloc(64, n * 4));
  auto* b = static_cast<float*>(std::aligned_alloc(64, n * 4));
  for (size_t i = 0; i < n; ++i) a[i] = b[i] = 1.0f;
  double best = 0;
  volatile float sink = 0;
  for (int r = 0; r < reps; ++r) {
    std::vector<float> part(threads);
    const double t0 = now();
    std::vector<std::thread> ts;
    for (uint32_t t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        const size_t lo = n / threads / 32 * 32 * t;
        const size_t hi = t + 1 == threads ? n : n / threads / 32 * 32 * (t + 1);
        part[t] = dot_avx2(a + lo, b + lo, hi - lo);
      });
    }
    for (auto& th : ts) th.join();
    const double dt = now() - t0;
    for (float p : part) sink = sink + p;
    best = std::max(best, 2.0 * static_cast<double>(n) * 4 / dt / 1e9);
  }
  std::free(a);
  std::free(b);
  return best;
}

struct Args {
  uint32_t threads = 2;
  uint64_t prompt = 512;
  uint64_t decode = 64;
  std::vector<std::string> formats = {"bf16", "q8", "q4"};
  std::string config = std::string(MLXCEL_SOURCE_DIR) + "/../shared/testdata/configs/meta-llama__Llama-3.2-1B-Instruct/config.json";
  uint64_t layers = 0;  // 0: the config's
  std::string dir;
  uint64_t bw_mib = 1024;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value for %s\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--threads") a.threads = static_cast<uint32_t>(std::stoul(val()));
    else if (k == "--prompt") a.prompt = std::stoull(val());
    else if (k == "--decode") a.decode = std::stoull(val());
    else if (k == "--config") a.config = val();
    else if (k == "--layers") a.layers = std::stoull(val());
    else if (k == "--dir") a.dir = val();
    else if (k == "--bw-mib") a.bw_mib = std::stoull(val());
    else if (k == "--formats") {
      a.formats.clear();
      std::stringstream ss(val());
      for (std::string f; std::getline(ss, f, ',');) a.formats.push_back(f);
    } else {
      std::fprintf(stderr,
                   "usage: bench_decode_prefill [--threads N] [--prompt N] [--decode N] [--formats bf16,q8,q4] "
                   "[--config PATH] [--layers N] [--dir DIR] [--bw-mib MiB]\n");
      std::exit(2);
    }
  }
  return a;
}

struct Result {
  std::string format;
  uint64_t weight_bytes = 0;
  double bytes_per_token = 0;  // weights + the KV cache read at the mean decode context
  double prefill_tps = 0, decode_tps = 0, roofline = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(args.config));
  const std::string base = args.dir.empty() ? (fs::temp_directory_path() / "mlxcel-bench-decode-prefill").string() : args.dir;
  fs::create_directories(base);

  std::printf("# decode/prefill bench: %s, %u threads, prompt %llu, decode %llu, ISA %s\n", args.config.c_str(),
              args.threads, static_cast<unsigned long long>(args.prompt), static_cast<unsigned long long>(args.decode),
              std::string(kernels::isa_name(kernels::active_isa())).c_str());
  const double bw_before = measure_bandwidth(args.threads, args.bw_mib << 20, 5);
  std::printf("# read bandwidth (dot over 2 x %llu MiB, %u threads): %.1f GB/s\n",
              static_cast<unsigned long long>(args.bw_mib), args.threads, bw_before);

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
    lo.run.prefill_chunk = args.prompt;
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
    t0 = now();
    for (uint64_t i = 0; i < args.decode; ++i) {
      const runtime::DecodeRow row{0, next};
      logits = m->decode(std::span<const runtime::DecodeRow>(&row, 1));
      next = static_cast<int32_t>(std::max_element(logits.begin(), logits.begin() + 256) - logits.begin());
    }
    const double t_decode = now() - t0;

    Result r;
    r.format = fmt_name;
    r.weight_bytes = m->plan().weights.total;
    // Per decoded token: every weight once (the tied embedding as lm_head) plus the K and V rows
    // of the context so far (mean over the decode).
    const double mean_ctx = static_cast<double>(args.prompt) + static_cast<double>(args.decode) / 2.0;
    r.bytes_per_token = static_cast<double>(r.weight_bytes) + static_cast<double>(m->plan().kv.bytes_per_token) * mean_ctx;
    r.prefill_tps = static_cast<double>(args.prompt) / t_prefill;
    r.decode_tps = static_cast<double>(args.decode) / t_decode;
    r.roofline = bw_before * 1e9 / r.bytes_per_token;
    results.push_back(r);
    std::fprintf(stderr, "# %s: made in %.1f s, loaded in %.2f s, prefill %.2f s, decode %.2f s\n", fmt_name.c_str(),
                 t_make, t_load, t_prefill, t_decode);
  }
  const double bw_after = measure_bandwidth(args.threads, args.bw_mib << 20, 5);
  std::printf("# read bandwidth after the runs: %.1f GB/s (roofline uses the first measurement)\n\n", bw_after);

  std::printf("| format | weights | bytes/token | prefill tok/s | decode tok/s | roofline tok/s | decode / roofline |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const Result& r : results) {
    std::printf("| %s | %s | %.3f GB | %.1f | %.2f | %.2f | %.0f%% |\n", r.format.c_str(), format_bytes(r.weight_bytes).c_str(),
                r.bytes_per_token / 1e9, r.prefill_tps, r.decode_tps, r.roofline, 100.0 * r.decode_tps / r.roofline);
  }
  std::printf("\n");
  for (const Result& r : results) {
    nlohmann::json j = {{"bench", "decode_prefill"}, {"format", r.format}, {"threads", args.threads},
                        {"prompt_tokens", args.prompt}, {"decode_tokens", args.decode},
                        {"weight_bytes", r.weight_bytes}, {"bytes_per_token", r.bytes_per_token},
                        {"prefill_tokens_per_s", r.prefill_tps}, {"decode_tokens_per_s", r.decode_tps},
                        {"bandwidth_gb_s", bw_before}, {"bandwidth_after_gb_s", bw_after},
                        {"roofline_tokens_per_s", r.roofline}, {"decode_fraction_of_roofline", r.decode_tps / r.roofline}};
    std::printf("%s\n", j.dump().c_str());
  }
  return 0;
}
