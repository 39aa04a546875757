#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include <fmt/format.h>

#include <algorithm>

#include "core/utf8.h"
#include "mlxcel/errors.h"

namespace mlxcel::tok {

struct Regex::Impl {
  pcre2_code* code = nullptr;
  ~Impl() {
    if (code) pcre2_code_free(code);
  }
};

namespace {

std::string pcre2_message(int rc) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(rc, buf, sizeof buf);
  return n < 0 ? fmt::format("PCRE2 error {}", rc) : std::string(reinterpret_cast<char*>(buf));
}

struct MatchData {
  pcre2_match_data* md;
  explicit MatchData(const pcre2_code* code) : md(pcre2_match_data_create_from_pattern(code, nullptr)) {
    if (!md) throw std::bad_alloc();
  }
  ~MatchData() { pcre2_match_data_free(md); }
};

// The limits of one find_all: match/depth limits set per call, the heap limit once, and (when
// the default 32 KiB one overflows) a bigger JIT stack.
struct MatchLimits {
  pcre2_match_context* ctx = nullptr;
  pcre2_jit_stack* stack = nullptr;
  MatchLimits() {
    ctx = pcre2_match_context_create(nullptr);
    if (!ctx) throw std::bad_alloc();
    pcre2_set_heap_limit(ctx, static_cast<uint32_t>(kRegexHeapLimitBytes / 1024));
  }
  void grow_jit_stack() {
    stack = pcre2_jit_stack_create(64 * 1024, kRegexHeapLimitBytes, nullptr);
    if (!stack) throw std::bad_alloc();
    pcre2_jit_stack_assign(ctx, nullptr, stack);
  }
  ~MatchLimits() {
    pcre2_match_context_free(ctx);
    if (stack) pcre2_jit_stack_free(stack);
  }
};

// First match limit tried per match: most calls of real patterns need fewer units.
constexpr uint64_t kFirstMatchLimit = 16;

std::string shown_pattern(const std::string& p) {
  return p.size() <= 120 ? fmt::format("{:?}", p) : fmt::format("{:?}...", utf8_lossy(p.substr(0, 120)));
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where)
    : pattern_(pattern), where_(where), impl_(std::make_unique<Impl>()) {
  pcre2_compile_context* cctx = pcre2_compile_context_create(nullptr);
  if (!cctx) throw std::bad_alloc();
  pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &err_offset, cctx);
  pcre2_compile_context_free(cctx);
  if (!impl_->code) {
    throw FormatError("tokenizer", fmt::format("cannot compile regex ({}, pattern {}, at offset {}: {})", where,
                                               shown_pattern(pattern), err_offset, pcre2_message(err)));
  }
  // JIT is an optimisation only: when unavailable pcre2_match interprets the pattern.
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() = default;

void Regex::find_all(std::string_view subject, std::vector<std::pair<size_t, size_t>>& out) const {
  MatchData md(impl_->code);
  MatchLimits limits;
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  // Each call is charged the match limits it was given (doubling from kFirstMatchLimit until one
  // suffices): at most ~4x its real work, and calls are at most one per character plus one.
  const uint64_t budget_total = kRegexWorkPerByte * (uint64_t{subject.size()} + 2);
  uint64_t budget = budget_total;
  size_t start = 0;
  while (start <= subject.size()) {
    uint64_t limit = kFirstMatchLimit;
    int rc;
    for (;;) {
      const uint64_t lim = std::min<uint64_t>({limit, budget, UINT32_MAX});
      pcre2_set_match_limit(limits.ctx, static_cast<uint32_t>(lim));
      pcre2_set_depth_limit(limits.ctx, static_cast<uint32_t>(lim));
      rc = pcre2_match(impl_->code, s, subject.size(), start, PCRE2_NO_UTF_CHECK, md.md, limits.ctx);
      if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !limits.stack) {
        limits.grow_jit_stack();
        continue;
      }
      budget -= lim;
      if (rc != PCRE2_ERROR_MATCHLIMIT && rc != PCRE2_ERROR_DEPTHLIMIT) break;
      if (budget == 0) {
        throw FormatError("tokenizer", fmt::format("regex needs more matching work than the text justifies ({}, "
                                                   "pattern {}, subject {} bytes, at byte {}, budget {} steps; "
                                                   "nested repetition backtracks exponentially)",
                                                   where_, shown_pattern(pattern_), subject.size(), start,
                                                   budget_total));
      }
      limit *= 2;
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      throw FormatError("tokenizer", fmt::format("regex match failed ({}, pattern {}, at byte {}: {})", where_,
                                                 shown_pattern(pattern_), start, pcre2_message(rc)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.md);
    const size_t b = ov[0], e = ov[1];
    out.emplace_back(b, e);
    if (e > b) {
      start = e;
    } else {
      if (e >= subject.size()) break;
      start = e + utf8_char_len(static_cast<unsigned char>(subject[e]));
    }
  }
}

}  // namespace mlxcel::tok
