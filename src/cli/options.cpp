#include "cli/options.h"

#include <fmt/format.h>

#include <charconv>
#include <cctype>

#include "mlxcel/errors.h"

namespace mlxcel::cli {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool parse_u32(std::string_view s, uint32_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

}  // namespace

uint64_t parse_count_option(std::string_view text, std::string_view option, uint64_t max) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty() || v == 0 || v > max)
    throw UsageError("cli", fmt::format("invalid {} value '{}': expected a whole number from 1 to {}",
                                        option, text, max));
  return v;
}

KvCacheType parse_cache_type_option(std::string_view text, std::string_view option) {
  if (auto t = kv_cache_type_from_name(text)) return *t;
  throw UsageError("cli", fmt::format("invalid {} value '{}': expected one of {}", option, text,
                                      kCacheTypesHelp));
}

AnalyticOptions parse_quant_option(std::string_view text, std::string_view option) {
  const std::string q = lower(text);
  AnalyticOptions o;
  auto floats = [&](DType d) {
    o.requantize = Quantization{};  // method None: plain floats
    o.float_dtype = d;
    return o;
  };
  auto mlx = [&](uint32_t bits, uint32_t group) {
    Quantization m;
    m.method = QuantMethod::Mlx;
    m.bits = bits;
    m.group_size = group;
    o.requantize = m;
    return o;
  };
  if (q == "bf16") return floats(DType::BF16);
  if (q == "f16" || q == "fp16") return floats(DType::F16);
  if (q == "f32" || q == "fp32") return floats(DType::F32);
  if (q == "8bit") return mlx(8, 64);
  if (q == "4bit") return mlx(4, 64);
  // mlx-<N>bit-g<G>
  if (q.rfind("mlx-", 0) == 0) {
    auto bit = q.find("bit-g", 4);
    uint32_t bits = 0, group = 0;
    if (bit != std::string::npos && parse_u32(std::string_view(q).substr(4, bit - 4), bits) &&
        parse_u32(std::string_view(q).substr(bit + 5), group)) {
      bool bits_ok = bits == 2 || bits == 3 || bits == 4 || bits == 5 || bits == 6 || bits == 8;
      bool group_ok = group == 32 || group == 64 || group == 128;
      if (bits_ok && group_ok) return mlx(bits, group);
    }
  }
  throw UsageError("cli", fmt::format("invalid {} value '{}': expected one of {}", option, text,
                                      kQuantHelp));
}

}  // namespace mlxcel::cli
