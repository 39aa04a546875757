// RoPE and the inverse-frequency tables of Hugging Face's rope_scaling types.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "kernels/cpu/kernels.h"
#include "mlxcel/errors.h"

namespace mlxcel::kernels {
namespace {

[[noreturn]] void bad_rope(const std::string& what) { throw ConfigError("kernels", "rope: " + what); }

double yarn_get_mscale(double scale, double mscale) {
  if (scale <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

// Dimension index where a frequency makes num_rotations turns over max_pos positions.
double yarn_correction_dim(double num_rotations, double dim, double base, double max_pos) {
  return (dim * std::log(max_pos / (num_rotations * 2.0 * std::numbers::pi))) /
         (2.0 * std::log(base));
}

}  // namespace

float rope_inv_freq(double theta, uint32_t rotary_dim, const RopeScaling& s, float* inv_freq) {
  if (rotary_dim == 0 || rotary_dim % 2 != 0) {
    bad_rope("rotary dimension must be even and > 0 (rotary_dim, " + std::to_string(rotary_dim) + ")");
  }
  if (!(theta > 0)) bad_rope("rope_theta must be > 0 (rope_theta, " + std::to_string(theta) + ")");
  if (inv_freq == nullptr) throw UsageError("kernels", "rope_inv_freq: inv_freq is null");
  const uint32_t half = rotary_dim / 2;
  const double dim = rotary_dim;
  auto base_freq = [&](uint32_t i) { return 1.0 / std::pow(theta, (2.0 * i) / dim); };
  if (s.type != RopeScalingType::Default && !(s.factor > 0)) {
    bad_rope("rope_scaling factor must be > 0 (factor, " + std::to_string(s.factor) + ")");
  }
  switch (s.type) {
    case RopeScalingType::Default:
      for (uint32_t i = 0; i < half; ++i) inv_freq[i] = static_cast<float>(base_freq(i));
      return 1.0f;
    case RopeScalingType::Linear:
      for (uint32_t i = 0; i < half; ++i) inv_freq[i] = static_cast<float>(base_freq(i) / s.factor);
      return 1.0f;
    case RopeScalingType::Llama3: {
      if (s.original_max_position_embeddings == 0) {
        bad_rope("llama3 scaling needs original_max_position_embeddings");
      }
      if (!(s.high_freq_factor > s.low_freq_factor) || !(s.low_freq_factor > 0)) {
        bad_rope("llama3 scaling needs high_freq_factor > low_freq_factor > 0 (low_freq_factor, " +
                 std::to_string(s.low_freq_factor) + ", high_freq_factor, " +
                 std::to_string(s.high_freq_factor) + ")");
      }
      const double old_ctx = static_cast<double>(s.original_max_position_embeddings);
      const double low_wavelen = old_ctx / s.low_freq_factor;
      const double high_wavelen = old_ctx / s.high_freq_factor;
      for (uint32_t i = 0; i < half; ++i) {
        const double f = base_freq(i);
        const double wavelen = 2.0 * std::numbers::pi / f;
        double out;
        if (wavelen < high_wavelen) {
          out = f;  // high frequency: unchanged
        } else if (wavelen > low_wavelen) {
          out = f / s.factor;  // low frequency: fully interpolated
        } else {
          const double smooth =
              (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
          out = (1.0 - smooth) * f / s.factor + smooth * f;
        }
        inv_freq[i] = static_cast<float>(out);
      }
      return 1.0f;
    }
    case RopeScalingType::Yarn: {
      if (s.original_max_position_embeddings == 0) {
        bad_rope("yarn scaling needs original_max_position_embeddings");
      }
      double attn = s.attention_factor;
      if (attn <= 0) {
        if (s.mscale > 0 && s.mscale_all_dim > 0) {
          attn = yarn_get_mscale(s.factor, s.mscale) / yarn_get_mscale(s.factor, s.mscale_all_dim);
        } else {
          attn = yarn_get_mscale(s.factor, 1.0);
        }
      }
      const double max_pos = static_cast<double>(s.original_max_position_embeddings);
      double low = yarn_correction_dim(s.beta_fast, dim, theta, max_pos);
      double high = yarn_correction_dim(s.beta_slow, dim, theta, max_pos);
      if (s.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
      }
      low = std::max(low, 0.0);
      high = std::min(high, dim - 1);
      if (low == high) high += 0.001;  // avoid a zero-width ramp
      for (uint32_t i = 0; i < half; ++i) {
        const double f = base_freq(i);
        const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
        const double extrapolation = 1.0 - ramp;  // weight of the unscaled frequency
        inv_freq[i] = static_cast<float>(f / s.factor * (1.0 - extrapolation) + f * extrapolation);
      }
      return static_cast<float>(attn);
    }
  }
  bad_rope("unknown scaling type");
}

void rope(float* x, uint64_t n_tokens, uint32_t n_heads, uint32_t head_dim, uint32_t rotary_dim,
          const float* inv_freq, RopeStyle style, uint64_t pos0, const uint64_t* positions,
          float attention_factor, uint32_t head_stride) {
  if (rotary_dim == 0 || rotary_dim % 2 != 0 || rotary_dim > head_dim) {
    throw UsageError("kernels", "rope: rotary_dim must be even, > 0 and <= head_dim (rotary_dim, " +
                                    std::to_string(rotary_dim) + ")");
  }
  if (x == nullptr || inv_freq == nullptr) throw UsageError("kernels", "rope: null pointer");
  const uint64_t hs = head_stride ? head_stride : head_dim;
  if (hs < head_dim) throw UsageError("kernels", "rope: head_stride smaller than head_dim");
  const uint32_t half = rotary_dim / 2;
  auto tokens = [&](uint64_t t0, uint64_t t1) {
    constexpr uint32_t kBlock = 128;
    float cs[kBlock], sn[kBlock];
    for (uint64_t t = t0; t < t1; ++t) {
      const uint64_t pos = positions ? positions[t] : pos0 + t;
      const float p = static_cast<float>(pos);
      float* xt = x + t * n_heads * hs;
      for (uint32_t b0 = 0; b0 < half; b0 += kBlock) {
        const uint32_t b1 = std::min(half, b0 + kBlock);
        for (uint32_t i = b0; i < b1; ++i) {
          const float angle = p * inv_freq[i];
          cs[i - b0] = std::cos(angle) * attention_factor;
          sn[i - b0] = std::sin(angle) * attention_factor;
        }
        for (uint32_t h = 0; h < n_heads; ++h) {
          float* v = xt + h * hs;
          if (style == RopeStyle::Neox) {
            for (uint32_t i = b0; i < b1; ++i) {
              const float a = v[i], b = v[i + half];
              v[i] = a * cs[i - b0] - b * sn[i - b0];
              v[i + half] = b * cs[i - b0] + a * sn[i - b0];
            }
          } else {
            for (uint32_t i = b0; i < b1; ++i) {
              const float a = v[2 * i], b = v[2 * i + 1];
              v[2 * i] = a * cs[i - b0] - b * sn[i - b0];
              v[2 * i + 1] = b * cs[i - b0] + a * sn[i - b0];
            }
          }
        }
      }
    }
  };
  if (n_tokens < 8) {
    tokens(0, n_tokens);
  } else {
    parallel_for(n_tokens, 1, [&](uint64_t b, uint64_t e, uint32_t) { tokens(b, e); });
  }
}

}  // namespace mlxcel::kernels
