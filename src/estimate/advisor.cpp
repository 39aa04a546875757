#include "estimate/advisor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "mlxcel/errors.h"

namespace mlxcel {

Verdict judge(const MemoryPlan& plan, const AvailableMemory& available) {
  Verdict v;
  v.total = plan.total;
  v.available = available.bytes;
  v.fits = plan.total <= available.bytes;
  if (v.fits) v.headroom = available.bytes - plan.total;
  else v.shortfall = plan.total - available.bytes;
  return v;
}

MaxContext solve_max_context(const ModelSpec& spec, const RunConfig& run,
                             const CalibrationProfile& profile, uint64_t budget) {
  MaxContext out;
  out.from_max_position = spec.dims.max_position_embeddings > 0;
  out.limit = out.from_max_position ? spec.dims.max_position_embeddings : kContextSearchCap;

  auto total_at = [&](uint64_t context) -> uint64_t {
    RunConfig r = run;
    r.context = context;
    ++out.plans_evaluated;
    if (context == 1) return plan_memory(spec, r, profile).total;
    try {
      return plan_memory(spec, r, profile).total;
    } catch (const ConfigError&) {
      // The plan at one token worked, so only a 64-bit overflow can fail here: far over budget.
      return UINT64_MAX;
    }
  };

  // Ends of the linear pieces of total(context).
  std::set<uint64_t> ends{1, out.limit};
  auto add_end = [&](uint64_t c) {
    if (c >= 1 && c <= out.limit) ends.insert(c);
  };
  add_end(run.sequences);
  add_end(run.prefill_chunk);
  for (const auto& l : spec.layers)
    if (l.kind == LayerKind::Sliding) add_end(l.window);

  uint64_t lo = 1;
  uint64_t f_lo = total_at(1);
  if (f_lo > budget) {
    out.total_at_next = f_lo;
    return out;  // not even one token fits
  }
  for (uint64_t hi : ends) {
    if (hi == lo) continue;
    uint64_t f_hi = total_at(hi);
    if (f_hi <= budget) {
      lo = hi;
      f_lo = f_hi;
      continue;
    }
    // The answer is in [lo, hi): f(lo) <= budget < f(hi). Interpolate on the piece's line...
    long double slope = static_cast<long double>(f_hi - f_lo) / static_cast<long double>(hi - lo);
    long double step = std::floor(static_cast<long double>(budget - f_lo) / slope);
    uint64_t c = lo + static_cast<uint64_t>(std::clamp<long double>(step, 0, hi - lo - 1));
    // ...then settle the few tokens that overhead rounding can move, with plan_memory itself.
    uint64_t a = lo, b = hi;  // invariant: f(a) <= budget < f(b)
    uint64_t f_c = total_at(c);
    if (f_c <= budget) a = c;
    else b = c;
    for (int i = 0; i < 4 && b - a > 1; ++i) {
      uint64_t probe = f_c <= budget ? a + 1 : b - 1;
      if (total_at(probe) <= budget) a = probe;
      else b = probe;
    }
    while (b - a > 1) {  // only if rounding was worse than a few tokens: bisect the rest
      uint64_t mid = a + (b - a) / 2;
      if (total_at(mid) <= budget) a = mid;
      else b = mid;
    }
    out.tokens = a;
    out.total_at_tokens = total_at(a);
    out.total_at_next = total_at(a + 1);
    return out;
  }
  out.tokens = out.limit;
  out.clamped = true;
  out.total_at_tokens = f_lo;
  return out;
}

std::vector<WeightFormat> advisor_weight_formats() {
  std::vector<WeightFormat> formats;
  WeightFormat bf16{"bf16", {}};
  bf16.options.requantize = Quantization{};  // method None: plain floats, even for a quantized model
  bf16.options.float_dtype = DType::BF16;
  formats.push_back(bf16);
  for (uint32_t bits : {8u, 4u}) {
    WeightFormat f{fmt::format("{}bit", bits), {}};
    Quantization q;
    q.method = QuantMethod::Mlx;
    q.bits = bits;
    q.group_size = 64;
    f.options.requantize = q;
    formats.push_back(f);
  }
  return formats;
}

std::vector<Option> advise_weight_formats(const SpecForFormat& make_spec, const RunConfig& run,
                                          const CalibrationProfile& profile, uint64_t budget) {
  std::vector<Option> out;
  for (const auto& f : advisor_weight_formats()) {
    Option o;
    o.name = f.name;
    try {
      ModelSpec s = make_spec(f.options);
      o.total = plan_memory(s, run, profile).total;
      o.valid = true;
      o.fits = o.total <= budget;
    } catch (const Error& e) {
      o.problem = e.what();
    }
    out.push_back(o);
  }
  return out;
}

std::vector<Option> advise_kv_cache_types(const ModelSpec& spec, const RunConfig& run,
                                          const CalibrationProfile& profile, uint64_t budget) {
  std::vector<Option> out;
  for (KvCacheType t : all_kv_cache_types()) {
    Option o;
    o.name = std::string(kv_cache_type_name(t));
    if (auto problem = kv_cache_type_problem(spec, t)) {
      o.problem = *problem;
    } else {
      RunConfig r = run;
      r.cache_type_k = r.cache_type_v = t;
      o.total = plan_memory(spec, r, profile).total;
      o.valid = true;
      o.fits = o.total <= budget;
    }
    out.push_back(o);
  }
  return out;
}

std::optional<Recommendation> recommend(const ModelSpec& spec, const SpecForFormat& make_spec,
                                        const RunConfig& run, const CalibrationProfile& profile,
                                        uint64_t budget) {
  const auto types = all_kv_cache_types();
  auto first = std::find(types.begin(), types.end(), run.cache_type_k);
  auto best_cache = [&](const ModelSpec& s) -> std::optional<std::pair<KvCacheType, uint64_t>> {
    for (auto it = first; it != types.end(); ++it) {
      if (kv_cache_type_problem(s, *it)) continue;
      RunConfig r = run;
      r.cache_type_k = r.cache_type_v = *it;
      uint64_t total = plan_memory(s, r, profile).total;
      if (total <= budget) return std::make_pair(*it, total);
    }
    return std::nullopt;
  };
  if (auto c = best_cache(spec)) return Recommendation{kAsIsFormat, c->first, c->second};
  const uint64_t as_is_weights = spec.weight_bytes();
  for (const auto& f : advisor_weight_formats()) {
    ModelSpec s;
    try {
      s = make_spec(f.options);
    } catch (const Error&) {
      continue;  // this format does not apply to the model; the next one may
    }
    if (s.weight_bytes() >= as_is_weights) continue;
    if (auto c = best_cache(s)) return Recommendation{f.name, c->first, c->second};
  }
  return std::nullopt;
}

}  // namespace mlxcel
