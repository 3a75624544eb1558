// Inputs that crashed a parser (found while writing the fuzz targets of
// native/fuzz), each kept as a regression test. Here because this binary links
// every area whose parser they crashed.
#include <gtest/gtest.h>

#include <functional>

#include "evaluator/pairs_file.h"
#include "runtime/errors.h"
#include "spo/prompt_file.h"

namespace {

// 200,000 nested arrays: parsing was fine, but the error message quoted the
// value with dump(), which recursed once per level and overflowed the stack
// (a SIGSEGV that took the whole Node process down).
std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const spo::Error& e) {
    return e.what();
  }
  return "";
}

TEST(ParserRegressions, DeeplyNestedPairsFieldIsATypedError) {
  const std::string content =
      R"({"prompt": )" + nested(200000) + R"(, "image_0": "a.png", "image_1": "b.png", "label": 0})" + "\n";
  EXPECT_EQ(error_of([&] { spo::evaluator::parse_pairs_jsonl(content, "/data", "pairs.jsonl"); }),
            "pairs.jsonl line 1: JSON nested deeper than 64 levels");
  // Nesting within the bound still gets the usual field message.
  const std::string shallow = R"({"prompt": )" + nested(10) + R"(, "image_0": "a", "image_1": "b", "label": 0})";
  EXPECT_NE(error_of([&] { spo::evaluator::parse_pairs_jsonl(shallow, "", "p"); }).find("field 'prompt' must be a string"),
            std::string::npos);
}

TEST(ParserRegressions, DeeplyNestedPromptRecordIsATypedError) {
  EXPECT_EQ(error_of([&] { spo::trainer::parse_prompts("[" + nested(200000) + "]", "prompts.json"); }),
            "prompts.json: JSON nested deeper than 64 levels");
  EXPECT_NE(error_of([&] { spo::trainer::parse_prompts("[" + nested(3) + "]", "prompts.json"); })
                .find("prompts.json record 0: expected a string"),
            std::string::npos);
}

}  // namespace
