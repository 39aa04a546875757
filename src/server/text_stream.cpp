#include "server/text_stream.h"

#include <algorithm>

#include "core/utf8.h"

namespace mlxcel::server {

TextStream::TextStream(std::vector<std::string> stops) {
  for (auto& s : stops) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

std::string TextStream::push(std::string_view bytes) {
  if (stopped_) return {};
  raw_.append(bytes);
  const size_t ready = utf8_emittable_prefix(raw_);
  held_ += utf8_lossy(std::string_view(raw_).substr(0, ready));
  raw_.erase(0, ready);

  // The earliest stop string wins; text from it on is dropped.
  size_t cut = std::string::npos;
  for (const auto& s : stops_) cut = std::min(cut, held_.find(s));
  if (cut != std::string::npos) {
    std::string out = held_.substr(0, cut);
    held_.clear();
    raw_.clear();
    stopped_ = true;
    return out;
  }

  // Hold back the longest tail of held_ that is a proper prefix of some stop string: a stop
  // string cannot start in text already sent, because that text was never such a tail.
  size_t keep = 0;
  for (const auto& s : stops_) {
    const size_t longest = std::min(held_.size(), s.size() - 1);
    for (size_t k = longest; k > keep; --k) {
      if (std::string_view(held_).substr(held_.size() - k) == std::string_view(s).substr(0, k)) {
        keep = k;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string TextStream::finish() {
  if (stopped_) return {};
  std::string out = std::move(held_);
  out += utf8_lossy(raw_);
  held_.clear();
  raw_.clear();
  return out;
}

}  // namespace mlxcel::server
