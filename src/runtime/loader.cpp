// Model::load: plan, then allocate and read exactly what the plan lists.
#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "arch/registry.h"
#include "core/checked.h"
#include "mlxcel/errors.h"
#include "runtime/model.h"
#include "runtime/pread_file.h"
#include "runtime/progress.h"

namespace mlxcel::runtime {
namespace {

constexpr const char* kComponent = "runtime";

// Reads n bytes at offset into dst; tensors of two slices or more are read by the kernel pool's
// threads in kLoadSlice pieces (one pread on one thread). Most of a read's time is the kernel
// clearing each fresh page of the destination as the copy first touches it, and that work splits
// across cores.
constexpr uint64_t kLoadSlice = 8ull << 20;
void read_tensor(const PreadFile& file, uint64_t offset, void* dst, uint64_t n) {
  if (n < 2 * kLoadSlice) {
    file.read(offset, dst, n);
    return;
  }
  std::mutex mu;
  std::exception_ptr error;
  const uint64_t slices = (n + kLoadSlice - 1) / kLoadSlice;
  kernels::parallel_for(slices, 1, [&](uint64_t b, uint64_t e, uint32_t) {
    try {
      const uint64_t lo = b * kLoadSlice, hi = std::min(n, e * kLoadSlice);
      file.read(offset + lo, static_cast<char*>(dst) + lo, hi - lo);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!error) error = std::current_exception();
    }
  });
  if (error) std::rethrow_exception(error);
}

double num(const nlohmann::json& j, const char* key, double fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) throw ConfigError(kComponent, fmt::format("not a number (config.json, {})", key));
  return it->get<double>();
}

kernels::RopeScaling rope_scaling_from(const nlohmann::json& cfg, uint64_t max_pos) {
  kernels::RopeScaling s;
  const nlohmann::json* rs = nullptr;
  if (auto it = cfg.find("rope_scaling"); it != cfg.end() && it->is_object()) rs = &*it;
  if (auto it = cfg.find("rope_parameters"); !rs && it != cfg.end() && it->is_object()) rs = &*it;
  if (!rs) return s;
  std::string type = "default";
  if (auto t = rs->find("rope_type"); t != rs->end() && t->is_string()) type = t->get<std::string>();
  else if (auto t2 = rs->find("type"); t2 != rs->end() && t2->is_string()) type = t2->get<std::string>();
  s.factor = num(*rs, "factor", 1.0);
  s.original_max_position_embeddings = static_cast<uint64_t>(num(*rs, "original_max_position_embeddings", 0));
  if (type == "default") {
    s.type = kernels::RopeScalingType::Default;
  } else if (type == "linear") {
    s.type = kernels::RopeScalingType::Linear;
  } else if (type == "llama3") {
    s.type = kernels::RopeScalingType::Llama3;
    s.low_freq_factor = num(*rs, "low_freq_factor", 1.0);
    s.high_freq_factor = num(*rs, "high_freq_factor", 4.0);
  } else if (type == "yarn") {
    s.type = kernels::RopeScalingType::Yarn;
    if (s.original_max_position_embeddings == 0) s.original_max_position_embeddings = max_pos;
    s.beta_fast = num(*rs, "beta_fast", 32.0);
    s.beta_slow = num(*rs, "beta_slow", 1.0);
    s.attention_factor = num(*rs, "attention_factor", 0.0);
    s.mscale = num(*rs, "mscale", 0.0);
    s.mscale_all_dim = num(*rs, "mscale_all_dim", 0.0);
    if (auto t = rs->find("truncate"); t != rs->end() && t->is_boolean()) s.truncate = t->get<bool>();
  } else {
    throw UnsupportedArchitecture(kComponent, fmt::format("rope scaling type not implemented (config.json, "
                                                          "rope_scaling.rope_type, {})", type));
  }
  return s;
}

}  // namespace

Model::~Model() = default;

uint64_t Model::length(uint32_t seq) const {
  if (seq >= seq_len_.size()) throw UsageError(kComponent, fmt::format("no such sequence (seq, {})", seq));
  return seq_len_[seq];
}

void Model::reset(uint32_t seq) {
  if (seq >= seq_len_.size()) throw UsageError(kComponent, fmt::format("no such sequence (seq, {})", seq));
  seq_len_[seq] = 0;
}

bool Model::truncate(uint32_t seq, uint64_t n) {
  const uint64_t len = length(seq);
  if (n == len) return true;
  if (n > len) return false;
  for (const LayerCache& l : spec_.layers) {
    if (l.kind == LayerKind::Sliding && len > l.window) return false;  // older positions overwritten
  }
  seq_len_[seq] = n;
  return true;
}

std::unique_ptr<Model> Model::load(const ModelSpec& spec, const LoadOptions& options) {
  if (spec.source != WeightSource::Exact) {
    throw UsageError(kComponent, fmt::format("model has no weight files to load ({})", spec.root));
  }
  if (!has_forward_pass(spec.architecture)) {
    throw UnsupportedArchitecture(kComponent, fmt::format("the runtime has no forward pass for this family ({}, "
                                                          "architecture, {}); it runs {}",
                                                          spec.root, spec.architecture,
                                                          fmt::join(runnable_architectures(), ", ")));
  }
  for (KvCacheType t : {options.run.cache_type_k, options.run.cache_type_v}) {
    if (!kernels::kv_type_supported(t)) {
      throw UsageError(kComponent, fmt::format("KV cache type not supported by the kernels (--cache-type, {})",
                                               kv_cache_type_info(t).name));
    }
  }
  std::unique_ptr<Model> m(new Model());
  m->spec_ = spec;
  m->plan_ = plan_memory(spec, options.run);
  kernels::set_num_threads(options.run.threads);

  // Hyperparameters.
  const ModelDims& d = spec.dims;
  ModelHyper& h = m->hyper_;
  h.hidden = d.hidden_size;
  h.intermediate = d.intermediate_size;
  h.vocab = d.vocab_size;
  h.layers = d.num_layers;
  h.heads = static_cast<uint32_t>(d.num_heads);
  h.kv_heads = static_cast<uint32_t>(d.num_kv_heads);
  h.head_dim = static_cast<uint32_t>(d.head_dim);
  if (!h.hidden || !h.vocab || !h.layers || !h.heads || !h.kv_heads || !h.head_dim || h.heads % h.kv_heads) {
    throw ConfigError(kComponent, fmt::format("model dimensions incomplete or inconsistent ({}, hidden {}, vocab {}, "
                                              "layers {}, heads {}, kv_heads {}, head_dim {})",
                                              spec.root, h.hidden, h.vocab, h.layers, h.heads, h.kv_heads, h.head_dim));
  }
  const nlohmann::json& cfg = spec.config;
  h.rms_eps = static_cast<float>(num(cfg, "rms_norm_eps", 1e-6));
  const double partial = num(cfg, "partial_rotary_factor", 1.0);
  h.rotary_dim = static_cast<uint32_t>(static_cast<double>(h.head_dim) * partial);
  h.rotary_dim -= h.rotary_dim % 2;
  double theta = num(cfg, "rope_theta", 10000.0);
  if (auto it = cfg.find("rope_parameters"); it != cfg.end() && it->is_object()) theta = num(*it, "rope_theta", theta);
  h.inv_freq.resize(h.rotary_dim / 2);
  h.rope_attention_factor = kernels::rope_inv_freq(theta, h.rotary_dim, rope_scaling_from(cfg, d.max_position_embeddings),
                                                   h.inv_freq.data());

  m->load_weights(options);
  m->bind_weights();
  m->allocate_kv();
  m->allocate_workspace();
  return m;
}

void Model::load_weights(const LoadOptions& options) {
  const WeightsPlan& wp = plan_.weights;
  std::vector<PreadFile> files;
  files.reserve(spec_.files.size());
  for (const std::string& f : spec_.files) files.emplace_back(f, kComponent);
  ProgressBar bar("loading", wp.total, options.progress);
  tensors_.reserve(spec_.tensors.size());
  for (const TensorSpec& t : spec_.tensors) {
    if (t.file < 0 || static_cast<size_t>(t.file) >= files.size()) {
      throw FormatError(kComponent, fmt::format("tensor has no data file ({}, {})", spec_.root, t.name));
    }
    Buffer b = allocate(t.bytes, t.name);
    read_tensor(files[static_cast<size_t>(t.file)], t.offset, b.data(), t.bytes);
    if (options.on_tensor_read) options.on_tensor_read(t);
    bytes_loaded_ += t.bytes;
    bar.advance(t.bytes);
    tensors_.push_back(std::move(b));
  }
  bar.finish();
  if (bytes_loaded_ != wp.total) {
    throw std::logic_error(fmt::format("[runtime] loaded {} weight bytes but the plan lists {}", bytes_loaded_, wp.total));
  }
  by_name_.reserve(spec_.tensors.size());
  for (size_t i = 0; i < spec_.tensors.size(); ++i) by_name_.emplace_back(spec_.tensors[i].name, i);
  std::sort(by_name_.begin(), by_name_.end());
}

}  // namespace mlxcel::runtime
