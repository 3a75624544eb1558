// CLIP's text normalizer and pre-tokenizer, as transformers 5's CLIPTokenizer
// builds them on the tokenizers library (there is no ftfy / BasicTokenizer
// step any more in transformers 5):
//   normalize:  NFC, every run of \s replaced by one space, lower-case;
//   split:      the CLIP pattern
//                 <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|
//                 [\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//               keeping matches and dropping the rest (whitespace), then each
//               piece split again by ByteLevel's GPT-2 pattern (so a literal
//               "<|endoftext|>" piece becomes "<|", "endoftext", "|>").
// Accents are kept (NFC, not stripped), CJK runs stay one word (they are
// \p{L}), each digit is its own word, punctuation runs stay together.
#pragma once
#include <string>
#include <vector>

namespace spo::text {

std::u32string normalize_clip_text(const std::u32string& text);

// Words of already-normalized text, in order; none contains whitespace.
std::vector<std::u32string> split_clip_words(const std::u32string& normalized);

}  // namespace spo::text
