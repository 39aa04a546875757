#include "model_helpers.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "arch/registry.h"
#include "runtime/model.h"
#include "support/test_paths.h"

namespace mlxcel::runtime::test_helpers {

nlohmann::json testdata_config(const std::string& name) {
  std::ifstream f(test::testdata("configs/" + name + "/config.json"));
  if (!f) throw std::runtime_error("missing test config " + name);
  return nlohmann::json::parse(f);
}

std::string make_model(const std::string& dir, const nlohmann::json& config, const RandomModelOptions& options) {
  make_random_model(config, options, dir);
  return dir;
}

std::vector<float> reference_logits(const std::string& model_dir, const std::vector<int32_t>& tokens) {
  std::string ids;
  for (int32_t t : tokens) ids += (ids.empty() ? "" : ",") + std::to_string(t);
  const std::string out = model_dir + "/reference_logits.f32";
  const std::string cmd = fmt::format("/usr/bin/python3 {}/tests/reference/llama_ref.py '{}' --tokens {} --out '{}'",
                                      MLXCEL_SOURCE_DIR, model_dir, ids, out);
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("reference failed: " + cmd);
  std::ifstream f(out, std::ios::binary | std::ios::ate);
  const auto bytes = static_cast<size_t>(f.tellg());
  std::vector<float> v(bytes / 4);
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
  return v;
}

std::vector<float> runtime_logits(const std::string& model_dir, const std::vector<int32_t>& tokens, uint64_t split,
                                  const RunConfig& run) {
  ModelSpec spec = load_model_spec(model_dir);
  LoadOptions lo;
  lo.run = run;
  lo.progress = false;
  std::unique_ptr<Model> m = Model::load(spec, lo);
  const uint64_t V = m->vocab_size();
  std::vector<float> out;
  std::span<float> l = m->prefill(0, std::span<const int32_t>(tokens.data(), split));
  out.insert(out.end(), l.begin(), l.end());
  for (uint64_t i = split; i < tokens.size(); ++i) {
    DecodeRow row{0, tokens[i]};
    l = m->decode(std::span<const DecodeRow>(&row, 1));
    out.insert(out.end(), l.begin(), l.begin() + static_cast<ptrdiff_t>(V));
  }
  return out;
}

double max_abs_diff(const std::vector<float>& reference, uint64_t row0, const std::vector<float>& got, uint64_t vocab) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(reference[row0 * vocab + i]) - got[i]));
  }
  return worst;
}

RandomModelOptions tiny_model_options(uint64_t seed, DType dtype) {
  RandomModelOptions o;
  o.dtype = dtype;
  o.seed = seed;
  o.layers = 2;
  o.hidden = 64;
  o.intermediate = 96;
  o.heads = 4;
  o.kv_heads = 2;
  o.head_dim = 16;
  o.vocab = 300;
  return o;
}

std::vector<int32_t> test_tokens(uint64_t n, uint64_t vocab, uint64_t seed) {
  std::vector<int32_t> t(n);
  uint64_t x = seed * 2654435761u + 12345;
  for (auto& v : t) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    v = static_cast<int32_t>(3 + (x >> 33) % (vocab - 3));
  }
  return t;
}

}  // namespace mlxcel::runtime::test_helpers
