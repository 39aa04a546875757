// Shared helpers for the kernel tests: random data, reference weights, ISA iteration.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/kernels.h"

namespace mlxcel::kernels::test {

// Every ISA level this machine supports, lowest first.
inline std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16}) {
    if (i <= best_isa()) out.push_back(i);
  }
  return out;
}

// Sets an ISA level and thread count for a scope.
class IsaScope {
 public:
  IsaScope(Isa isa, uint32_t threads) : prev_isa_(set_isa(isa)), prev_threads_(num_threads()) {
    set_num_threads(threads);
  }
  ~IsaScope() {
    set_isa(prev_isa_);
    set_num_threads(prev_threads_);
  }

 private:
  Isa prev_isa_;
  uint32_t prev_threads_;
};

inline std::string isa_label(Isa isa, uint32_t threads) {
  return std::string(isa_name(isa)) + "/t" + std::to_string(threads);
}

inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo = -1, float hi = 1) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Independent conversions for references (not the library's).
inline float ref_bf16(uint16_t h) {
  uint32_t u = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t ref_to_bf16_trunc(float f) {  // truncation is fine for making test data
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>(u >> 16);
}
inline float ref_f16(uint16_t h) {
  const int s = (h >> 15) & 1, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 0) {
    v = std::ldexp(static_cast<double>(m), -24);
  } else {
    v = std::ldexp(1.0 + m / 1024.0, e - 15);
  }
  return static_cast<float>(s ? -v : v);
}
// Only for normal values in f16 range; rounds to nearest by searching the two neighbours.
inline uint16_t ref_to_f16(float f) {
  const int s = f < 0;
  double a = std::fabs(f);
  if (a < std::ldexp(1.0, -14)) {
    const long m = std::lround(a / std::ldexp(1.0, -24));
    return static_cast<uint16_t>((s << 15) | m);
  }
  int e;
  std::frexp(a, &e);  // a = frac * 2^e, frac in [0.5, 1)
  const double step = std::ldexp(1.0, e - 11);
  const double mant = std::nearbyint(a / step) * step;
  int e2;
  const double frac = std::frexp(mant, &e2);
  const int exp = e2 - 1 + 15;
  const int m = static_cast<int>(std::lround((frac * 2 - 1) * 1024));
  return static_cast<uint16_t>((s << 15) | (exp << 10) | m);
}

// A test weight in one of the formats with its dequantized values.
struct TestWeight {
  DType dtype = DType::F32;
  uint32_t bits = 0, group = 0;
  DType scale_dtype = DType::F16;
  uint64_t rows = 0, cols = 0;
  std::vector<uint32_t> words;  // data (u32 words; dense formats reuse it as raw bytes)
  std::vector<uint16_t> scales16, biases16;
  std::vector<float> scales32, biases32;  // F32 scale_dtype
  std::vector<double> deq;  // [rows, cols]
  Weight view() const {
    if (dtype == DType::U32) {
      if (scale_dtype == DType::F32) {
        return affine_weight(rows, cols, bits, group, words.data(), scale_dtype, scales32.data(),
                             biases32.data());
      }
      return affine_weight(rows, cols, bits, group, words.data(), scale_dtype, scales16.data(),
                           biases16.data());
    }
    return dense_weight(dtype, rows, cols, words.data());
  }
};

inline TestWeight make_dense(std::mt19937& rng, DType dt, uint64_t rows, uint64_t cols) {
  TestWeight t;
  t.dtype = dt;
  t.rows = rows;
  t.cols = cols;
  const auto vals = random_floats(rng, rows * cols);
  t.deq.resize(rows * cols);
  if (dt == DType::F32) {
    t.words.resize(rows * cols);
    std::memcpy(t.words.data(), vals.data(), vals.size() * 4);
    for (size_t i = 0; i < vals.size(); ++i) t.deq[i] = vals[i];
  } else {
    t.words.resize((rows * cols + 1) / 2);
    auto* h = reinterpret_cast<uint16_t*>(t.words.data());
    for (size_t i = 0; i < vals.size(); ++i) {
      h[i] = dt == DType::F16 ? ref_to_f16(vals[i]) : ref_to_bf16_trunc(vals[i]);
      t.deq[i] = dt == DType::F16 ? ref_f16(h[i]) : ref_bf16(h[i]);
    }
  }
  return t;
}

// MLX affine: random codes, scales in [0.005, 0.02], biases in [-0.1, 0.1].
inline TestWeight make_affine(std::mt19937& rng, uint32_t bits, uint32_t group, DType sdt,
                              uint64_t rows, uint64_t cols) {
  TestWeight t;
  t.dtype = DType::U32;
  t.bits = bits;
  t.group = group;
  t.scale_dtype = sdt;
  t.rows = rows;
  t.cols = cols;
  const uint64_t groups = cols / group;
  const uint64_t words_per_row = cols * bits / 32;
  t.words.assign(rows * words_per_row, 0);
  t.scales16.resize(rows * groups);
  t.biases16.resize(rows * groups);
  if (sdt == DType::F32) {
    t.scales32.resize(rows * groups);
    t.biases32.resize(rows * groups);
  }
  t.deq.resize(rows * cols);
  std::uniform_int_distribution<uint32_t> qd(0, (1u << bits) - 1);
  std::uniform_real_distribution<float> sd(0.005f, 0.02f), bd(-0.1f, 0.1f);
  for (uint64_t r = 0; r < rows; ++r) {
    for (uint64_t g = 0; g < groups; ++g) {
      const bool half = sdt != DType::BF16;  // F32 scales take f16-representable values
      const uint16_t s = half ? ref_to_f16(sd(rng)) : ref_to_bf16_trunc(sd(rng));
      const uint16_t b = half ? ref_to_f16(bd(rng)) : ref_to_bf16_trunc(bd(rng));
      t.scales16[r * groups + g] = s;
      t.biases16[r * groups + g] = b;
      if (sdt == DType::F32) {  // the same values, held as floats
        t.scales32[r * groups + g] = static_cast<float>(ref_f16(s));
        t.biases32[r * groups + g] = static_cast<float>(ref_f16(b));
      }
    }
    for (uint64_t j = 0; j < cols; ++j) {
      const uint32_t q = qd(rng);
      // element j of the row at bits (j*bits)%32 of word j*bits/32
      t.words[r * words_per_row + j * bits / 32] |= q << ((j * bits) % 32);
      const uint64_t g = j / group;
      const bool half = sdt != DType::BF16;
      const double s = half ? ref_f16(t.scales16[r * groups + g]) : ref_bf16(t.scales16[r * groups + g]);
      const double b = half ? ref_f16(t.biases16[r * groups + g]) : ref_bf16(t.biases16[r * groups + g]);
      t.deq[r * cols + j] = s * q + b;
    }
  }
  return t;
}

// Scratch sized as the kernels ask, over-allocated by one byte so the pointer is misaligned
// (linear must align it itself).
struct Scratch {
  std::vector<std::byte> buf;
  std::span<std::byte> span(uint64_t bytes) {
    buf.assign(bytes + 1, std::byte{0});
    return std::span<std::byte>(buf.data() + 1, bytes);
  }
};

}  // namespace mlxcel::kernels::test
