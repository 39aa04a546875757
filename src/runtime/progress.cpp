#include "runtime/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "mlxcel/size.h"

namespace mlxcel::runtime {

ProgressBar::ProgressBar(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)), total_(total), active_(enabled && ::isatty(STDERR_FILENO) == 1) {
  if (active_) draw();
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::advance(uint64_t delta) {
  done_ += delta;
  if (!active_) return;
  const int pct = total_ ? static_cast<int>(done_ * 100 / total_) : 100;
  if (pct != last_percent_) draw();
}

void ProgressBar::draw() {
  constexpr int kWidth = 30;
  const int pct = total_ ? static_cast<int>(done_ * 100 / total_) : 100;
  last_percent_ = pct;
  const int fill = pct * kWidth / 100;
  std::string bar(static_cast<size_t>(fill), '=');
  if (fill < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  fmt::print(stderr, "\r{} [{}] {:3d}%  {} / {}", label_, bar, pct, format_bytes(done_), format_bytes(total_));
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (!active_) return;
  done_ = total_;
  draw();
  fmt::print(stderr, "\n");
  active_ = false;
}

}  // namespace mlxcel::runtime
