// Plausibility bounds on the counts and widths of a model, checked before anything is listed or
// allocated per layer, per expert or per element. A config is a few kilobytes, yet its numbers
// decide how many tensor records a spec holds (layers x experts x rules) and how large every
// product of dimensions is, so a stranger's "num_hidden_layers": 100000 or "num_experts": 65536
// would otherwise cost gigabytes and minutes before any check could say no.
//
// Each bound sits one to two orders of magnitude above the largest published model, so no real
// checkpoint comes near it:
//   layers          4,096   deepest released LLMs have <= 126 (Llama 3.1 405B), ~200 at most
//   routed experts  4,096   per layer: DeepSeek-V3 256, Kimi K2 384, Qwen3-Next / Qwen3.5 512
//   expert-layers 131,072   experts x MoE layers (every routed expert's tensors are listed):
//                           Qwen3.5-397B 512 x 60 = 30,720, Kimi K2 384 x 60 = 23,040
//   widths     16,777,216   (2^24) hidden, intermediate (dense, MoE, shared) and vocabulary:
//                           largest real 53,248 (intermediate, Llama 3.1 405B), 262,144 (vocab)
//   heads          65,536   attention and KV heads (real <= 128)
//   head_dim       65,536   per-head width (real <= 256; MLA latents 512 + 64)
// With widths under 2^24 a tensor of two of them has under 2^48 elements, so byte sizes of any
// dtype fit comfortably in 64 bits.
#pragma once

#include <cstdint>

namespace mlxcel::arch {

inline constexpr uint64_t kMaxLayers = 4096;
inline constexpr uint64_t kMaxExperts = 4096;
inline constexpr uint64_t kMaxExpertLayers = 131072;
inline constexpr uint64_t kMaxWidth = uint64_t{1} << 24;
inline constexpr uint64_t kMaxHeads = 65536;
inline constexpr uint64_t kMaxHeadDim = 65536;

}  // namespace mlxcel::arch
