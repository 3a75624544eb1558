#include "text/unicode.h"

#include <algorithm>
#include <cstdint>

#include "text/unicode_tables.h"

namespace spo::text {
namespace {

using tables::CodeRange;

bool in_ranges(const CodeRange* ranges, std::size_t count, char32_t c) {
  const CodeRange* end = ranges + count;
  // First range whose last >= c; c is inside it if first <= c.
  const CodeRange* it = std::lower_bound(ranges, end, c, [](const CodeRange& r, char32_t v) { return r.last < v; });
  return it != end && it->first <= c;
}

const tables::Mapping* find_mapping(const tables::Mapping* table, std::size_t count, char32_t c) {
  const tables::Mapping* end = table + count;
  const tables::Mapping* it =
      std::lower_bound(table, end, c, [](const tables::Mapping& m, char32_t v) { return m.code_point < v; });
  return it != end && it->code_point == c ? it : nullptr;
}

std::uint8_t combining_class(char32_t c) {
  const auto* begin = tables::kCombiningClasses;
  const auto* end = begin + tables::kCombiningClassesCount;
  const auto* it = std::lower_bound(begin, end, c, [](const tables::CombiningClassRange& r, char32_t v) { return r.last < v; });
  return it != end && it->first <= c ? it->combining_class : 0;
}

// Hangul syllables decompose and compose by arithmetic (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount;
constexpr char32_t kSCount = kLCount * kNCount;

void decompose_into(char32_t c, std::u32string& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    const char32_t index = c - kSBase;
    out.push_back(kLBase + index / kNCount);
    out.push_back(kVBase + (index % kNCount) / kTCount);
    if (index % kTCount != 0) out.push_back(kTBase + index % kTCount);
    return;
  }
  const auto* m = find_mapping(tables::kCanonicalDecompositions, tables::kCanonicalDecompositionsCount, c);
  if (m == nullptr) {
    out.push_back(c);
  } else {
    out.append(m->data, m->length);
  }
}

// The primary composite of (first, second), or 0 when there is none.
char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  const auto* begin = tables::kCompositions;
  const auto* end = begin + tables::kCompositionsCount;
  const auto* it = std::lower_bound(begin, end, std::make_pair(first, second),
                                    [](const tables::Composition& c, const std::pair<char32_t, char32_t>& key) {
                                      return std::make_pair(c.first, c.second) < key;
                                    });
  return it != end && it->first == first && it->second == second ? it->composite : 0;
}

// Canonical ordering: a stable sort of each run of non-starters by class.
void reorder_marks(std::u32string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (combining_class(text[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t run_end = i;
    while (run_end < text.size() && combining_class(text[run_end]) != 0) ++run_end;
    std::stable_sort(text.begin() + static_cast<std::ptrdiff_t>(i), text.begin() + static_cast<std::ptrdiff_t>(run_end),
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = run_end;
  }
}

}  // namespace

bool is_letter(char32_t c) { return in_ranges(tables::kLetters, tables::kLettersCount, c); }
bool is_number(char32_t c) { return in_ranges(tables::kNumbers, tables::kNumbersCount, c); }
bool is_space(char32_t c) { return in_ranges(tables::kSpaces, tables::kSpacesCount, c); }

std::u32string nfc(const std::u32string& text) {
  // Fast path: ASCII is always in NFC.
  if (std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x80; })) return text;
  std::u32string decomposed;
  decomposed.reserve(text.size());
  for (char32_t c : text) decompose_into(c, decomposed);
  reorder_marks(decomposed);

  std::u32string out;
  out.reserve(decomposed.size());
  std::size_t starter = std::u32string::npos;  // index in `out` of the last starter
  int last_class = 0;                          // class of the last char kept after it
  for (char32_t c : decomposed) {
    const int cls = combining_class(c);
    if (starter != std::u32string::npos) {
      // Unblocked when nothing sits between, or everything between has a lower class.
      const bool adjacent = starter + 1 == out.size();
      if (adjacent || (last_class != 0 && last_class < cls)) {
        if (char32_t composite = compose_pair(out[starter], c)) {
          out[starter] = composite;
          continue;
        }
      }
    }
    if (cls == 0) starter = out.size();
    out.push_back(c);
    last_class = cls;
  }
  return out;
}

std::u32string to_lower(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out.push_back(c >= U'A' && c <= U'Z' ? c + 32 : c);
      continue;
    }
    const auto* m = find_mapping(tables::kLowercase, tables::kLowercaseCount, c);
    if (m == nullptr) {
      out.push_back(c);
    } else {
      out.append(m->data, m->length);
    }
  }
  return out;
}

}  // namespace spo::text
