// llama2.c tokenizer: loader and exporter to Hugging Face tokenizer.json.
//
// llama2.c encodes text by (1) a dummy-prefix " " token, (2) one token per UTF-8 character, or
// its bytes as <0xXX> tokens (id = byte + 3) when the character is not a piece, (3) repeatedly
// merging the adjacent pair whose concatenation is a piece with the highest score (leftmost on
// ties). That is BPE whose merge ranks follow the merged piece's score: the loader runs it as such
// (TokenRank), and the exporter writes the same merges as an explicit Hugging Face table.
#include "tokenizer/llama2c.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/checked.h"
#include "core/utf8.h"
#include "mlxcel/errors.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_data.h"

namespace mlxcel {

namespace tok {

namespace {

constexpr const char* kSpace = "\xE2\x96\x81";  // ▁
constexpr int32_t kMaxTokenLength = 1 << 16;

template <typename T>
T load(const std::string& bytes, uint64_t off) {
  T v;
  std::memcpy(&v, bytes.data() + off, sizeof v);
  return v;
}

}  // namespace

Llama2cVocab read_llama2c_vocab(const std::string& path) {
  const std::string bytes = read_tokenizer_file(path, "llama2.c tokenizer");
  auto fail = [&](const std::string& what) { return FormatError("tokenizer", fmt::format("{} ({})", what, path)); };
  if (bytes.size() < 4) throw fail(fmt::format("file too short for the header: {} bytes, need 4", bytes.size()));
  Llama2cVocab v;
  v.max_token_length = load<int32_t>(bytes, 0);
  if (v.max_token_length <= 0 || v.max_token_length > kMaxTokenLength) {
    throw fail(fmt::format("bad max_token_length {} at offset 0", v.max_token_length));
  }
  uint64_t off = 4;
  while (off < bytes.size()) {
    const size_t id = v.tokens.size();
    if (id > static_cast<size_t>(INT32_MAX)) throw fail(fmt::format("more than 2^31 tokens at offset {}", off));
    const auto header_end = checked_add(off, 8);
    if (!header_end || *header_end > bytes.size()) {
      throw fail(fmt::format("truncated entry for token {}: {} bytes left at offset {}, need 8 for score and length",
                             id, bytes.size() - off, off));
    }
    const float score = load<float>(bytes, off);
    // NaN is unordered: sorting by score would break the comparator's contract.
    if (std::isnan(score)) throw fail(fmt::format("token {} score is NaN at offset {}", id, off));
    const int32_t len = load<int32_t>(bytes, off + 4);
    if (len < 0 || len > v.max_token_length) {
      throw fail(fmt::format("token {} length {} at offset {} is outside [0, max_token_length {}]", id, len, off + 4,
                             v.max_token_length));
    }
    const auto end = checked_add(*header_end, static_cast<uint64_t>(len));
    if (!end || *end > bytes.size()) {
      throw fail(fmt::format("truncated token {}: length {} at offset {} but only {} bytes left", id, len, off + 4,
                             bytes.size() - *header_end));
    }
    v.scores.push_back(score);
    v.tokens.emplace_back(bytes.data() + *header_end, static_cast<size_t>(len));
    off = *end;
  }
  if (v.tokens.size() < 3 + 256) {
    throw fail(fmt::format("{} tokens; a llama2.c vocabulary has <unk>, <s>, </s> and 256 byte tokens first",
                           v.tokens.size()));
  }
  return v;
}

std::string llama2c_piece_to_hf(const Llama2cVocab& v, size_t id) {
  if (id == 1 && v.tokens[1] == "\n<s>\n") return "<s>";
  if (id == 2 && v.tokens[2] == "\n</s>\n") return "</s>";
  std::string out;
  for (char c : v.tokens[id]) {
    if (c == ' ') {
      out += kSpace;
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// The pipeline both the loader and the exported tokenizer.json describe; the model is left
// without merges for the caller to fill.
std::shared_ptr<TokenizerData> llama2c_pipeline(const Llama2cVocab& v, const std::string& src) {
  auto d = std::make_shared<TokenizerData>();
  d->source = src;
  d->description = "llama2.c tokenizer (SentencePiece BPE by score, byte fallback)";
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const std::string piece = llama2c_piece_to_hf(v, i);
    if (!is_valid_utf8(piece)) {
      throw FormatError("tokenizer", fmt::format("token is not valid UTF-8 ({}, token {}, bytes {:?})", src, i,
                                                 utf8_lossy(piece)));
    }
    d->model.add_token(piece, static_cast<int32_t>(i), src);
    if (i < 3) {
      AddedToken a;
      a.id = static_cast<int32_t>(i);
      a.content = piece;
      a.special = true;
      d->added.push_back(a);
    }
  }
  d->model.unk_id = 0;
  d->model.fuse_unk = true;
  d->model.byte_fallback = true;
  d->normalizers.push_back({NormalizerStep::Kind::Prepend, kSpace, "", nullptr});
  d->normalizers.push_back({NormalizerStep::Kind::Replace, " ", kSpace, nullptr});
  DecoderStep rep, fb, fuse, strip;
  rep.kind = DecoderStep::Kind::Replace;
  rep.pattern = kSpace;
  rep.content = " ";
  fb.kind = DecoderStep::Kind::ByteFallback;
  fuse.kind = DecoderStep::Kind::Fuse;
  strip.kind = DecoderStep::Kind::Strip;
  strip.strip_start = 1;
  d->decoders = {rep, fb, fuse, strip};
  d->bos = 1;
  d->eos = 2;
  d->prefix_ids = {1};
  return d;
}

// Ids >= 3 ordered best score first (ties by id), with their dense score rank.
std::vector<std::pair<int32_t, int32_t>> ranked_pieces(const Llama2cVocab& v) {
  std::vector<int32_t> ids;
  for (size_t i = 3; i < v.tokens.size(); ++i) ids.push_back(static_cast<int32_t>(i));
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return v.scores[a] > v.scores[b]; });
  std::vector<std::pair<int32_t, int32_t>> out;
  int32_t rank = -1;
  for (size_t k = 0; k < ids.size(); ++k) {
    if (k == 0 || v.scores[ids[k]] != v.scores[ids[k - 1]]) ++rank;
    out.emplace_back(ids[k], rank);
  }
  return out;
}

}  // namespace

}  // namespace tok

Tokenizer Tokenizer::from_llama2c(const std::string& tokenizer_bin_path) {
  const tok::Llama2cVocab v = tok::read_llama2c_vocab(tokenizer_bin_path);
  auto d = tok::llama2c_pipeline(v, tokenizer_bin_path);
  d->model.mode = tok::MergeMode::TokenRank;
  d->model.token_rank.assign(v.tokens.size(), -1);
  for (auto [id, rank] : tok::ranked_pieces(v)) d->model.token_rank[static_cast<size_t>(id)] = rank;
  d->finalize();
  return Tokenizer(d);
}

void export_llama2c_tokenizer(const std::string& tok_bin, const std::string& out_dir) {
  using ojson = nlohmann::ordered_json;
  const tok::Llama2cVocab v = tok::read_llama2c_vocab(tok_bin);
  const auto d = tok::llama2c_pipeline(v, tok_bin);  // validates the pieces
  const auto& vocab = d->model.token_to_id;

  // Every split of a piece into two pieces is a merge; ranked by the merged piece's score.
  ojson merges = ojson::array();
  for (auto [id, rank] : tok::ranked_pieces(v)) {
    const std::string& piece = d->model.id_to_token[static_cast<size_t>(id)];
    for (size_t k = 1; k < piece.size(); ++k) {
      if ((static_cast<unsigned char>(piece[k]) & 0xC0) == 0x80) continue;  // inside a character
      auto l = vocab.find(std::string_view(piece).substr(0, k));
      auto r = vocab.find(std::string_view(piece).substr(k));
      if (l == vocab.end() || r == vocab.end() || l->second < 3 || r->second < 3) continue;
      merges.push_back(ojson::array({piece.substr(0, k), piece.substr(k)}));
    }
  }

  ojson vocab_json = ojson::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) vocab_json[d->model.id_to_token[i]] = i;
  ojson added = ojson::array();
  ojson added_decoder = ojson::object();
  for (const auto& a : d->added) {
    ojson t = {{"id", a.id},          {"content", a.content}, {"single_word", false}, {"lstrip", false},
               {"rstrip", false},     {"normalized", false},  {"special", true}};
    added.push_back(t);
    t.erase("id");
    added_decoder[std::to_string(a.id)] = t;
  }
  const std::string ws = "\xE2\x96\x81";
  const std::string bos = d->model.id_to_token[1], eos = d->model.id_to_token[2], unk = d->model.id_to_token[0];
  ojson tj = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         ojson::array({{{"type", "Prepend"}, {"prepend", ws}},
                       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", ws}}})}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", ojson::array({{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"pair", ojson::array({{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                               {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                               {{"SpecialToken", {{"id", bos}, {"type_id", 1}}}},
                               {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}})},
        {"special_tokens", {{bos, {{"id", bos}, {"ids", ojson::array({1})}, {"tokens", ojson::array({bos})}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders", ojson::array({{{"type", "Replace"}, {"pattern", {{"String", ws}}}, {"content", " "}},
                                   {{"type", "ByteFallback"}},
                                   {{"type", "Fuse"}},
                                   {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", unk},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"ignore_merges", false},
        {"vocab", vocab_json},
        {"merges", merges}}}};
  const ojson config = {{"add_bos_token", true},
                        {"add_eos_token", false},
                        {"bos_token", bos},
                        {"eos_token", eos},
                        {"unk_token", unk},
                        {"pad_token", nullptr},
                        {"clean_up_tokenization_spaces", false},
                        {"legacy", false},
                        {"tokenizer_class", "LlamaTokenizerFast"},
                        {"added_tokens_decoder", added_decoder}};

  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw IoError("tokenizer", fmt::format("cannot create directory ({}: {})", out_dir, ec.message()));
  auto write = [&](const std::string& name, const ojson& j) {
    const fs::path path = fs::path(out_dir) / name;
    const fs::path tmp = fs::path(out_dir) / (name + ".tmp");
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << j.dump(1) << '\n';
      if (!out) throw IoError("tokenizer", fmt::format("cannot write {}", tmp.string()));
    }
    fs::rename(tmp, path, ec);
    if (ec) throw IoError("tokenizer", fmt::format("cannot rename {} to {} ({})", tmp.string(), path.string(), ec.message()));
  };
  write("tokenizer.json", tj);
  write("tokenizer_config.json", config);
}

}  // namespace mlxcel
