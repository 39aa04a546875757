// A one-line progress bar on stderr ("loading [=====>    ]  45%  1.10 GiB / 2.45 GiB"), drawn
// only when stderr is a terminal and redrawn at most every percent.
#pragma once

#include <cstdint>
#include <string>

namespace mlxcel::runtime {

class ProgressBar {
 public:
  // enabled && isatty(stderr) decides whether anything is drawn.
  ProgressBar(std::string label, uint64_t total, bool enabled);
  ~ProgressBar();
  void advance(uint64_t done_delta);
  void finish();

 private:
  void draw();
  std::string label_;
  uint64_t total_ = 0, done_ = 0;
  int last_percent_ = -1;
  bool active_ = false;
};

}  // namespace mlxcel::runtime
