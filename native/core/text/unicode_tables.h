// Raw Unicode data for the tokenizer, generated into unicode_tables.cpp by
// generate_unicode_tables.py from the Hugging Face tokenizers library, so the
// classes and mappings are the ones transformers' CLIPTokenizer really uses.
// Every table is sorted by code point. Use unicode.h, not these, in code.
#pragma once
#include <cstddef>
#include <cstdint>

namespace spo::text::tables {

struct CodeRange {
  char32_t first, last;  // inclusive
};

// One code point mapped to `length` code points starting at `data`.
struct Mapping {
  char32_t code_point;
  const char32_t* data;
  std::uint8_t length;
};

struct Composition {
  char32_t first, second, composite;  // sorted by (first, second)
};

struct CombiningClassRange {
  char32_t first, last;
  std::uint8_t combining_class;
};

extern const CodeRange kLetters[];  // regex \p{L}
extern const std::size_t kLettersCount;
extern const CodeRange kNumbers[];  // regex \p{N}
extern const std::size_t kNumbersCount;
extern const CodeRange kSpaces[];  // regex \s
extern const std::size_t kSpacesCount;

extern const Mapping kCanonicalDecompositions[];  // full NFD of one code point (Hangul excluded)
extern const std::size_t kCanonicalDecompositionsCount;
extern const Mapping kLowercase[];  // full lower-case mapping (may grow: U+0130 -> i + U+0307)
extern const std::size_t kLowercaseCount;
extern const Composition kCompositions[];  // primary composites, exclusions left out
extern const std::size_t kCompositionsCount;
extern const CombiningClassRange kCombiningClasses[];  // non-zero classes only
extern const std::size_t kCombiningClassesCount;

}  // namespace spo::text::tables
