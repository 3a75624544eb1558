// GPT-2's byte-level alphabet: each of the 256 byte values stands for one
// printable character (bytes that are already printable Latin-1 map to
// themselves, the rest to U+0100 onwards), so BPE works on any UTF-8 text.
#pragma once
#include <string>
#include <vector>

namespace spo::text {

// The character standing for `byte`, as UTF-8.
const std::string& byte_level_char(unsigned char byte);

// The UTF-8 bytes of `word`, each replaced by its byte-level character.
std::vector<std::string> byte_level_symbols(const std::u32string& word);

}  // namespace spo::text
