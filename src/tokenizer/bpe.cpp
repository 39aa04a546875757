#include "tokenizer/bpe.h"

#include <fmt/format.h>

#include <optional>
#include <queue>

#include "core/utf8.h"
#include "mlxcel/errors.h"

namespace mlxcel::tok {

namespace {

std::string shown(std::string_view s) { return fmt::format("{:?}", utf8_lossy(s)); }

}  // namespace

void BpeModel::add_token(const std::string& text, int32_t id, const std::string& where, bool later_text_wins) {
  if (id < 0) {
    throw FormatError("tokenizer", fmt::format("negative token id ({}, token {}, id {})", where, shown(text), id));
  }
  const auto uid = static_cast<size_t>(id);
  if (uid >= id_to_token.size()) {
    id_to_token.resize(uid + 1);
    present.resize(uid + 1, 0);
  }
  if (present[uid]) {
    throw FormatError("tokenizer", fmt::format("duplicate token id ({}, id {}, tokens {} and {})", where, id,
                                               shown(id_to_token[uid]), shown(text)));
  }
  auto [it, inserted] = token_to_id.emplace(text, id);
  if (!inserted) {
    if (!later_text_wins) {
      throw FormatError("tokenizer", fmt::format("duplicate token in vocabulary ({}, token {}, ids {} and {})",
                                                 where, shown(text), it->second, id));
    }
    it->second = id;
  }
  id_to_token[uid] = text;
  present[uid] = 1;
}

void BpeModel::add_merge(std::string_view left, std::string_view right, int32_t rank, const std::string& where) {
  auto find = [&](std::string_view t, const char* side) {
    auto it = token_to_id.find(t);
    if (it == token_to_id.end()) {
      throw FormatError("tokenizer", fmt::format("merge names a token that is not in the vocabulary ({}, merge {} "
                                                 "{} #{}, {} token {})",
                                                 where, shown(left), shown(right), rank, side, shown(t)));
    }
    return it->second;
  };
  const int32_t a = find(left, "left"), b = find(right, "right");
  std::string merged(left);
  std::string_view tail = right;
  if (!continuing_subword_prefix.empty() && tail.substr(0, continuing_subword_prefix.size()) == continuing_subword_prefix) {
    tail.remove_prefix(continuing_subword_prefix.size());
  }
  merged += tail;
  auto it = token_to_id.find(merged);
  if (it == token_to_id.end()) {
    throw FormatError("tokenizer", fmt::format("merge result is not in the vocabulary ({}, merge {} {} #{}, "
                                               "result {})",
                                               where, shown(left), shown(right), rank, shown(merged)));
  }
  // The first (best ranked) occurrence of a duplicated merge wins, as in Hugging Face.
  merges.emplace(pair_key(a, b), Merge{rank, it->second});
}

void BpeModel::finalize() {
  byte_token.fill(-1);
  for (int b = 0; b < 256; ++b) {
    auto it = token_to_id.find(fmt::format("<0x{:02X}>", b));
    if (it != token_to_id.end()) byte_token[b] = it->second;
  }
}

namespace {

struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
};

struct Candidate {
  int32_t rank;
  int32_t pos;  // left symbol slot: slots keep text order, so smaller is further left
  int32_t right;
  int32_t new_id;
  int32_t left_id;
  int32_t right_id;
};

struct WorseCandidate {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

}  // namespace

namespace {

constexpr size_t kSegmentThreshold = 128;  // bytes; shorter words are merged whole

uint64_t cp_pair(uint32_t a, uint32_t b) { return (static_cast<uint64_t>(a) << 32) | b; }

}  // namespace

const std::unordered_set<uint64_t>& BpeModel::inner_pairs() const {
  std::call_once(inner_pairs_once_, [this] {
    for (size_t id = 0; id < id_to_token.size(); ++id) {
      const std::string& t = id_to_token[id];
      if (!present[id] || !is_valid_utf8(t)) continue;
      size_t pos = 0;
      uint32_t prev = pos < t.size() ? next_codepoint(t, pos) : 0;
      while (pos < t.size()) {
        const uint32_t cp = next_codepoint(t, pos);
        inner_pairs_.insert(cp_pair(prev, cp));
        prev = cp;
      }
    }
  });
  return inner_pairs_;
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges) {
    auto it = token_to_id.find(word);
    if (it != token_to_id.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (word.size() < kSegmentThreshold || !continuing_subword_prefix.empty() || !end_of_word_suffix.empty()) {
    merge_segment(word, out);
    return;
  }
  const auto& pairs = inner_pairs();
  size_t seg_start = 0;
  uint32_t prev_cp = 0;
  bool prev_known = false;
  for (size_t pos = 0; pos < word.size();) {
    const size_t start = pos;
    const uint32_t cp = next_codepoint(word, pos);
    const bool known = token_to_id.find(word.substr(start, pos - start)) != token_to_id.end();
    if (start > seg_start && prev_known && known && !pairs.count(cp_pair(prev_cp, cp))) {
      merge_segment(word.substr(seg_start, start - seg_start), out);
      seg_start = start;
    }
    prev_cp = cp;
    prev_known = known;
  }
  merge_segment(word.substr(seg_start), out);
}

void BpeModel::merge_segment(std::string_view word, std::vector<int32_t>& out) const {
  // Symbols are indexed by int32.
  if (word.size() > static_cast<size_t>(INT32_MAX)) {
    throw FormatError("tokenizer", fmt::format("a pre-tokenized word of {} bytes is beyond 2^31 bytes", word.size()));
  }
  std::vector<Symbol> syms;
  syms.reserve(word.size());
  std::string buf;
  bool last_unk = false;
  for (size_t pos = 0; pos < word.size();) {
    const size_t len = utf8_char_len(static_cast<unsigned char>(word[pos]));
    const std::string_view ch = word.substr(pos, len);
    const bool first = pos == 0, last = pos + len >= word.size();
    pos += len;
    std::string_view key = ch;
    if ((!first && !continuing_subword_prefix.empty()) || (last && !end_of_word_suffix.empty())) {
      buf.clear();
      if (!first) buf += continuing_subword_prefix;
      buf += ch;
      if (last) buf += end_of_word_suffix;
      key = buf;
    }
    auto it = token_to_id.find(key);
    if (it != token_to_id.end()) {
      syms.push_back({it->second, 0, 0});
      last_unk = false;
      continue;
    }
    if (byte_fallback) {
      bool all = true;
      for (char c : ch) all = all && byte_token[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : ch) syms.push_back({byte_token[static_cast<unsigned char>(c)], 0, 0});
        last_unk = false;
        continue;
      }
    }
    if (unk_id >= 0) {
      if (!(fuse_unk && last_unk)) syms.push_back({unk_id, 0, 0});
      last_unk = true;
    }
    // Without an unknown token the character is dropped, as Hugging Face does.
  }
  const auto n = static_cast<int32_t>(syms.size());
  for (int32_t i = 0; i < n; ++i) {
    syms[i].prev = i - 1;
    syms[i].next = i + 1 < n ? i + 1 : -1;
  }

  auto find_merge = [&](int32_t l, int32_t r) -> std::optional<Merge> {
    const int32_t a = syms[l].id, b = syms[r].id;
    if (mode == MergeMode::MergeTable) {
      auto it = merges.find(pair_key(a, b));
      if (it == merges.end()) return std::nullopt;
      return it->second;
    }
    buf.assign(id_to_token[a]);
    buf += id_to_token[b];
    auto it = token_to_id.find(buf);
    if (it == token_to_id.end()) return std::nullopt;
    const int32_t rank = token_rank[it->second];
    if (rank < 0) return std::nullopt;
    return Merge{rank, it->second};
  };

  std::vector<Candidate> storage;
  storage.reserve(static_cast<size_t>(n));
  std::priority_queue<Candidate, std::vector<Candidate>, WorseCandidate> queue(WorseCandidate{}, std::move(storage));
  auto push_pair = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    if (auto m = find_merge(l, r)) queue.push({m->rank, l, r, m->id, syms[l].id, syms[r].id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i, i + 1);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = syms[c.pos];
    // Stale entries: the left symbol was absorbed or changed, or its neighbour did.
    if (left.id != c.left_id || left.next != c.right || syms[c.right].id != c.right_id) continue;
    Symbol& right = syms[c.right];
    left.id = c.new_id;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = c.pos;
    right.id = -1;
    right.next = right.prev = -1;
    push_pair(left.prev, c.pos);
    push_pair(c.pos, left.next);
  }

  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = syms[i].next) out.push_back(syms[i].id);
}

}  // namespace mlxcel::tok
