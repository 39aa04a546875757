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
    sent_ += out.size();
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
  sent_ += out.size();
  return out;
}

std::string TextStream::finish() {
  if (stopped_) return {};
  std::string out = std::move(held_);
  out += utf8_lossy(raw_);
  held_.clear();
  raw_.clear();
  sent_ += out.size();
  return out;
}

TokenStream::TokenStream(std::vector<std::string> stops, bool logprobs)
    : text_(std::move(stops)), logprobs_(logprobs) {}

Piece TokenStream::push(std::string_view bytes, std::optional<TokenLogprobs> entry) {
  Piece piece;
  piece.text = text_.push(bytes);
  if (!logprobs_) return piece;
  tail_ += piece.text;
  if (entry) waiting_.push_back({std::move(*entry), std::nullopt});
  // Tokens whose last character is complete end where the converted text ends now.
  if (!text_.mid_character() || text_.stopped()) {
    for (auto& w : waiting_) {
      if (!w.end) w.end = text_.converted();
    }
  }
  if (text_.stopped()) {
    release(piece, false, text_.sent());
    waiting_.clear();
  } else {
    release(piece, false);
  }
  return piece;
}

Piece TokenStream::finish() {
  Piece piece;
  piece.text = text_.finish();
  if (!logprobs_) return piece;
  tail_ += piece.text;
  release(piece, true);
  return piece;
}

// Releases waiting tokens in order: those whose end has been sent, every one (`all`), or, after
// a stop string at `before`, those that start before it.
void TokenStream::release(Piece& piece, bool all, std::optional<uint64_t> before) {
  while (!waiting_.empty()) {
    Waiting& w = waiting_.front();
    if (before) {
      if (released_end_ >= *before) break;
    } else if (!all && (!w.end || *w.end > text_.sent())) {
      break;
    }
    w.entry.text_offset = chars_before(released_end_);
    released_end_ = std::max(released_end_, w.end.value_or(text_.sent()));
    piece.logprobs.push_back(std::move(w.entry));
    waiting_.pop_front();
  }
}

// Code points of the output before byte `byte` (positions only move forward).
uint64_t TokenStream::chars_before(uint64_t byte) {
  const uint64_t n = std::min<uint64_t>(byte - cursor_byte_, tail_.size());
  for (uint64_t i = 0; i < n; ++i) {
    if ((static_cast<unsigned char>(tail_[i]) & 0xC0) != 0x80) ++cursor_chars_;
  }
  tail_.erase(0, n);
  cursor_byte_ += n;
  return cursor_chars_;
}

}  // namespace mlxcel::server
