#include "cli/calibrate_sweep.h"

#include <fmt/format.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include <optional>

#include <nlohmann/json.hpp>

#include "arch/registry.h"
#include "mlxcel/errors.h"
#include "runtime/convert.h"
#include "runtime/random_model.h"

namespace mlxcel::cli {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kMaxPosition = 32768;

struct Shape {
  const char* name;
  const char* arch;        // architectures[0]
  const char* model_type;
  uint64_t hidden, intermediate, layers, heads, kv_heads, head_dim, vocab;
  bool tied;
};

// Llama and qwen3 (per-head q/k norm) shapes from ~10 MB to ~1.3 GB in bf16. They are not the
// shapes of bench/estimate_accuracy, so the accuracy table is measured on points the fit never saw.
//   llama-5M:  emb 4096x256 (untied: x2) + 4 layers x (attn 256x256x2 + 256x128x2, mlp 3x256x768)
//   llama-87M: emb 32000x512 (tied) + 24 layers x (attn 512x512x2 + 512x256x2, mlp 3x512x1408)
//   qwen3-270M: emb 65536x1024 (untied: x2) + 12 layers x (attn 1024x1024x2 + 1024x256x2,
//               mlp 3x1024x2816)
//   llama-650M: emb 50000x2048 (untied: x2) + 10 layers x (attn 2048x2048x2 + 2048x512x2,
//               mlp 3x2048x5632): 1.3 GB in bf16
constexpr Shape kTiny{"llama-5M", "LlamaForCausalLM", "llama", 256, 768, 4, 4, 2, 64, 4096, false};
constexpr Shape kShapes[] = {
    kTiny,
    {"llama-87M", "LlamaForCausalLM", "llama", 512, 1408, 24, 8, 4, 64, 32000, true},
    {"qwen3-270M", "Qwen3ForCausalLM", "qwen3", 1024, 2816, 12, 16, 4, 64, 65536, false},
    {"llama-650M", "LlamaForCausalLM", "llama", 2048, 5632, 10, 16, 4, 128, 50000, false},
};

nlohmann::json shape_config(const Shape& s) {
  return {{"architectures", {s.arch}},
          {"model_type", s.model_type},
          {"hidden_size", s.hidden},
          {"intermediate_size", s.intermediate},
          {"num_hidden_layers", s.layers},
          {"num_attention_heads", s.heads},
          {"num_key_value_heads", s.kv_heads},
          {"head_dim", s.head_dim},
          {"vocab_size", s.vocab},
          {"max_position_embeddings", kMaxPosition},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 1000000.0},
          {"tie_word_embeddings", s.tied},
          {"torch_dtype", "bfloat16"}};
}

bool model_present(const fs::path& dir) {
  return fs::exists(dir / "config.json") && fs::exists(dir / "tokenizer.json") &&
         (fs::exists(dir / "model.safetensors") || fs::exists(dir / "model.safetensors.index.json"));
}

}  // namespace

TempWorkDir::TempWorkDir() {
  std::string tmpl = (fs::temp_directory_path() / "mlxcel-calibrate-XXXXXX").string();
  if (!mkdtemp(tmpl.data()))
    throw IoError("calibrate", fmt::format("cannot create a work directory ({}, mkdtemp, -)", tmpl));
  path_ = tmpl;
}

TempWorkDir::~TempWorkDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<SweepModel> make_builtin_models(const fs::path& work_dir, bool quick) {
  std::vector<SweepModel> out;
  struct Format {
    const char* name;
    std::optional<uint32_t> bits;
  };
  const std::vector<Format> formats =
      quick ? std::vector<Format>{{"bf16", std::nullopt}, {"4bit", 4}}
            : std::vector<Format>{{"bf16", std::nullopt}, {"8bit", 8}, {"4bit", 4}};
  for (const Shape& s : kShapes) {
    if (quick && std::string(s.name) != kTiny.name) continue;
    for (const Format& f : formats) {
      const fs::path dir = work_dir / fmt::format("{}-{}", s.name, f.name);
      if (!model_present(dir)) {
        runtime::RandomModelOptions r;
        r.dtype = DType::BF16;
        r.bits = f.bits;
        r.group_size = 64;
        r.seed = 1;
        runtime::make_random_model(shape_config(s), r, dir.string());
        fmt::print(stderr, "[calibrate] generated {} {} at {}\n", s.name, f.name, dir.string());
      }
      out.push_back({fmt::format("{} {}", s.name, f.name), dir.string()});
    }
  }
  return out;
}

std::vector<SweepModel> prepare_given_models(const std::vector<std::string>& models, const fs::path& work_dir,
                                             bool quick) {
  std::vector<SweepModel> out;
  for (const std::string& m : models) {
    const ModelSpec spec = load_model_spec(m);
    std::string label = fs::path(spec.root).filename().string();
    if (label.empty()) label = m;
    out.push_back({label, m});
    const bool convertible = spec.format == "safetensors" && spec.source == WeightSource::Exact &&
                             spec.quant.method == QuantMethod::None;
    if (quick || !convertible) continue;
    for (uint32_t bits : {8u, 4u}) {
      const fs::path dir = work_dir / fmt::format("{}-{}bit", label, bits);
      if (!model_present(dir)) {
        runtime::QuantizeOptions q;
        q.bits = bits;
        q.group_size = 64;
        runtime::quantize_model(m, dir.string(), q);
        fmt::print(stderr, "[calibrate] quantized {} to {}-bit at {}\n", m, bits, dir.string());
      }
      out.push_back({fmt::format("{} {}bit", label, bits), dir.string()});
    }
  }
  return out;
}

std::vector<SweepPoint> sweep_points(bool quick) {
  // Contexts 256..24576 (not the accuracy bench's 512/4096/16384), chunks 128..1024, 1 and 2
  // threads, four KV cache types: each coefficient's feature varies on its own.
  if (quick) {
    return {{256, 128, 1, KvCacheType::F16}, {2048, 512, 2, KvCacheType::Q8_0}, {8192, 256, 2, KvCacheType::F32}};
  }
  return {{256, 128, 1, KvCacheType::F16},
          {2048, 512, 2, KvCacheType::Q8_0},
          {8192, 1024, 2, KvCacheType::F16},
          {12288, 256, 1, KvCacheType::F32},
          {24576, 512, 2, KvCacheType::Q4_0}};
}

std::string read_whole_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

int run_measured_child(const std::vector<std::string>& args, const fs::path& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw IoError("calibrate", fmt::format("cannot start a measured run ({}, posix_spawn, {})", args[0], rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw IoError("calibrate", "lost a measured run (waitpid)");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace mlxcel::cli
