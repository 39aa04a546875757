// Analytic specs: every tensor derived from the config through the family tables, then laid out
// the way the declared (or what-if) quantization stores it.
#include "arch/analytic.h"

#include <charconv>

#include "arch/registry.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace arch {
namespace {

std::string expand(std::string_view pattern, const std::string& model_prefix,
                   std::string_view head, std::string_view expert) {
  std::string out;
  out.reserve(pattern.size() + 16);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '{') {
      size_t close = pattern.find('}', i);
      auto key = pattern.substr(i + 1, close - i - 1);
      if (key == "m") out += model_prefix;
      else if (key == "head") out += head;
      else if (key == "E") out += expert;
      else throw std::logic_error("[arch] unknown placeholder in tensor table: " + std::string(key));
      i = close;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

class Lister {
 public:
  Lister(const ModelPlan& plan, const std::string& config_name)
      : plan_(plan), f_(*plan.family), config_name_(config_name) {
    head_ = std::string(plan.multimodal && !f_.multimodal_head_name.empty()
                            ? f_.multimodal_head_name
                            : f_.head_name);
  }

  void global(const RuleList& rules, bool mtp = false) {
    for (const auto& r : rules) emit(r, "", "", mtp);
  }

  void layer(const std::string& prefix, MixerKind mixer, FfnKind ffn, bool mtp,
             const RuleList* extra = nullptr) {
    for (const auto& r : f_.layer) emit(r, prefix, "", mtp);
    if (mixer == MixerKind::Attention)
      for (const auto& r : f_.attention) emit(r, prefix, "", mtp);
    if (mixer == MixerKind::Linear)
      for (const auto& r : f_.linear_rules) emit(r, prefix, "", mtp);
    if (ffn == FfnKind::Dense)
      for (const auto& r : f_.dense) emit(r, prefix, "", mtp);
    if (ffn == FfnKind::Moe) {
      for (const auto& r : f_.moe_rules) emit(r, prefix, "", mtp);
      const uint64_t experts = plan_.env.at("experts");
      char buf[24];
      for (uint64_t e = 0; e < experts; ++e) {
        auto res = std::to_chars(buf, buf + sizeof buf, e);
        std::string_view idx(buf, static_cast<size_t>(res.ptr - buf));
        for (const auto& r : f_.expert) emit(r, prefix, idx, mtp);
      }
    }
    if (extra)
      for (const auto& r : *extra) emit(r, prefix, "", mtp);
  }

  std::vector<LogicalTensor> take() { return std::move(out_); }

 private:
  // Conditions and shapes depend on the env only, so each rule is evaluated once.
  struct Evaluated {
    bool on = false;
    std::vector<uint64_t> shape;
  };

  void emit(const TensorRule& r, const std::string& prefix, std::string_view expert, bool mtp) {
    auto it = rules_.find(&r);
    if (it == rules_.end()) {
      Evaluated ev;
      ev.on = eval_when(r.when, plan_.env);
      if (ev.on) ev.shape = eval_shape(r.shape, plan_.env, config_name_);
      it = rules_.emplace(&r, std::move(ev)).first;
    }
    if (!it->second.on) return;
    LogicalTensor t;
    t.name = prefix;
    t.name += expand(r.name, plan_.model_prefix, head_, expert);
    t.shape = it->second.shape;
    t.comp = mtp ? Component::Other : r.comp;
    t.q = r.q;
    t.in_axis = r.in_axis;
    t.dtype = r.dtype;
    out_.push_back(std::move(t));
  }

  const ModelPlan& plan_;
  const Family& f_;
  const std::string& config_name_;
  std::string head_;
  std::map<const TensorRule*, Evaluated> rules_;
  std::vector<LogicalTensor> out_;
};

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::vector<LogicalTensor> logical_tensors(const ModelPlan& plan, uint64_t mtp_layers,
                                           const std::string& config_name) {
  const Family& f = *plan.family;
  Lister l(plan, config_name);
  l.global(f.pre);
  const std::string layers = plan.model_prefix + std::string(f.layers_name) + ".";
  for (size_t i = 0; i < plan.layers.size(); ++i)
    l.layer(layers + std::to_string(i) + ".", plan.layers[i].mixer, plan.layers[i].ffn, false);
  if (mtp_layers > 0) {
    const bool moe = plan.env.at("experts") > 0;
    const FfnKind ffn = moe ? FfnKind::Moe : FfnKind::Dense;
    if (f.mtp == MtpStyle::DeepSeek) {
      for (uint64_t j = 0; j < mtp_layers; ++j)
        l.layer(layers + std::to_string(plan.layers.size() + j) + ".", MixerKind::Attention, ffn,
                true, &f.mtp_extra);
    } else if (f.mtp == MtpStyle::Qwen) {
      l.global(f.mtp_extra, true);
      for (uint64_t j = 0; j < mtp_layers; ++j)
        l.layer("mtp.layers." + std::to_string(j) + ".", MixerKind::Attention, ffn, true);
    }
  }
  l.global(f.post);
  return l.take();
}

void mark_mtp_tensors(std::vector<TensorSpec>& tensors, uint64_t num_layers) {
  for (auto& t : tensors) {
    std::string_view n = t.name;
    if (n.substr(0, 4) == "mtp." || n.find(".mtp.") != std::string_view::npos) {
      t.component = Component::Other;
      continue;
    }
    // HF "...layers.<i>." and GGUF "blk.<i>."
    size_t pos = n.find("layers.");
    size_t skip = 7;
    if (pos == std::string_view::npos || (pos > 0 && n[pos - 1] != '.')) {
      if (n.substr(0, 4) != "blk.") continue;
      pos = 0;
      skip = 4;
    }
    auto rest = n.substr(pos + skip);
    auto idx = rest.substr(0, rest.find('.'));
    if (!all_digits(idx) || idx.size() > 9) continue;
    if (std::stoull(std::string(idx)) >= num_layers) t.component = Component::Other;
  }
}

ModelDims dims_of(const ModelPlan& plan) {
  const auto& e = plan.env;
  ModelDims d;
  d.hidden_size = e.at("hidden");
  d.intermediate_size = e.at("inter");
  d.num_layers = plan.layers.size();
  d.num_heads = e.at("heads");
  d.num_kv_heads = e.at("kv_heads");
  d.head_dim = plan.family->attn == AttnBlock::Mla ? e.at("q_head") : e.at("head_dim");
  d.vocab_size = e.at("vocab");
  d.max_position_embeddings = e.at("max_pos");
  bool moe = false;
  for (const auto& l : plan.layers) moe = moe || l.ffn == FfnKind::Moe;
  if (moe) {
    d.num_experts = e.at("experts");
    d.experts_per_token = e.at("top_k");
    d.moe_intermediate_size = e.at("moe_inter");
    if (e.at("has_shared")) d.shared_expert_intermediate_size = e.at("shared_inter");
  }
  return d;
}

}  // namespace arch

void fill_dims_and_layers(ModelSpec& spec, const nlohmann::json& config,
                          const std::string& config_name) {
  nlohmann::json normalized = normalize_config(config);
  arch::ModelPlan plan = arch::derive_plan(normalized, config_name);
  spec.architecture = std::string(plan.family->name);
  spec.model_type = plan.model_type;
  spec.dims = arch::dims_of(plan);
  spec.tie_word_embeddings = plan.env.at("tie") != 0;
  spec.layers.clear();
  for (const auto& l : plan.layers) spec.layers.push_back(l.cache);
  for (auto& w : plan.warnings) spec.warnings.push_back(std::move(w));
  spec.config = std::move(normalized);
}

ModelSpec analytic_spec(const nlohmann::json& config, const AnalyticOptions& options,
                        const std::string& config_name) {
  ModelSpec spec;
  spec.source = WeightSource::Analytic;
  spec.format = "config";
  nlohmann::json normalized = normalize_config(config);
  arch::ModelPlan plan = arch::derive_plan(normalized, config_name);
  arch::ConfigView cv(normalized, config_name);

  std::vector<std::string> warnings;
  DType fdt = options.float_dtype ? *options.float_dtype
                                  : arch::float_dtype_from_config(cv, warnings);
  if (fdt != DType::BF16 && fdt != DType::F16 && fdt != DType::F32)
    throw UsageError("arch", "float dtype must be bf16, f16 or f32 (got " +
                                 std::string(dtype_name(fdt)) + ")");
  arch::QuantScheme scheme =
      options.requantize ? arch::quant_scheme_from_request(*options.requantize, *plan.family)
                         : arch::quant_scheme_from_config(cv, *plan.family, fdt);

  // mlx-lm drops MTP weights when converting, so MLX layouts never hold them.
  const uint64_t mtp = scheme.quant.method == QuantMethod::Mlx ? 0 : plan.mtp_layers;
  if (mtp > 0)
    warnings.push_back("counting " + std::to_string(mtp) +
                       " multi-token-prediction layer(s) of the HF checkpoint under 'other'");
  if (normalized.contains("_mlxcel_has_vision") || normalized.contains("_mlxcel_has_audio"))
    warnings.push_back("vision/audio encoder weights are not derived from the config and not "
                       "counted; only the text model is");

  auto logical = arch::logical_tensors(plan, mtp, config_name);
  spec.tensors = arch::materialize_tensors(std::move(logical), scheme, fdt, config_name);
  spec.float_dtype = fdt;
  spec.quant = scheme.quant;
  spec.architecture = std::string(plan.family->name);
  spec.model_type = plan.model_type;
  spec.dims = arch::dims_of(plan);
  spec.tie_word_embeddings = plan.env.at("tie") != 0;
  for (const auto& l : plan.layers) spec.layers.push_back(l.cache);
  for (auto& w : plan.warnings) spec.warnings.push_back(std::move(w));
  for (auto& w : warnings) spec.warnings.push_back(std::move(w));
  spec.config = std::move(normalized);
  return spec;
}

}  // namespace mlxcel
