#include "estimate/calibration_fit.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

constexpr double kMarginStep = 1e-5;
constexpr double kFractionStep = 1e-6;
constexpr double kMaxFraction = 10.0;  // the profile loader's bound

CalibrationProfile zero_profile() {
  CalibrationProfile p;
  p.path = "(calibration fit)";
  p.provenance = "calibration fit";
  p.calibrated = true;
  return p;
}

// Solves the square system m y = r in place (Gaussian elimination, partial pivoting); false when
// singular relative to the matrix's scale.
bool solve(std::vector<std::vector<long double>> m, std::vector<long double> r, std::vector<long double>& y) {
  const size_t n = r.size();
  long double scale = 0;
  for (const auto& row : m)
    for (long double v : row) scale = std::max(scale, std::fabs(v));
  if (scale == 0) return false;
  for (size_t c = 0; c < n; ++c) {
    size_t piv = c;
    for (size_t i = c + 1; i < n; ++i)
      if (std::fabs(m[i][c]) > std::fabs(m[piv][c])) piv = i;
    if (std::fabs(m[piv][c]) <= scale * 1e-13L) return false;
    std::swap(m[c], m[piv]);
    std::swap(r[c], r[piv]);
    for (size_t i = c + 1; i < n; ++i) {
      long double f = m[i][c] / m[c][c];
      for (size_t k = c; k < n; ++k) m[i][k] -= f * m[c][k];
      r[i] -= f * r[c];
    }
  }
  y.assign(n, 0);
  for (size_t c = n; c-- > 0;) {
    long double s = r[c];
    for (size_t k = c + 1; k < n; ++k) s -= m[c][k] * y[k];
    y[c] = s / m[c][c];
  }
  return true;
}

struct Features {
  uint64_t weights = 0, kv = 0, workspace = 0, planned = 0, threads = 0, total_no_margin = 0;
};

Features features(const CalibrationSample& s, const CalibrationProfile& profile) {
  const MemoryPlan plan = plan_memory(*s.spec, s.run, profile);
  return {plan.weights.total, plan.kv.total, plan.workspace.total, plan.planned, s.run.threads, plan.total};
}

double relative(uint64_t estimate, uint64_t measured) {
  return (static_cast<double>(estimate) - static_cast<double>(measured)) / static_cast<double>(measured);
}

// v rounded up to a multiple of step; never -0 (a profile printing "-0.0" would be refused).
double ceil_to(double v, double step) {
  double r = std::ceil(v / step - 1e-9) * step;
  return r > 0 ? r : 0.0;
}

void check_samples(const std::vector<CalibrationSample>& samples) {
  if (samples.size() < 5)
    throw UsageError("calibrate", fmt::format("the fit needs at least 5 measured points (points, {})",
                                              samples.size()));
  for (const auto& s : samples) {
    if (!s.spec) throw UsageError("calibrate", fmt::format("sample without a model ({}, spec, null)", s.label));
    if (s.peak_rss == 0) throw UsageError("calibrate", fmt::format("sample without a peak RSS ({}, peak_rss, 0)", s.label));
  }
}

}  // namespace

std::vector<double> nnls_small(const std::vector<std::vector<double>>& a, const std::vector<double>& b) {
  const size_t rows = a.size();
  const size_t cols = rows ? a[0].size() : 0;
  if (rows == 0 || cols == 0 || cols > 8 || b.size() != rows)
    throw UsageError("calibrate", fmt::format("least-squares problem of unsupported shape (rows {}, cols {})", rows, cols));
  std::vector<long double> col_scale(cols, 0);
  for (const auto& row : a) {
    if (row.size() != cols) throw UsageError("calibrate", "least-squares rows of different lengths (row, size)");
    for (size_t j = 0; j < cols; ++j) col_scale[j] = std::max(col_scale[j], std::fabs(static_cast<long double>(row[j])));
  }
  auto residual = [&](const std::vector<long double>& x_scaled) {
    long double r2 = 0;
    for (size_t i = 0; i < rows; ++i) {
      long double p = 0;
      for (size_t j = 0; j < cols; ++j)
        if (col_scale[j] > 0) p += static_cast<long double>(a[i][j]) / col_scale[j] * x_scaled[j];
      long double d = p - b[i];
      r2 += d * d;
    }
    return r2;
  };
  std::vector<long double> best(cols, 0);
  long double best_r2 = residual(best);
  for (uint32_t mask = 1; mask < (1u << cols); ++mask) {
    std::vector<size_t> free;
    for (size_t j = 0; j < cols; ++j)
      if ((mask >> j & 1) && col_scale[j] > 0) free.push_back(j);
    if (free.size() != static_cast<size_t>(__builtin_popcount(mask))) continue;
    const size_t n = free.size();
    std::vector<std::vector<long double>> m(n, std::vector<long double>(n, 0));
    std::vector<long double> r(n, 0);
    for (size_t i = 0; i < rows; ++i) {
      for (size_t p = 0; p < n; ++p) {
        long double ap = a[i][free[p]] / col_scale[free[p]];
        r[p] += ap * b[i];
        for (size_t q = 0; q < n; ++q) m[p][q] += ap * (a[i][free[q]] / col_scale[free[q]]);
      }
    }
    std::vector<long double> y;
    if (!solve(m, r, y)) continue;
    if (std::any_of(y.begin(), y.end(), [](long double v) { return v < 0; })) continue;
    std::vector<long double> x(cols, 0);
    for (size_t p = 0; p < n; ++p) x[free[p]] = y[p];
    long double r2 = residual(x);
    if (r2 < best_r2) {
      best_r2 = r2;
      best = x;
    }
  }
  std::vector<double> out(cols, 0);
  for (size_t j = 0; j < cols; ++j)
    out[j] = col_scale[j] > 0 ? static_cast<double>(best[j] / col_scale[j]) : 0.0;
  return out;
}

double fit_margin(const std::vector<CalibrationSample>& samples, const CalibrationProfile& base) {
  CalibrationProfile p = base;
  p.margin = 0;
  double need = 0;
  for (const auto& s : samples) {
    const uint64_t total = features(s, p).total_no_margin;
    if (total < s.peak_rss) need = std::max(need, relative(s.peak_rss, total));
  }
  p.margin = ceil_to(need, kMarginStep);
  // ceil() in the plan only rounds up, so the first margin normally holds; step on if a
  // floating-point edge says otherwise.
  for (int i = 0; i < 1000; ++i) {
    bool ok = std::all_of(samples.begin(), samples.end(),
                          [&](const CalibrationSample& s) { return plan_memory(*s.spec, s.run, p).total >= s.peak_rss; });
    if (ok) return p.margin;
    p.margin += kMarginStep;
  }
  throw std::logic_error("[calibrate] no margin up to +1% over the fitted one bounds every point");
}

FitReport fit_calibration(const std::vector<CalibrationSample>& samples,
                          const CalibrationProfile& tokenizer_terms) {
  check_samples(samples);
  CalibrationProfile zero = zero_profile();
  zero.tokenizer_heap_per_file_byte = tokenizer_terms.tokenizer_heap_per_file_byte;
  zero.tiktoken_heap_per_file_byte = tokenizer_terms.tiktoken_heap_per_file_byte;
  zero.server_preparation_per_body_byte = tokenizer_terms.server_preparation_per_body_byte;
  zero.server_base_bytes = tokenizer_terms.server_base_bytes;
  std::vector<std::vector<double>> a;
  std::vector<double> b;
  std::vector<Features> feats;
  for (const auto& s : samples) {
    Features f = features(s, zero);
    feats.push_back(f);
    const double w = 1.0 / static_cast<double>(s.peak_rss);
    a.push_back({w, w * static_cast<double>(f.threads), w * static_cast<double>(f.weights),
                 w * static_cast<double>(f.kv), w * static_cast<double>(f.workspace)});
    // what the fixed terms (planned bytes, the tokenizer) leave to the fitted ones
    b.push_back(w * (static_cast<double>(s.peak_rss) - static_cast<double>(f.total_no_margin)));
  }
  const std::vector<double> x = nnls_small(a, b);

  FitReport r;
  r.points = static_cast<uint32_t>(samples.size());
  CalibrationProfile& p = r.profile;
  p = zero;
  p.base_bytes = static_cast<uint64_t>(std::ceil(x[0]));
  p.per_thread_bytes = static_cast<uint64_t>(std::ceil(x[1]));
  p.weights_fraction = std::min(kMaxFraction, ceil_to(x[2], kFractionStep));
  p.kv_fraction = std::min(kMaxFraction, ceil_to(x[3], kFractionStep));
  p.workspace_fraction = std::min(kMaxFraction, ceil_to(x[4], kFractionStep));

  double sq = 0;
  for (const auto& s : samples) {
    double e = relative(features(s, p).total_no_margin, s.peak_rss);
    sq += e * e;
  }
  r.rms_fit_error = std::sqrt(sq / static_cast<double>(samples.size()));

  p.margin = fit_margin(samples, p);
  r.min_error = std::numeric_limits<double>::max();
  r.max_error = std::numeric_limits<double>::lowest();
  for (const auto& s : samples) {
    const uint64_t total = plan_memory(*s.spec, s.run, p).total;
    const double e = relative(total, s.peak_rss);
    r.totals.push_back(total);
    r.errors.push_back(e);
    r.min_error = std::min(r.min_error, e);
    r.max_error = std::max(r.max_error, e);
  }
  return r;
}

}  // namespace mlxcel
