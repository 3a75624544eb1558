// UTF-8 <-> code points. Prompts reach the engine as UTF-8 bytes; invalid
// UTF-8 is refused (InvalidArgument naming the byte offset) rather than
// replaced, because a Python str given to transformers can never hold it.
#pragma once
#include <string>

namespace spo::text {

// Throws spo::InvalidArgument "<what>: invalid UTF-8 at byte N" on malformed
// input (bad lead/continuation bytes, overlong forms, surrogates, > U+10FFFF).
std::u32string decode_utf8(const std::string& bytes, const std::string& what);

void append_utf8(char32_t code_point, std::string& out);
std::string encode_utf8(const std::u32string& text);

}  // namespace spo::text
