// The pipeline pieces on hand-made inputs: split behaviours, Metaspace, added-token flags, BPE
// merge order, byte fallback and unknown tokens, post-processors and decoders. Expected values are
// worked out by hand in the comments.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/added_tokens.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/tokenizer.h"

using namespace mlxcel;
using namespace mlxcel::tok;
using nlohmann::json;

namespace {

// "a-b--c" split at "-": segments a | - | b | - | - | c (matches at 1, 3, 4).
std::vector<std::string> split_dash(SplitBehavior b, bool invert = false) {
  const std::string s = "a-b--c";
  const auto ranges = split_by_matches(s.size(), {{1, 2}, {3, 4}, {4, 5}}, b, invert);
  std::vector<std::string> out;
  for (auto [x, y] : ranges) out.push_back(s.substr(x, y - x));
  return out;
}

using V = std::vector<std::string>;
using Ids = std::vector<int32_t>;

// A tiny BPE tokenizer.json: vocab <unk> a b c ab abc bc, merges given by the caller.
std::string tiny(const json& merges, const json& model_extra = json::object(), const json& rest = json::object()) {
  json model = {{"type", "BPE"},
                {"vocab", {{"<unk>", 0}, {"a", 1}, {"b", 2}, {"c", 3}, {"ab", 4}, {"abc", 5}, {"bc", 6}}},
                {"merges", merges}};
  model.update(model_extra);
  json t = {{"model", model}};
  t.update(rest);
  return t.dump();
}

Ids enc(const Tokenizer& t, const std::string& s) {
  EncodeOptions o;
  o.add_special = false;
  return t.encode(s, o);
}

}  // namespace

TEST(SplitBehavior, AllFive) {
  EXPECT_EQ(split_dash(SplitBehavior::Removed), (V{"a", "b", "c"}));
  EXPECT_EQ(split_dash(SplitBehavior::Isolated), (V{"a", "-", "b", "-", "-", "c"}));
  // A delimiter joins the piece before it; the second of two delimiters has no piece of its own.
  EXPECT_EQ(split_dash(SplitBehavior::MergedWithPrevious), (V{"a-", "b-", "-", "c"}));
  EXPECT_EQ(split_dash(SplitBehavior::MergedWithNext), (V{"a", "-b", "-", "-c"}));
  EXPECT_EQ(split_dash(SplitBehavior::Contiguous), (V{"a", "-", "b", "--", "c"}));
  // Inverted: the letters are the delimiters, removed.
  EXPECT_EQ(split_dash(SplitBehavior::Removed, true), (V{"-", "-", "-"}));
}

TEST(PreTokenizer, MetaspacePrependSchemes) {
  PreTokenizerStep m;
  m.kind = PreTokenizerStep::Kind::Metaspace;
  std::vector<Piece> p = {{"Hey friend", true}, {"again", false}};
  m.prepend_scheme = PrependScheme::Always;
  auto run = [&](PrependScheme s, bool split) {
    m.prepend_scheme = s;
    m.split = split;
    std::vector<Piece> q = p;
    pre_tokenize({m}, q);
    V out;
    for (auto& x : q) out.push_back(x.text);
    return out;
  };
  EXPECT_EQ(run(PrependScheme::Always, true), (V{"▁Hey", "▁friend", "▁again"}));
  EXPECT_EQ(run(PrependScheme::First, true), (V{"▁Hey", "▁friend", "again"}));
  EXPECT_EQ(run(PrependScheme::Never, true), (V{"Hey", "▁friend", "again"}));
  EXPECT_EQ(run(PrependScheme::Always, false), (V{"▁Hey▁friend", "▁again"}));
}

TEST(PreTokenizer, ByteLevelMapsBytesAndSplitsLikeGpt2) {
  PreTokenizerStep b;
  b.kind = PreTokenizerStep::Kind::ByteLevel;
  std::vector<Piece> p = {{"Hi  there's\n", true}};
  pre_tokenize({b}, p);
  V out;
  for (auto& x : p) out.push_back(x.text);
  // Space is byte 0x20 -> U+0120 "Ġ", newline 0x0A -> U+010A "Ċ"; "\s+(?!\S)" leaves one space
  // for " there"; "'s" is its own piece.
  EXPECT_EQ(out, (V{"Hi", "Ġ", "Ġthere", "'s", "Ċ"}));
}

TEST(AddedTokens, LstripRstripAndSingleWord) {
  AddedTokenMatcher m;
  AddedToken mask{7, "<mask>", true, true, false, false, false};  // lstrip
  AddedToken end{8, "<end>", true, false, true, false, false};    // rstrip
  AddedToken word{9, "hi", false, false, false, true, false};     // single_word
  m.add(mask, mask.content);
  m.add(end, end.content);
  m.add(word, word.content);
  const std::string s = "a  <mask> b<end> \n c hi this";
  const auto segs = m.split(s, true);
  std::vector<std::pair<std::string, int32_t>> got;
  for (auto& g : segs) got.emplace_back(s.substr(g.begin, g.end - g.begin), g.id);
  // "<mask>" takes the two spaces before it, "<end>" the " \n " after it; "hi" matches as a word
  // but not inside "this".
  const std::vector<std::pair<std::string, int32_t>> want = {
      {"a", -1}, {"  <mask>", 7}, {" b", -1}, {"<end> \n ", 8}, {"c ", -1}, {"hi", 9}, {" this", -1}};
  EXPECT_EQ(got, want);
  // Without parse_special only the non-special "hi" is found.
  EXPECT_EQ(m.split(s, false).size(), 3u);
}

TEST(Bpe, MergeRankDecidesOrder) {
  // "abc" with merges [a b, ab c]: a+b first (rank 0), then ab+c -> "abc" (5).
  EXPECT_EQ(enc(Tokenizer::from_hf_json_text(tiny({"a b", "ab c"})), "abc"), (Ids{5}));
  // With [b c, a b]: b+c has rank 0 and wins, "a bc" has no merge -> a(1) bc(6).
  EXPECT_EQ(enc(Tokenizer::from_hf_json_text(tiny({"b c", "a b"})), "abc"), (Ids{1, 6}));
  // The [a, b] array form means the same as "a b".
  EXPECT_EQ(enc(Tokenizer::from_hf_json_text(tiny(json::array({{"a", "b"}, {"ab", "c"}}))), "abcab"), (Ids{5, 4}));
  // Equal pairs merge leftmost first: "aaa"-like runs are covered by "abab" -> ab ab.
  EXPECT_EQ(enc(Tokenizer::from_hf_json_text(tiny({"a b"})), "abab"), (Ids{4, 4}));
}

TEST(Bpe, IgnoreMergesTakesWholeWords) {
  // "bc" is a token (6) but no merge builds it: only ignore_merges finds it.
  EXPECT_EQ(enc(Tokenizer::from_hf_json_text(tiny({"a b"})), "bc"), (Ids{2, 3}));
  EXPECT_EQ(enc(Tokenizer::from_hf_json_text(tiny({"a b"}, {{"ignore_merges", true}})), "bc"), (Ids{6}));
}

TEST(Bpe, UnknownCharactersAndFuseUnk) {
  // "d" is not in the vocabulary: <unk> (0) per character, or one <unk> per run with fuse_unk.
  EXPECT_EQ(enc(Tokenizer::from_hf_json_text(tiny({"a b"}, {{"unk_token", "<unk>"}})), "abdd"), (Ids{4, 0, 0}));
  EXPECT_EQ(enc(Tokenizer::from_hf_json_text(tiny({"a b"}, {{"unk_token", "<unk>"}, {"fuse_unk", true}})), "abdda"),
            (Ids{4, 0, 1}));
  // Without an unk_token the character is dropped (Hugging Face behaviour), so a and b become
  // neighbours and merge.
  EXPECT_EQ(enc(Tokenizer::from_hf_json_text(tiny({"a b"})), "adb"), (Ids{4}));
}

TEST(Bpe, ByteFallbackSpellsUnknownCharactersInBytes) {
  json model = {{"type", "BPE"},
                {"vocab", {{"<unk>", 0}, {"a", 1}, {"<0xC3>", 2}, {"<0xA9>", 3}}},
                {"merges", json::array()},
                {"unk_token", "<unk>"},
                {"byte_fallback", true}};
  json dec = {{"type", "Sequence"}, {"decoders", {{{"type", "ByteFallback"}}, {{"type", "Fuse"}}}}};
  const Tokenizer t = Tokenizer::from_hf_json_text(json{{"model", model}, {"decoder", dec}}.dump());
  // "é" = C3 A9 -> <0xC3> <0xA9>; "€" = E2 82 AC has no byte tokens -> <unk>.
  EXPECT_EQ(enc(t, "aé€"), (Ids{1, 2, 3, 0}));
  EXPECT_EQ(t.decode(Ids{1, 2, 3}), "aé");
  // A lone lead byte decodes to U+FFFD.
  EXPECT_EQ(t.decode(Ids{2, 1}), "\xEF\xBF\xBD" "a");
}

TEST(PostProcessor, TemplateAndRoberta) {
  const json tmpl = {{"type", "TemplateProcessing"},
                     {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                 {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}},
                     {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}}}, {"</s>", {{"id", "</s>"}, {"ids", {2}}}}}}};
  const Tokenizer t = Tokenizer::from_hf_json_text(tiny({"a b"}, json::object(), {{"post_processor", tmpl}}));
  EXPECT_EQ(t.encode("ab"), (Ids{1, 4, 2}));
  EXPECT_EQ(enc(t, "ab"), (Ids{4}));
  EXPECT_EQ(t.bos_id(), 1);  // first template token, no tokenizer_config.json
  const json roberta = {{"type", "RobertaProcessing"}, {"cls", {"c", 3}}, {"sep", {"bc", 6}}};
  EXPECT_EQ(Tokenizer::from_hf_json_text(tiny({"a b"}, json::object(), {{"post_processor", roberta}})).encode("ab"),
            (Ids{3, 4, 6}));
}

TEST(Decoders, LlamaChainStripsOneLeadingSpaceOfTheText) {
  const std::string ws = "\xE2\x96\x81";
  DecoderStep rep, fb, fuse, strip;
  rep.kind = DecoderStep::Kind::Replace;
  rep.pattern = ws;
  rep.content = " ";
  fb.kind = DecoderStep::Kind::ByteFallback;
  fuse.kind = DecoderStep::Kind::Fuse;
  strip.kind = DecoderStep::Kind::Strip;
  strip.strip_start = 1;
  const std::vector<DecoderStep> chain = {rep, fb, fuse, strip};
  EXPECT_EQ(run_decoders(chain, {ws + "Hello", ws + "world", "<0x21>"}, DecodeContext::Whole), "Hello world!");
  EXPECT_EQ(run_decoders(chain, {ws + ws + "x"}, DecodeContext::Whole), " x");  // only one space goes
  EXPECT_EQ(run_decoders(chain, {ws + "x"}, DecodeContext::StreamFirst), "x");
  EXPECT_EQ(run_decoders(chain, {ws + "x"}, DecodeContext::StreamNext), " x");
}

TEST(Decoders, MetaspaceDropsEveryMarkOfTheFirstToken) {
  DecoderStep m;
  m.kind = DecoderStep::Kind::Metaspace;
  // Hugging Face's rule: in token 0 every "▁" is dropped, elsewhere each becomes a space.
  EXPECT_EQ(run_decoders({m}, {"▁a▁b", "▁c"}, DecodeContext::Whole), "ab c");
  m.prepend_scheme = PrependScheme::Never;
  EXPECT_EQ(run_decoders({m}, {"▁a▁b", "▁c"}, DecodeContext::Whole), " a b c");
}

TEST(Decoders, NoDecoderJoinsWithSpaces) {
  EXPECT_EQ(run_decoders({}, {"ab", "c"}, DecodeContext::Whole), "ab c");
  EXPECT_EQ(Tokenizer::from_hf_json_text(tiny({"a b"})).decode(Ids{4, 3}), "ab c");
}

TEST(Normalizers, PrependReplaceLowercaseStrip) {
  NormalizerStep prepend{NormalizerStep::Kind::Prepend, "▁", "", nullptr};
  NormalizerStep spaces{NormalizerStep::Kind::Replace, " ", "▁", nullptr};
  EXPECT_EQ(normalize({prepend, spaces}, "a b"), "▁a▁b");
  EXPECT_EQ(normalize({prepend, spaces}, ""), "");  // Prepend leaves empty text alone
  NormalizerStep lower{NormalizerStep::Kind::Lowercase, "", "", nullptr};
  EXPECT_EQ(normalize({lower}, "HeLLo ÄÖ ΣΑΣ Ж"), "hello äö σασ ж");
  NormalizerStep strip{NormalizerStep::Kind::Strip, "", "", nullptr, true, true};
  EXPECT_EQ(normalize({strip}, " \t x y \n\u3000"), "x y");
  auto digits = std::make_shared<const Regex>("[0-9]+", "test");
  NormalizerStep re{NormalizerStep::Kind::Replace, "", "#", digits};
  EXPECT_EQ(normalize({re}, "a12b3"), "a#b#");
}

TEST(Normalizers, UnicodeNormalizationLoadsAsIdentity) {
  const json t = {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"\xC3\xA9", 1}}}, {"merges", json::array()}}},
                  {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}}}}}};
  const Tokenizer tok = Tokenizer::from_hf_json_text(t.dump());
  EXPECT_EQ(enc(tok, "a\xC3\xA9"), (Ids{0, 1}));  // already NFC: unaffected
}
