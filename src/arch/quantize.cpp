#include "arch/quantize.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "core/checked.h"
#include "mlxcel/errors.h"

namespace mlxcel::arch {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Module path of a parameter: "x.q_proj.weight" -> "x.q_proj"; fused parameters without a
// ".weight" suffix ("mlp.experts.gate_up_proj") are their own module.
std::string module_of(const std::string& name) {
  if (ends_with(name, ".weight")) return name.substr(0, name.size() - 7);
  return name;
}

// MLX per-layer overrides use MLX module paths ("language_model.model.layers.0.mlp.switch_mlp.
// gate_proj"); HF names differ in wrapper prefixes and per-expert indices. Both map to one key.
std::string canonical_module(const std::string& path) {
  std::string out;
  size_t start = 0;
  bool after_experts = false;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string::npos) dot = path.size();
    std::string tok = path.substr(start, dot - start);
    start = dot + 1;
    if (tok == "model" || tok == "language_model") continue;
    if (tok == "switch_mlp") tok = "experts";
    const bool numeric = !tok.empty() && std::all_of(tok.begin(), tok.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    if (after_experts && numeric) {
      after_experts = false;
      continue;
    }
    after_experts = tok == "experts";
    out += (out.empty() ? "" : ".") + tok;
  }
  return out;
}

// fnmatch-style '*' over the whole string.
bool glob_match(std::string_view pat, std::string_view s) {
  size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pat.size() && pat[p] == s[i]) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

// transformers' exclusion semantics: a plain entry matches as a substring of the module path; a
// wildcard entry matches the module or one of its parent modules.
bool excluded(const std::vector<std::string>& patterns, const std::string& module) {
  for (const auto& pat : patterns) {
    if (pat.find('*') == std::string::npos) {
      if (module.find(pat) != std::string::npos) return true;
      continue;
    }
    size_t pos = 0;
    for (;;) {
      size_t dot = module.find('.', pos);
      std::string_view prefix(module.data(), dot == std::string::npos ? module.size() : dot);
      if (glob_match(pat, prefix)) return true;
      if (dot == std::string::npos) break;
      pos = dot + 1;
    }
  }
  return false;
}

uint32_t json_u32(const nlohmann::json& j, const char* key, uint32_t fallback,
                  const std::string& config_name, const char* where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_number_integer() && it->get<int64_t>() > 0 && it->get<int64_t>() <= 1 << 20)
    return static_cast<uint32_t>(it->get<int64_t>());
  throw ConfigError("arch", std::string("expected a positive integer (") + config_name + ", " +
                                where + "." + key + ", " + it->dump() + ")");
}

std::vector<std::string> string_list(const nlohmann::json& qc, const char* key,
                                     const std::string& config_name) {
  std::vector<std::string> out;
  auto it = qc.find(key);
  if (it == qc.end() || it->is_null()) return out;
  if (!it->is_array())
    throw ConfigError("arch", std::string("expected an array of module names (") + config_name +
                                  ", quantization_config." + key + ")");
  for (const auto& e : *it)
    if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

void check_bits(uint32_t bits, const std::string& config_name, const char* where) {
  if (bits == 2 || bits == 3 || bits == 4 || bits == 5 || bits == 6 || bits == 8) return;
  throw ConfigError("arch", "unsupported quantization bits (" + config_name + ", " + where +
                                ".bits, " + std::to_string(bits) + ")");
}

QuantScheme mlx_scheme(const nlohmann::json& q, const std::string& config_name, const char* where) {
  QuantScheme s;
  s.quant.method = QuantMethod::Mlx;
  if (!q.contains("bits"))
    throw ConfigError("arch", std::string("missing required field (") + config_name + ", " +
                                  where + ".bits)");
  s.mlx_mode = q.contains("mode") && q["mode"].is_string() ? q["mode"].get<std::string>() : "affine";
  const uint32_t default_group = s.mlx_mode == "nvfp4" ? 16 : s.mlx_mode == "affine" ? 64 : 32;
  s.quant.bits = json_u32(q, "bits", 4, config_name, where);
  s.quant.group_size = json_u32(q, "group_size", default_group, config_name, where);
  check_bits(s.quant.bits, config_name, where);
  if (s.mlx_mode != "affine" && s.mlx_mode != "mxfp4" && s.mlx_mode != "nvfp4" &&
      s.mlx_mode != "mxfp8")
    throw ConfigError("arch", "unsupported MLX quantization mode (" + config_name + ", " + where +
                                  ".mode, " + s.mlx_mode + ")");
  for (const auto& [key, value] : q.items()) {
    if (value.is_object() || value.is_boolean()) s.mlx_overrides[canonical_module(key)] = value;
  }
  return s;
}

struct Out {
  std::vector<TensorSpec>& v;
  const std::string& config_name;
  void add(std::string name, std::vector<uint64_t> shape, DType dt, Component c) {
    auto n = checked_product(shape);
    auto bytes = n ? dtype_bytes(dt, *n) : std::nullopt;
    if (!bytes)
      throw ConfigError("arch", "tensor size overflows or is not whole blocks (" + config_name +
                                    ", " + name + ")");
    TensorSpec t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.dtype = dt;
    t.bytes = *bytes;
    t.component = c;
    v.push_back(std::move(t));
  }
};

uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

}  // namespace

DType float_dtype_from_config(const ConfigView& cv, std::vector<std::string>& warnings) {
  auto s = cv.get_string("torch_dtype");
  if (!s) {
    warnings.push_back("config has no torch_dtype/dtype; assuming bfloat16");
    return DType::BF16;
  }
  const std::string v = lower(*s);
  if (v == "bfloat16" || v == "bf16") return DType::BF16;
  if (v == "float16" || v == "fp16" || v == "half") return DType::F16;
  if (v == "float32" || v == "fp32" || v == "float") return DType::F32;
  cv.fail(cv.spelling("torch_dtype"), "unsupported float dtype '" + *s + "'");
}

QuantScheme quant_scheme_from_config(const ConfigView& cv, const Family& family,
                                     DType float_dtype) {
  const auto& cfg = cv.json();
  auto mq = cfg.find("quantization");
  if (mq != cfg.end() && mq->is_object()) return mlx_scheme(*mq, cv.name(), "quantization");

  auto qit = cfg.find("quantization_config");
  if (qit == cfg.end() || qit->is_null()) return {};
  if (!qit->is_object())
    throw ConfigError("arch", "quantization_config is not an object (" + cv.name() + ")");
  const auto& qc = *qit;
  if (!qc.contains("quant_method")) {
    if (qc.contains("bits")) return mlx_scheme(qc, cv.name(), "quantization_config");
    throw ConfigError("arch", "missing required field (" + cv.name() +
                                  ", quantization_config.quant_method)");
  }
  if (!qc["quant_method"].is_string())
    throw ConfigError("arch", "quant_method is not a string (" + cv.name() + ")");
  const std::string method = lower(qc["quant_method"].get<std::string>());

  QuantScheme s;
  s.not_convert = string_list(qc, "modules_to_not_convert", cv.name());
  for (const char* key : {"ignored_layers", "ignore"})
    for (auto& m : string_list(qc, key, cv.name())) s.not_convert.push_back(std::move(m));

  if (method == "fp8") {
    s.quant.method = QuantMethod::Fp8;
    s.quant.bits = 8;
    auto bs = qc.find("weight_block_size");
    if (bs == qc.end() || !bs->is_array() || bs->size() != 2)
      throw ConfigError("arch", "fp8 without a two-element weight_block_size is not supported (" +
                                    cv.name() + ", quantization_config.weight_block_size)");
    for (const auto& b : *bs) {
      if (!b.is_number_integer() || b.get<int64_t>() <= 0 || b.get<int64_t>() > 1 << 20)
        throw ConfigError("arch", "invalid weight_block_size (" + cv.name() +
                                      ", quantization_config.weight_block_size, " + bs->dump() + ")");
      s.quant.weight_block_size.push_back(static_cast<uint32_t>(b.get<int64_t>()));
    }
    s.fp8_scale_dtype = family.fp8_scales_float ? float_dtype : DType::F32;
    return s;
  }
  if (method == "gptq" || method == "awq") {
    s.quant.method = method == "gptq" ? QuantMethod::Gptq : QuantMethod::Awq;
    const char* bits_key = !qc.contains("bits") && qc.contains("w_bit") ? "w_bit" : "bits";
    s.quant.bits = json_u32(qc, bits_key, 4, cv.name(), "quantization_config");
    check_bits(s.quant.bits, cv.name(), "quantization_config");
    const char* group_key = !qc.contains("group_size") && qc.contains("q_group_size")
                                ? "q_group_size" : "group_size";
    auto g = qc.find(group_key);
    if (g != qc.end() && g->is_number_integer() && g->get<int64_t>() == -1) {
      s.quant.group_size = 0;  // one group over the whole input
    } else {
      s.quant.group_size = json_u32(qc, group_key, 128, cv.name(), "quantization_config");
    }
    return s;
  }
  if (method == "mxfp4") {
    s.quant.method = QuantMethod::Mxfp4;
    s.quant.bits = 4;
    s.quant.group_size = 32;
    return s;
  }
  throw ConfigError("arch", "unsupported quantization method (" + cv.name() +
                                ", quantization_config.quant_method, " + method + ")");
}

QuantScheme quant_scheme_from_request(const Quantization& q, const Family& family) {
  QuantScheme s;
  s.quant = q;
  if (q.method == QuantMethod::Mlx) {
    if (s.quant.group_size == 0) s.quant.group_size = 64;
    if (s.quant.bits == 0) s.quant.bits = 4;
    check_bits(s.quant.bits, "what-if", "requantize");
    s.mlx_router_bits = family.mlx_router_bits;
  } else if (q.method == QuantMethod::Fp8) {
    if (s.quant.weight_block_size.size() != 2) s.quant.weight_block_size = {128, 128};
    s.quant.bits = 8;
  } else if (q.method == QuantMethod::Gptq || q.method == QuantMethod::Awq) {
    if (s.quant.bits == 0) s.quant.bits = 4;
    check_bits(s.quant.bits, "what-if", "requantize");
  } else if (q.method == QuantMethod::Gguf) {
    throw UsageError("arch", "a GGUF type cannot be derived analytically from a config");
  } else if (q.method == QuantMethod::Mxfp4) {
    // Which modules an MXFP4 checkpoint keeps in float is its own modules_to_not_convert list.
    throw UsageError("arch", "an MXFP4 layout is read from a checkpoint's quantization_config, "
                             "not derived as a what-if (requantize, mxfp4)");
  }
  return s;
}

std::vector<TensorSpec> materialize_tensors(std::vector<LogicalTensor> logical,
                                            const QuantScheme& s, DType float_dtype,
                                            const std::string& config_name) {
  std::vector<TensorSpec> out;
  out.reserve(logical.size() * (s.quant.method == QuantMethod::None ? 1 : 3));
  Out o{out, config_name};
  for (auto& t : logical) {
    const DType fdt = t.dtype.value_or(float_dtype);
    const bool matrix = t.shape.size() >= 2;
    if (!matrix || t.q == QClass::Float || s.quant.method == QuantMethod::None) {
      o.add(std::move(t.name), std::move(t.shape), fdt, t.comp);
      continue;
    }
    const size_t axis = t.in_axis < 0 ? t.shape.size() - 1 : static_cast<size_t>(t.in_axis);
    const uint64_t in = t.shape[axis];
    std::vector<uint64_t> outer;  // every other dim, in order: [..batch, out]
    for (size_t i = 0; i < t.shape.size(); ++i)
      if (i != axis) outer.push_back(t.shape[i]);
    const uint64_t out_dim = outer.back();
    const std::string module = module_of(t.name);
    auto with = [&](std::vector<uint64_t> dims, std::initializer_list<uint64_t> tail) {
      dims.insert(dims.end(), tail);
      return dims;
    };
    auto batch_and = [&](std::initializer_list<uint64_t> tail) {
      std::vector<uint64_t> dims(outer.begin(), outer.end() - 1);
      dims.insert(dims.end(), tail);
      return dims;
    };

    if (s.quant.method == QuantMethod::Mlx) {
      uint32_t bits = s.quant.bits, group = s.quant.group_size;
      std::string mode = s.mlx_mode;
      bool quantize = true;
      auto ov = s.mlx_overrides.find(canonical_module(module));
      if (ov != s.mlx_overrides.end()) {
        if (ov->is_boolean()) {
          quantize = ov->get<bool>();
        } else {
          bits = json_u32(*ov, "bits", bits, config_name, module.c_str());
          group = json_u32(*ov, "group_size", group, config_name, module.c_str());
          if (ov->contains("mode") && (*ov)["mode"].is_string()) mode = (*ov)["mode"];
        }
      } else if (t.q == QClass::Router && s.mlx_router_bits) {
        bits = s.mlx_router_bits;
        group = 64;
      }
      // mlx-lm's predicate: quantize modules whose input dim divides by the group size.
      if (quantize && group > 0 && in % group == 0 && (in * bits) % 32 == 0) {
        const DType scale_dt = mode == "affine" ? fdt : mode == "nvfp4" ? DType::F8_E4M3 : DType::U8;
        const std::string w = ends_with(t.name, ".weight") ? t.name : t.name + ".weight";
        o.add(w, with(outer, {in * bits / 32}), DType::U32, t.comp);
        o.add(module + ".scales", with(outer, {in / group}), scale_dt, t.comp);
        if (mode == "affine") o.add(module + ".biases", with(outer, {in / group}), fdt, t.comp);
        continue;
      }
      o.add(t.name, t.shape, fdt, t.comp);
      continue;
    }

    const bool decoder_linear = t.q == QClass::Linear && !excluded(s.not_convert, module);
    if (s.quant.method == QuantMethod::Fp8 && decoder_linear) {
      const uint64_t b0 = s.quant.weight_block_size[0], b1 = s.quant.weight_block_size[1];
      o.add(t.name, t.shape, DType::F8_E4M3, t.comp);
      const std::string scale = ends_with(t.name, ".weight") ? module + ".weight_scale_inv"
                                                            : t.name + "_scale_inv";
      o.add(scale, batch_and({ceil_div(out_dim, b0), ceil_div(in, b1)}), s.fp8_scale_dtype, t.comp);
      continue;
    }
    if ((s.quant.method == QuantMethod::Gptq || s.quant.method == QuantMethod::Awq) &&
        decoder_linear) {
      const uint64_t bits = s.quant.bits;
      const uint64_t group = s.quant.group_size == 0 ? in : s.quant.group_size;
      if (in % group == 0 && (in * bits) % 32 == 0 && (out_dim * bits) % 32 == 0) {
        const uint64_t groups = in / group;
        if (s.quant.method == QuantMethod::Gptq) {
          o.add(module + ".qweight", batch_and({in * bits / 32, out_dim}), DType::I32, t.comp);
          o.add(module + ".qzeros", batch_and({groups, out_dim * bits / 32}), DType::I32, t.comp);
          o.add(module + ".scales", batch_and({groups, out_dim}), DType::F16, t.comp);
          o.add(module + ".g_idx", batch_and({in}), DType::I32, t.comp);
        } else {
          o.add(module + ".qweight", batch_and({in, out_dim * bits / 32}), DType::I32, t.comp);
          o.add(module + ".qzeros", batch_and({groups, out_dim * bits / 32}), DType::I32, t.comp);
          o.add(module + ".scales", batch_and({groups, out_dim}), DType::F16, t.comp);
        }
        continue;
      }
    }
    if (s.quant.method == QuantMethod::Mxfp4 && decoder_linear && in % 32 == 0) {
      // 32 FP4 values (16 bytes) per block, one E8M0 scale byte per block.
      o.add(module + "_blocks", with(outer, {in / 32, 16}), DType::U8, t.comp);
      o.add(module + "_scales", with(outer, {in / 32}), DType::U8, t.comp);
      continue;
    }
    o.add(t.name, t.shape, fdt, t.comp);
  }
  return out;
}

}  // namespace mlxcel::arch
