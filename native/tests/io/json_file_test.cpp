// JSON configuration files: reading, and typed getters whose messages name
// the file, the field, the expectation and the value found.
#include "io/json_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "io_test_util.h"

namespace spo::io {
namespace {

using testing::ScratchDir;
using testing::throws_spo_error;
using testing::write_bytes;

const char* kWhat = "unet/config.json";

TEST(JsonFile, ReadsAnObject) {
  ScratchDir dir;
  write_bytes(dir.file("config.json"), R"({"sample_size": 64, "act_fn": "silu"})");
  const Json j = read_json(dir.file("config.json"));
  EXPECT_EQ(j["sample_size"], 64);
  EXPECT_EQ(j["act_fn"], "silu");
}

TEST(JsonFile, MissingFileIsNotFound) {
  ScratchDir dir;
  EXPECT_TRUE(throws_spo_error([&] { read_json(dir.file("absent.json")); }, ErrorCode::NotFound,
                               dir.file("absent.json")));
  EXPECT_TRUE(throws_spo_error([&] { read_json(dir.path()); }, ErrorCode::InvalidArgument, "is a directory"));
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);  // must not block reading it
  EXPECT_TRUE(throws_spo_error([&] { read_json(dir.file("fifo")); }, ErrorCode::InvalidArgument, "not a regular file"));
}

TEST(JsonFile, MalformedJsonNamesTheBytePosition) {
  ScratchDir dir;
  write_bytes(dir.file("bad.json"), "{\"a\": 1,\n \"b\": }");
  EXPECT_TRUE(throws_spo_error([&] { read_json(dir.file("bad.json")); }, ErrorCode::InvalidArgument,
                               dir.file("bad.json") + ": invalid JSON at byte 16"));
  write_bytes(dir.file("empty.json"), "");
  EXPECT_TRUE(throws_spo_error([&] { read_json(dir.file("empty.json")); }, ErrorCode::InvalidArgument, "invalid JSON"));
}

TEST(JsonFile, TopLevelMustBeAnObject) {
  ScratchDir dir;
  write_bytes(dir.file("list.json"), "[1, 2]");
  EXPECT_TRUE(throws_spo_error([&] { read_json(dir.file("list.json")); }, ErrorCode::InvalidArgument,
                               "expected a JSON object at the top level, got [1,2]"));
}

TEST(JsonGetters, IntegersAreRangeCheckedAndTyped) {
  const Json j = Json::parse(
      R"({"layers_per_block": 2, "two": "two", "float_int": 4.0, "fraction": 2.5, "big": 100, "neg": -3,
          "huge": 18446744073709551615, "nothing": null, "flag": true})");
  EXPECT_EQ(json_int(j, "layers_per_block", 9, kWhat, 1, 16), 2);
  EXPECT_EQ(json_int(j, "float_int", 9, kWhat, 1, 16), 4);
  EXPECT_EQ(json_int(j, "neg", 9, kWhat, -5, 5), -3);
  EXPECT_EQ(json_int(j, "absent", 9, kWhat, 1, 16), 9);
  EXPECT_EQ(json_int(j, "nothing", 9, kWhat, 1, 16), 9) << "null means absent";
  EXPECT_TRUE(throws_spo_error([&] { json_int(j, "two", 1, kWhat, 1, 16); }, ErrorCode::InvalidArgument,
                               "unet/config.json: two must be an integer in [1, 16], got \"two\""));
  EXPECT_TRUE(throws_spo_error([&] { json_int(j, "fraction", 1, kWhat, 1, 16); }, ErrorCode::InvalidArgument,
                               "got 2.5"));
  EXPECT_TRUE(throws_spo_error([&] { json_int(j, "big", 1, kWhat, 1, 16); }, ErrorCode::InvalidArgument, "got 100"));
  EXPECT_TRUE(throws_spo_error([&] { json_int(j, "neg", 1, kWhat, 0, 16); }, ErrorCode::InvalidArgument, "got -3"));
  EXPECT_TRUE(throws_spo_error([&] { json_int(j, "huge", 1, kWhat, 0, INT64_MAX); }, ErrorCode::InvalidArgument,
                               "huge must be an integer"));
  EXPECT_TRUE(throws_spo_error([&] { json_int(j, "flag", 1, kWhat, 0, 1); }, ErrorCode::InvalidArgument, "got true"));
}

TEST(JsonGetters, NumbersBoolsStrings) {
  const Json j = Json::parse(R"({"eps": 1e-5, "n": 3, "center": true, "act": "silu", "s": 1})");
  EXPECT_DOUBLE_EQ(json_number(j, "eps", 0, kWhat), 1e-5);
  EXPECT_DOUBLE_EQ(json_number(j, "n", 0, kWhat), 3.0);
  EXPECT_DOUBLE_EQ(json_number(j, "absent", 0.5, kWhat), 0.5);
  EXPECT_TRUE(throws_spo_error([&] { json_number(j, "act", 0, kWhat); }, ErrorCode::InvalidArgument,
                               "act must be a number, got \"silu\""));
  EXPECT_TRUE(json_bool(j, "center", false, kWhat));
  EXPECT_FALSE(json_bool(j, "absent", false, kWhat));
  EXPECT_TRUE(throws_spo_error([&] { json_bool(j, "n", false, kWhat); }, ErrorCode::InvalidArgument,
                               "n must be true or false, got 3"));
  EXPECT_EQ(json_string(j, "act", "gelu", kWhat), "silu");
  EXPECT_EQ(json_string(j, "absent", "gelu", kWhat), "gelu");
  EXPECT_TRUE(throws_spo_error([&] { json_string(j, "s", "", kWhat); }, ErrorCode::InvalidArgument,
                               "s must be a string, got 1"));
}

TEST(JsonGetters, IntOrListOfInts) {
  const Json j = Json::parse(R"({"scalar": 8, "list": [5, 10, 20, 20], "bad_item": [5, "x"], "empty": [],
                                 "out": [5, 99], "word": "8"})");
  EXPECT_EQ(json_int_list(j, "scalar", kWhat, 1, 64), std::vector<int64_t>{8});
  EXPECT_EQ(json_int_list(j, "list", kWhat, 1, 64), (std::vector<int64_t>{5, 10, 20, 20}));
  for (const char* key : {"bad_item", "empty", "out", "word", "absent"}) {
    SCOPED_TRACE(key);
    EXPECT_TRUE(throws_spo_error([&] { json_int_list(j, key, kWhat, 1, 64); }, ErrorCode::InvalidArgument,
                                 std::string(kWhat) + ": " + key));
  }
}

TEST(JsonGetters, StringListsAndPresence) {
  const Json j = Json::parse(R"({"types": ["DownBlock2D", "CrossAttnDownBlock2D"], "mixed": ["a", 1], "n": null})");
  EXPECT_EQ(json_string_list(j, "types", kWhat), (std::vector<std::string>{"DownBlock2D", "CrossAttnDownBlock2D"}));
  EXPECT_TRUE(throws_spo_error([&] { json_string_list(j, "mixed", kWhat); }, ErrorCode::InvalidArgument,
                               "mixed must be a list of strings"));
  EXPECT_TRUE(throws_spo_error([&] { json_string_list(j, "absent", kWhat); }, ErrorCode::InvalidArgument, "missing"));
  EXPECT_TRUE(json_has(j, "types"));
  EXPECT_FALSE(json_has(j, "n"));
  EXPECT_FALSE(json_has(j, "absent"));
  EXPECT_FALSE(json_has(Json::array({1}), "types"));
}

}  // namespace
}  // namespace spo::io

TEST(JsonFile, RefusesDeepNestingBeforeAnythingWalksIt) {
  const std::string path = ::testing::TempDir() + "/spo_deep.json";
  {
    std::ofstream out(path);
    out << std::string(100000, '[') << std::string(100000, ']');
  }
  try {
    spo::io::read_json(path);
    FAIL() << "deep nesting was accepted";
  } catch (const spo::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper"), std::string::npos) << e.what();
  }
}
