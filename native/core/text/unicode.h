// The Unicode operations CLIP's normalizer and pre-tokenizer use, with the
// exact data of the Hugging Face tokenizers library (see unicode_tables.h):
// regex classes \p{L}, \p{N}, \s (Oniguruma's), NFC, and full lower-casing.
// No ICU or locale: glibc's iswalpha and towlower disagree with Unicode
// (e.g. iswalpha is true for Arabic-Indic digits; towlower is 1:1 only).
#pragma once
#include <string>

namespace spo::text {

bool is_letter(char32_t c);  // \p{L}
bool is_number(char32_t c);  // \p{N}
bool is_space(char32_t c);   // \s

std::u32string nfc(const std::u32string& text);
std::u32string to_lower(const std::u32string& text);

}  // namespace spo::text
