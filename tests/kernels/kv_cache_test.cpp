// KV cache row formats: exact byte sizes, hand-worked encodings, error bounds, ring-buffer stores.
#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.h"
#include "mlxcel/errors.h"

namespace mlxcel::kernels::test {
namespace {

const KvCacheType kTypes[] = {KvCacheType::F32,  KvCacheType::F16,  KvCacheType::BF16, KvCacheType::Q8_0,
                              KvCacheType::Q4_0, KvCacheType::Q4_1, KvCacheType::Q5_0, KvCacheType::Q5_1,
                              KvCacheType::Q8,   KvCacheType::Q4};

TEST(KvRows, BytesPerRowAsTheEstimatorCountsThem) {
  // d = 128: f32 4d = 512; f16/bf16 2d = 256; q8_0 d/32*34 = 136; q4_0 d/32*18 = 72;
  // q8 d/64*68 = 136; q4 d/64*36 = 72.
  EXPECT_EQ(kv_cache_row_bytes(KvCacheType::F32, 128), 512u);
  EXPECT_EQ(kv_cache_row_bytes(KvCacheType::F16, 128), 256u);
  EXPECT_EQ(kv_cache_row_bytes(KvCacheType::BF16, 128), 256u);
  EXPECT_EQ(kv_cache_row_bytes(KvCacheType::Q8_0, 128), 136u);
  EXPECT_EQ(kv_cache_row_bytes(KvCacheType::Q4_0, 128), 72u);
  // q4_1 d/32*20 = 80; q5_0 d/32*22 = 88; q5_1 d/32*24 = 96
  EXPECT_EQ(kv_cache_row_bytes(KvCacheType::Q4_1, 128), 80u);
  EXPECT_EQ(kv_cache_row_bytes(KvCacheType::Q5_0, 128), 88u);
  EXPECT_EQ(kv_cache_row_bytes(KvCacheType::Q5_1, 128), 96u);
  EXPECT_EQ(kv_cache_row_bytes(KvCacheType::Q8, 128), 136u);
  EXPECT_EQ(kv_cache_row_bytes(KvCacheType::Q4, 128), 72u);
  // d = 64: q8_0 2*34 = 68, q4_0 2*18 = 36, q8 68, q4 36
  EXPECT_EQ(kv_cache_row_bytes(KvCacheType::Q8_0, 64), 68u);
  EXPECT_EQ(kv_cache_row_bytes(KvCacheType::Q4, 64), 36u);
  // cache: 8 kv heads x 100 slots x 136 B = 108800
  KvCacheView c{KvCacheType::Q8, reinterpret_cast<void*>(64), 8, 128, 100};
  EXPECT_EQ(kv_cache_bytes(c), 108800u);
}

TEST(KvRows, Q8_0HandEncoding) {
  // x_i = i - 16 (i = 0..31): amax 16, d = 16/127 = 0.1259843; q_i = round((i-16)*127/16):
  // i=0 -> -127, i=31 -> round(15*7.9375 = 119.06) = 119, i=16 -> 0.
  float x[32];
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16);
  uint8_t row[34];
  kv_quantize_row(KvCacheType::Q8_0, x, 32, row);
  uint16_t d;
  std::memcpy(&d, row, 2);
  EXPECT_NEAR(ref_f16(d), 0.1259843, 1e-4);
  EXPECT_EQ(static_cast<int8_t>(row[2 + 0]), -127);
  EXPECT_EQ(static_cast<int8_t>(row[2 + 31]), 119);
  EXPECT_EQ(static_cast<int8_t>(row[2 + 16]), 0);
}

TEST(KvRows, Q4_0HandEncoding) {
  // x_i = i - 16: largest magnitude is -16, d = -16 / -8 = 2 (f16 0x4000), q = min(15,
  // trunc(x/2 + 8.5)): x0 = -16 -> 0, x16 = 0 -> 8, so byte 0 = 0 | 8 << 4 = 0x80;
  // x15 = -1 -> trunc(8) = 8, x31 = 15 -> trunc(16) clamped to 15: byte 15 = 8 | 15 << 4 = 0xf8.
  float x[32];
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16);
  uint8_t row[18];
  kv_quantize_row(KvCacheType::Q4_0, x, 32, row);
  EXPECT_EQ(row[0], 0x00);
  EXPECT_EQ(row[1], 0x40);
  EXPECT_EQ(row[2 + 0], 0x80);
  EXPECT_EQ(row[2 + 15], 0xf8);
  float back[32];
  kv_dequantize_row(KvCacheType::Q4_0, row, 32, back);
  EXPECT_EQ(back[0], -16.0f);  // (0 - 8) * 2
  EXPECT_EQ(back[31], 14.0f);  // (15 - 8) * 2
}

TEST(KvRows, Q4_1HandEncoding) {
  // x_i = i: min 0, max 31, d = 31/15 = 2.0667 (f16 0x4022 = 2.06641); q = min(15, trunc(x/d' +
  // 0.5)) with the unrounded d': x16 -> trunc(7.74 + 0.5) = 8, x31 -> 15: byte 0 = 0 | 8 << 4 = 0x80.
  float x[32];
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i);
  uint8_t row[20];
  kv_quantize_row(KvCacheType::Q4_1, x, 32, row);
  uint16_t d, m;
  std::memcpy(&d, row, 2);
  std::memcpy(&m, row + 2, 2);
  EXPECT_NEAR(ref_f16(d), 2.06641, 1e-5);
  EXPECT_EQ(ref_f16(m), 0.0f);
  EXPECT_EQ(row[4 + 0], 0x80);
  EXPECT_EQ(row[4 + 15] >> 4, 15);
  float back[32];
  kv_dequantize_row(KvCacheType::Q4_1, row, 32, back);
  EXPECT_NEAR(back[31], 15 * 2.06641f, 1e-4);
}

TEST(KvRows, Q5_0HandEncoding) {
  // x_i = i - 16: largest magnitude -16, d = -16 / -16 = 1 (f16 0x3c00); q = min(31, trunc(x + 16.5)):
  // x0 -> 0, x16 -> 16, x15 -> 15, x31 -> 31. Byte j = low nibbles of q_j and q_{j+16}; the fifth
  // bits are set exactly for elements 16..31: qh = 0xffff0000.
  float x[32];
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16);
  uint8_t row[22];
  kv_quantize_row(KvCacheType::Q5_0, x, 32, row);
  EXPECT_EQ(row[0], 0x00);
  EXPECT_EQ(row[1], 0x3c);
  uint32_t qh;
  std::memcpy(&qh, row + 2, 4);
  EXPECT_EQ(qh, 0xffff0000u);
  EXPECT_EQ(row[6 + 0], 0x00);
  EXPECT_EQ(row[6 + 15], 0xff);
  float back[32];
  kv_dequantize_row(KvCacheType::Q5_0, row, 32, back);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(back[i], x[i]);
}

TEST(KvRows, Q5_1HandEncoding) {
  // x_i = i: min 0, d = 31/31 = 1, codes i; byte j = j | j << 4, qh = 0xffff0000; exact round trip.
  float x[32];
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i);
  uint8_t row[24];
  kv_quantize_row(KvCacheType::Q5_1, x, 32, row);
  EXPECT_EQ(row[1], 0x3c);
  uint32_t qh;
  std::memcpy(&qh, row + 4, 4);
  EXPECT_EQ(qh, 0xffff0000u);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(row[8 + j], j | (j << 4));
  float back[32];
  kv_dequantize_row(KvCacheType::Q5_1, row, 32, back);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(back[i], x[i]);
}

TEST(KvRows, Q4AffineHandEncoding) {
  // x_i = i % 16 over 64 values: min 0, max 15 -> scale 15/15 = 1 (f16 0x3c00), bias 0, q_i = i%16.
  // MLX packing: byte j = q[2j] | q[2j+1] << 4: byte 0 = 0x10, byte 1 = 0x32, byte 7 = 0xfe.
  float x[64];
  for (int i = 0; i < 64; ++i) x[i] = static_cast<float>(i % 16);
  uint8_t row[36];
  kv_quantize_row(KvCacheType::Q4, x, 64, row);
  EXPECT_EQ(row[0], 0x10);
  EXPECT_EQ(row[1], 0x32);
  EXPECT_EQ(row[7], 0xfe);
  EXPECT_EQ(row[32], 0x00);
  EXPECT_EQ(row[33], 0x3c);  // scale 1.0
  EXPECT_EQ(row[34], 0x00);
  EXPECT_EQ(row[35], 0x00);  // bias 0
}

TEST(KvRows, Q8AffineHandEncoding) {
  // x_i = i - 100 for i in 0..63: min -100 (f16 exact), max -37, scale 63/255 = 0.247059
  // (f16 0x33e8 = 0.2470703); q_63 = round(63 / 0.2470703) = round(254.99) = 255.
  float x[64];
  for (int i = 0; i < 64; ++i) x[i] = static_cast<float>(i - 100);
  uint8_t row[68];
  kv_quantize_row(KvCacheType::Q8, x, 64, row);
  EXPECT_EQ(row[0], 0);
  EXPECT_EQ(row[63], 255);
  uint16_t s, b;
  std::memcpy(&s, row + 64, 2);
  std::memcpy(&b, row + 66, 2);
  EXPECT_NEAR(ref_f16(s), 0.2470703, 1e-6);
  EXPECT_EQ(ref_f16(b), -100.0f);
}

// Round trip error bounds per format, with a = max|x| of the block:
//  f16 rel 2^-11, bf16 rel 2^-8 (round to nearest); q8_0 d/2 + a*2^-11 (f16 d), d = a/127;
//  q4_0 a/8 (the clamp at 15 on the positive side) + a*2^-10; q5_0 a/16 + a*2^-10;
//  q4_1/q5_1 d/2 with d = range/levels, plus f16 rounding of min and d: a*2^-10 + range*2^-11;
//  q8/q4 scale/2 with scale = range/levels, plus f16 rounding of bias and scale: a*2^-10 + levels*scale*2^-11.
TEST(KvRows, RoundTripWithinBounds) {
  std::mt19937 rng(8);
  for (KvCacheType t : kTypes) {
    for (uint64_t d : {uint64_t{64}, uint64_t{128}, uint64_t{256}}) {
      auto x = random_floats(rng, d, -3, 3);
      x[5] = 2.9999f;  // a wide block
      std::vector<uint8_t> row(kv_cache_row_bytes(t, d));
      std::vector<float> back(d);
      kv_quantize_row(t, x.data(), d, row.data());
      kv_dequantize_row(t, row.data(), d, back.data());
      const uint64_t block = (t == KvCacheType::Q8 || t == KvCacheType::Q4) ? 64 : 32;
      for (uint64_t i = 0; i < d; ++i) {
        double a = 0, lo = 1e9, hi = -1e9;
        const uint64_t b0 = i / block * block;
        for (uint64_t j = b0; j < b0 + block; ++j) {
          a = std::max(a, std::fabs(double{x[j]}));
          lo = std::min(lo, double{x[j]});
          hi = std::max(hi, double{x[j]});
        }
        double bound = 0;
        switch (t) {
          case KvCacheType::F32: bound = 0; break;
          case KvCacheType::F16: bound = std::fabs(x[i]) * std::ldexp(1.0, -11); break;
          case KvCacheType::BF16: bound = std::fabs(x[i]) * std::ldexp(1.0, -8); break;
          case KvCacheType::Q8_0: bound = a / 127 / 2 + a * std::ldexp(1.0, -11); break;
          case KvCacheType::Q4_0: bound = a / 8 + a * std::ldexp(1.0, -10); break;
          case KvCacheType::Q5_0: bound = a / 16 + a * std::ldexp(1.0, -10); break;
          case KvCacheType::Q4_1: bound = (hi - lo) / 15 / 2 + a * std::ldexp(1.0, -10) + (hi - lo) * std::ldexp(1.0, -11); break;
          case KvCacheType::Q5_1: bound = (hi - lo) / 31 / 2 + a * std::ldexp(1.0, -10) + (hi - lo) * std::ldexp(1.0, -11); break;
          case KvCacheType::Q8: bound = (hi - lo) / 255 / 2 + a * std::ldexp(1.0, -10) + (hi - lo) * std::ldexp(1.0, -11); break;
          case KvCacheType::Q4: bound = (hi - lo) / 15 / 2 + a * std::ldexp(1.0, -10) + (hi - lo) * std::ldexp(1.0, -11); break;
          default: break;
        }
        ASSERT_LE(std::fabs(back[i] - x[i]), bound + 1e-7)
            << "type " << static_cast<int>(t) << " d=" << d << " i=" << i;
      }
    }
  }
}

TEST(KvRows, StoreWritesRingSlotsAndKeepsOnlyTheLastCapacityTokens) {
  // capacity 4, 2 kv heads, d 32, f32; store 6 tokens at pos0 = 3: tokens 2..5 (positions 5..8)
  // land in slots 1, 2, 3, 0; tokens 0 and 1 would be overwritten and are skipped.
  const uint32_t heads = 2, d = 32;
  std::vector<float> cache(heads * 4 * d, -1.0f);
  KvCacheView c{KvCacheType::F32, cache.data(), heads, d, 4};
  std::vector<float> src(6 * heads * d);
  for (uint64_t t = 0; t < 6; ++t) {
    for (uint32_t h = 0; h < heads; ++h) {
      for (uint32_t i = 0; i < d; ++i) src[(t * heads + h) * d + i] = 100.0f * t + 10.0f * h + i;
    }
  }
  kv_store(c, src.data(), 6, 3);
  const uint64_t slot_token[4] = {5, 2, 3, 4};  // slot s holds token slot_token[s]
  for (uint32_t h = 0; h < heads; ++h) {
    for (uint64_t s = 0; s < 4; ++s) {
      for (uint32_t i = 0; i < d; ++i) {
        EXPECT_EQ(cache[(h * 4 + s) * d + i], 100.0f * slot_token[s] + 10.0f * h + i);
      }
    }
  }
}

TEST(KvRowsErrors, UnknownTypeValue) {
  try {
    kv_cache_row_bytes(static_cast<KvCacheType>(99), 64);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown"), std::string::npos);
  }
}

TEST(KvRowsErrors, HeadDimNotWholeBlocks) {
  try {
    kv_cache_row_bytes(KvCacheType::Q4, 96);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("whole number"), std::string::npos);
  }
}

}  // namespace
}  // namespace mlxcel::kernels::test
