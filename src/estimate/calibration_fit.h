// Fitting the calibration profile's coefficients from measured runs (mlxcel calibrate). Every
// planned byte count comes from plan_memory; the fit only chooses the profile's coefficients:
//   peak_rss - planned - tokenizer term ~ base + threads*per_thread + wf*weights + kf*kv + sf*workspace
// by non-negative least squares (each row weighted by 1/peak_rss, so the fit minimises relative
// error), then the smallest margin that makes plan_memory's total >= peak_rss on every point.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mlxcel/estimate.h"

namespace mlxcel {

struct CalibrationSample {
  std::string label;
  const ModelSpec* spec = nullptr;  // planned with plan_memory(*spec, run, profile)
  RunConfig run;
  uint64_t peak_rss = 0;        // VmHWM of the run's process
  uint64_t allocator_peak = 0;  // the accounting allocator's peak in that process
};

struct FitReport {
  CalibrationProfile profile;    // coefficients set; path/provenance left to the caller
  uint32_t points = 0;
  // (total - peak_rss) / peak_rss with the final profile: min is >= 0 (an upper bound on every
  // point), max is the largest overestimate.
  double min_error = 0, max_error = 0;
  double rms_fit_error = 0;      // relative RMS of the least-squares fit before the margin
  std::vector<double> errors;    // per sample, final profile
  std::vector<uint64_t> totals;  // per sample, final profile
};

// Fits the profile. The tokenizer coefficients (the sweep's models carry tiny tokenizers) and
// the server's preparation cost (generate runs no server) are not fitted: they are taken as
// given (from `tokenizer_terms`; the other fields of it are
// ignored), so the fitted coefficients cover what they leave and the reported errors are those
// of the profile as written. Throws UsageError with fewer than 5 samples or a sample without a
// spec or with a zero peak.
FitReport fit_calibration(const std::vector<CalibrationSample>& samples,
                          const CalibrationProfile& tokenizer_terms = {});

// The margin step alone: the smallest margin (in steps of 1e-5) on top of `base`'s other
// coefficients that makes plan_memory's total >= peak_rss for every sample.
double fit_margin(const std::vector<CalibrationSample>& samples, const CalibrationProfile& base);

// Non-negative least squares for a small dense problem (rows x cols, cols <= 8): minimises
// |A x - b| with x >= 0 by trying every set of free columns (exact for few columns). Columns are
// scaled internally; singular subsets are skipped. Returns x (cols values).
std::vector<double> nnls_small(const std::vector<std::vector<double>>& a, const std::vector<double>& b);

}  // namespace mlxcel
