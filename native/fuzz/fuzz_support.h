// Shared by the libFuzzer targets: how an input becomes text or several
// files, and the contract every parser is held to: it returns, or throws a
// typed spo::Error. Anything else escaping (std::out_of_range, a nlohmann
// type_error, ...) aborts the run so libFuzzer records the input as a crash,
// just like a sanitizer report.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "runtime/errors.h"

namespace spo::fuzz {

inline std::string as_text(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

// Targets that read several files take one input holding them all, separated
// by this byte (it never occurs in a well-formed JSON or text part, and the
// mutator finds it easily); missing parts are empty.
constexpr char kPartSeparator = '\x01';

inline std::vector<std::string> split_parts(const uint8_t* data, size_t size, size_t count) {
  std::vector<std::string> parts(count);
  size_t part = 0;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == static_cast<uint8_t>(kPartSeparator) && part + 1 < count) {
      ++part;
    } else {
      parts[part].push_back(static_cast<char>(data[i]));
    }
  }
  return parts;
}

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz contract broken: %s\n", what);
  std::abort();
}

// Runs `parse`; a spo::Error is an accepted outcome, any other exception is a bug.
template <typename Parse>
void expect_typed_errors(Parse&& parse) {
  try {
    parse();
  } catch (const spo::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "untyped exception escaped the parser: %s\n", e.what());
    std::abort();
  }
}

}  // namespace spo::fuzz
