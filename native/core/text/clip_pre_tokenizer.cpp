#include "text/clip_pre_tokenizer.h"

#include "text/unicode.h"

namespace spo::text {
namespace {

bool starts_with_at(const std::u32string& text, std::size_t pos, const std::u32string& prefix) {
  return text.compare(pos, prefix.size(), prefix) == 0;
}

// Length of a contraction ('s 't 're 've 'm 'll 'd) at pos, or 0.
std::size_t contraction_length(const std::u32string& text, std::size_t pos) {
  static const std::u32string kContractions[] = {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
  for (const auto& c : kContractions) {
    if (starts_with_at(text, pos, c)) return c.size();
  }
  return 0;
}

bool is_other(char32_t c) { return !is_space(c) && !is_letter(c) && !is_number(c); }

template <typename Pred>
std::size_t run_length(const std::u32string& text, std::size_t pos, Pred pred) {
  std::size_t end = pos;
  while (end < text.size() && pred(text[end])) ++end;
  return end - pos;
}

// ByteLevel's GPT-2 pattern on a piece without whitespace, where it reduces to
// 's|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}+|[^\s\p{L}\p{N}]+.
void split_gpt2(const std::u32string& piece, std::vector<std::u32string>& out) {
  std::size_t pos = 0;
  while (pos < piece.size()) {
    std::size_t length = contraction_length(piece, pos);
    if (length == 0) length = run_length(piece, pos, is_letter);
    if (length == 0) length = run_length(piece, pos, is_number);
    if (length == 0) length = run_length(piece, pos, is_other);
    out.push_back(piece.substr(pos, length));
    pos += length;
  }
}

}  // namespace

std::u32string normalize_clip_text(const std::u32string& text) {
  const std::u32string composed = nfc(text);
  std::u32string collapsed;
  collapsed.reserve(composed.size());
  for (char32_t c : composed) {
    if (!is_space(c)) {
      collapsed.push_back(c);
    } else if (collapsed.empty() || collapsed.back() != U' ') {
      // A run of whitespace becomes one space. collapsed.back() is ' ' only
      // when the previous input char was whitespace, since ' ' is \s.
      collapsed.push_back(U' ');
    }
  }
  return to_lower(collapsed);
}

std::vector<std::u32string> split_clip_words(const std::u32string& text) {
  static const std::u32string kStart = U"<|startoftext|>";
  static const std::u32string kEnd = U"<|endoftext|>";
  std::vector<std::u32string> words;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t length = 0;
    if (starts_with_at(text, pos, kStart)) {
      length = kStart.size();
    } else if (starts_with_at(text, pos, kEnd)) {
      length = kEnd.size();
    } else {
      length = contraction_length(text, pos);
      if (length == 0) length = run_length(text, pos, is_letter);
      if (length == 0 && is_number(text[pos])) length = 1;
      if (length == 0) length = run_length(text, pos, is_other);
    }
    if (length == 0) {  // whitespace: not part of any word
      ++pos;
      continue;
    }
    split_gpt2(text.substr(pos, length), words);
    pos += length;
  }
  return words;
}

}  // namespace spo::text
