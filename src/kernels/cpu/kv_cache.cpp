// KV cache row formats: quantize a row of head_dim floats into the cache's bytes and back.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/checked.h"
#include "kernels/cpu/common.h"
#include "kernels/cpu/kv_rows.h"
#include "mlxcel/errors.h"

namespace mlxcel::kernels {
namespace {

std::string type_label(KvCacheType t) {
  switch (t) {
    case KvCacheType::F32: return "f32";
    case KvCacheType::F16: return "f16";
    case KvCacheType::BF16: return "bf16";
    case KvCacheType::Q8_0: return "q8_0";
    case KvCacheType::Q4_0: return "q4_0";
    case KvCacheType::Q4_1: return "q4_1";
    case KvCacheType::Q5_0: return "q5_0";
    case KvCacheType::Q5_1: return "q5_1";
    case KvCacheType::Q8: return "q8";
    case KvCacheType::Q4: return "q4";
  }
  return "unknown";
}

void store_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  std::memcpy(p, &h, 2);
}
float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void quantize_q8_0(const float* x, uint64_t d, uint8_t* out) {
  for (uint64_t b = 0; b < d / 32; ++b, x += 32, out += 34) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float scale = amax / 127.0f;
    const float id = scale > 0 ? 1.0f / scale : 0.0f;
    store_f16(out, scale);
    for (int i = 0; i < 32; ++i) {
      out[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(std::nearbyint(x[i] * id)));
    }
  }
}

void quantize_q4_0(const float* x, uint64_t d, uint8_t* out) {
  for (uint64_t b = 0; b < d / 32; ++b, x += 32, out += 18) {
    float amax = 0, mx = 0;  // mx: the value of largest magnitude, with its sign
    for (int i = 0; i < 32; ++i) {
      if (std::fabs(x[i]) > amax) {
        amax = std::fabs(x[i]);
        mx = x[i];
      }
    }
    const float scale = mx / -8.0f;
    const float id = scale != 0 ? 1.0f / scale : 0.0f;
    store_f16(out, scale);
    for (int j = 0; j < 16; ++j) {
      const int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
      const int hi = std::min(15, static_cast<int>(x[j + 16] * id + 8.5f));
      out[2 + j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

// q4_1 / q5_1: scale = (max - min) / levels and min, both f16; codes (x - min) / scale rounded.
// q5_0: as q4_0 with 32 levels, the fifth bits gathered in a 32-bit word (bit j = element j).
// Layouts as ggml's block_q4_1 / block_q5_0 / block_q5_1; nibble j holds elements j and j + 16.
void quantize_min_scale(const float* x, uint64_t d, uint8_t* out, int bits) {
  const int levels = (1 << bits) - 1;
  const uint64_t block_bytes = bits == 4 ? 20 : 24;
  for (uint64_t b = 0; b < d / 32; ++b, x += 32, out += block_bytes) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < 32; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    const float scale = (hi - lo) / static_cast<float>(levels);
    const float id = scale > 0 ? 1.0f / scale : 0.0f;
    store_f16(out, scale);
    store_f16(out + 2, lo);
    uint8_t* qs = out + (bits == 4 ? 4 : 8);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(levels, static_cast<int>((x[j] - lo) * id + 0.5f));
      const int q1 = std::min(levels, static_cast<int>((x[j + 16] - lo) * id + 0.5f));
      qs[j] = static_cast<uint8_t>((q0 & 0xf) | ((q1 & 0xf) << 4));
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + 16);
    }
    if (bits == 5) std::memcpy(out + 4, &qh, 4);
  }
}

void quantize_q5_0(const float* x, uint64_t d, uint8_t* out) {
  for (uint64_t b = 0; b < d / 32; ++b, x += 32, out += 22) {
    float amax = 0, mx = 0;  // mx: the value of largest magnitude, with its sign
    for (int i = 0; i < 32; ++i) {
      if (std::fabs(x[i]) > amax) {
        amax = std::fabs(x[i]);
        mx = x[i];
      }
    }
    const float scale = mx / -16.0f;
    const float id = scale != 0 ? 1.0f / scale : 0.0f;
    store_f16(out, scale);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(31, static_cast<int>(x[j] * id + 16.5f));
      const int q1 = std::min(31, static_cast<int>(x[j + 16] * id + 16.5f));
      out[6 + j] = static_cast<uint8_t>((q0 & 0xf) | ((q1 & 0xf) << 4));
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + 16);
    }
    std::memcpy(out + 2, &qh, 4);
  }
}

// The 32 codes of a q4_1 / q5_0 / q5_1 block (q5: low nibble plus the bit from qh).
void block_codes(const uint8_t* qs, const uint8_t* qh_bytes, int out[32]) {
  uint32_t qh = 0;
  if (qh_bytes) std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 16; ++j) {
    out[j] = (qs[j] & 0xf) | static_cast<int>(((qh >> j) & 1) << 4);
    out[j + 16] = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
  }
}

// MLX-style affine group of 64: scale = (max-min)/levels, bias = min, both rounded to f16 first
// so the codes are chosen against the values dequantization will use.
void quantize_affine(const float* x, uint64_t d, uint8_t* out, int bits) {
  const int levels = (1 << bits) - 1;
  const uint64_t packed = 64 * bits / 8;
  for (uint64_t g = 0; g < d / 64; ++g, x += 64, out += packed + 4) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < 64; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    const float scale = f16_to_f32(f32_to_f16((hi - lo) / static_cast<float>(levels)));
    const float bias = f16_to_f32(f32_to_f16(lo));
    const float inv = scale > 0 ? 1.0f / scale : 0.0f;
    uint8_t q[64];
    for (int i = 0; i < 64; ++i) {
      q[i] = static_cast<uint8_t>(std::clamp(static_cast<int>(std::nearbyint((x[i] - bias) * inv)), 0, levels));
    }
    if (bits == 8) {
      std::memcpy(out, q, 64);
    } else {
      for (int j = 0; j < 32; ++j) out[j] = static_cast<uint8_t>(q[2 * j] | (q[2 * j + 1] << 4));
    }
    store_f16(out + packed, scale);
    store_f16(out + packed + 2, bias);
  }
}

}  // namespace

bool kv_type_supported(KvCacheType t) {
  switch (t) {
    case KvCacheType::F32:
    case KvCacheType::F16:
    case KvCacheType::BF16:
    case KvCacheType::Q8_0:
    case KvCacheType::Q4_0:
    case KvCacheType::Q4_1:
    case KvCacheType::Q5_0:
    case KvCacheType::Q5_1:
    case KvCacheType::Q8:
    case KvCacheType::Q4: return true;
  }
  return false;
}

uint64_t kv_cache_row_bytes(KvCacheType t, uint64_t head_dim) {
  if (!kv_type_supported(t)) {
    throw UsageError("kernels", "KV cache type not supported by the CPU kernels (cache type, " +
                                    type_label(t) + ")");
  }
  const KvRowFormat f = kv_row_format(t);
  if (head_dim == 0 || head_dim % f.block != 0) {
    throw UsageError("kernels", "head_dim is not a whole number of " + type_label(t) +
                                    " blocks (head_dim, " + std::to_string(head_dim) +
                                    ", block " + std::to_string(f.block) + ")");
  }
  return head_dim / f.block * f.block_bytes;
}

void kv_quantize_row(KvCacheType t, const float* src, uint64_t d, void* dst) {
  kv_cache_row_bytes(t, d);  // validates
  auto* out = static_cast<uint8_t*>(dst);
  switch (t) {
    case KvCacheType::F32: std::memcpy(out, src, d * 4); return;
    case KvCacheType::F16:
      for (uint64_t i = 0; i < d; ++i) store_f16(out + 2 * i, src[i]);
      return;
    case KvCacheType::BF16:
      for (uint64_t i = 0; i < d; ++i) {
        const uint16_t h = f32_to_bf16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case KvCacheType::Q8_0: quantize_q8_0(src, d, out); return;
    case KvCacheType::Q4_0: quantize_q4_0(src, d, out); return;
    case KvCacheType::Q4_1: quantize_min_scale(src, d, out, 4); return;
    case KvCacheType::Q5_0: quantize_q5_0(src, d, out); return;
    case KvCacheType::Q5_1: quantize_min_scale(src, d, out, 5); return;
    case KvCacheType::Q8: quantize_affine(src, d, out, 8); return;
    case KvCacheType::Q4: quantize_affine(src, d, out, 4); return;
    default: return;
  }
}

void kv_dequantize_row(KvCacheType t, const void* src, uint64_t d, float* dst) {
  kv_cache_row_bytes(t, d);  // validates
  const auto* p = static_cast<const uint8_t*>(src);
  switch (t) {
    case KvCacheType::F32: std::memcpy(dst, p, d * 4); return;
    case KvCacheType::F16:
      for (uint64_t i = 0; i < d; ++i) dst[i] = load_f16(p + 2 * i);
      return;
    case KvCacheType::BF16:
      for (uint64_t i = 0; i < d; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    case KvCacheType::Q8_0:
      for (uint64_t b = 0; b < d / 32; ++b, p += 34) {
        const float s = load_f16(p);
        for (int i = 0; i < 32; ++i) dst[b * 32 + i] = s * static_cast<int8_t>(p[2 + i]);
      }
      return;
    case KvCacheType::Q4_0:
      for (uint64_t b = 0; b < d / 32; ++b, p += 18) {
        const float s = load_f16(p);
        for (int j = 0; j < 16; ++j) {
          dst[b * 32 + j] = s * static_cast<float>((p[2 + j] & 0xf) - 8);
          dst[b * 32 + j + 16] = s * static_cast<float>((p[2 + j] >> 4) - 8);
        }
      }
      return;
    case KvCacheType::Q4_1:
    case KvCacheType::Q5_0:
    case KvCacheType::Q5_1: {
      const KvRowFormat f = kv_row_format(t);
      int q[32];
      for (uint64_t b = 0; b < d / 32; ++b, p += f.block_bytes) {
        const float s = load_f16(p);
        if (t == KvCacheType::Q5_0) {
          block_codes(p + 6, p + 2, q);
          for (int i = 0; i < 32; ++i) dst[b * 32 + i] = s * static_cast<float>(q[i] - 16);
        } else {
          const float m = load_f16(p + 2);
          block_codes(p + (t == KvCacheType::Q4_1 ? 4 : 8), t == KvCacheType::Q5_1 ? p + 4 : nullptr, q);
          for (int i = 0; i < 32; ++i) dst[b * 32 + i] = s * static_cast<float>(q[i]) + m;
        }
      }
      return;
    }
    case KvCacheType::Q8:
    case KvCacheType::Q4: {
      const int bits = t == KvCacheType::Q8 ? 8 : 4;
      const uint64_t packed = 64 * bits / 8;
      for (uint64_t g = 0; g < d / 64; ++g, p += packed + 4) {
        const float s = load_f16(p + packed), b = load_f16(p + packed + 2);
        for (int i = 0; i < 64; ++i) {
          const uint32_t q = bits == 8 ? p[i] : ((p[i / 2] >> ((i & 1) * 4)) & 0xf);
          dst[g * 64 + i] = s * static_cast<float>(q) + b;
        }
      }
      return;
    }
    default: return;
  }
}

uint64_t kv_cache_bytes(const KvCacheView& c) {
  const uint64_t row = kv_cache_row_bytes(c.type, c.head_dim);
  auto rows = checked_mul(c.n_kv_heads, c.capacity);
  auto bytes = rows ? checked_mul(*rows, row) : std::nullopt;
  if (!bytes) throw UsageError("kernels", "KV cache size overflows (capacity, " + std::to_string(c.capacity) + ")");
  return *bytes;
}

void kv_store(const KvCacheView& c, const float* src, uint64_t n_tokens, uint64_t pos0,
              uint64_t src_stride) {
  const uint64_t row = kv_cache_row_bytes(c.type, c.head_dim);
  if (c.data == nullptr || src == nullptr) throw UsageError("kernels", "kv_store: null pointer");
  if (c.capacity == 0 || c.n_kv_heads == 0) throw UsageError("kernels", "kv_store: empty cache");
  if (n_tokens == 0) return;
  const uint64_t ss = src_stride ? src_stride : uint64_t{c.n_kv_heads} * c.head_dim;
  if (ss < uint64_t{c.n_kv_heads} * c.head_dim) {
    throw UsageError("kernels", "kv_store: src_stride smaller than n_kv_heads*head_dim");
  }
  const uint64_t first = n_tokens > c.capacity ? n_tokens - c.capacity : 0;
  const uint64_t count = n_tokens - first;
  auto* base = static_cast<uint8_t*>(c.data);
  auto work = [&](uint64_t b, uint64_t e) {
    for (uint64_t i = b; i < e; ++i) {
      const uint64_t t = first + i / c.n_kv_heads;
      const uint64_t h = i % c.n_kv_heads;
      const uint64_t slot = (pos0 + t) % c.capacity;
      kv_quantize_row(c.type, src + t * ss + h * c.head_dim, c.head_dim,
                      base + (h * c.capacity + slot) * row);
    }
  };
  const uint64_t total = count * c.n_kv_heads;
  if (total < 64) {
    work(0, total);
  } else {
    parallel_for(total, 1, [&](uint64_t b, uint64_t e, uint32_t) { work(b, e); });
  }
}

}  // namespace mlxcel::kernels
