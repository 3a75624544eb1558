#include "text/byte_level.h"

#include <array>

#include "text/utf8.h"

namespace spo::text {
namespace {

std::array<std::string, 256> make_alphabet() {
  std::array<std::string, 256> alphabet;
  char32_t next_unprintable = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    append_utf8(printable ? static_cast<char32_t>(b) : next_unprintable++, alphabet[static_cast<std::size_t>(b)]);
  }
  return alphabet;
}

}  // namespace

const std::string& byte_level_char(unsigned char byte) {
  static const std::array<std::string, 256> alphabet = make_alphabet();
  return alphabet[byte];
}

std::vector<std::string> byte_level_symbols(const std::u32string& word) {
  std::vector<std::string> symbols;
  for (unsigned char byte : encode_utf8(word)) symbols.push_back(byte_level_char(byte));
  return symbols;
}

}  // namespace spo::text
