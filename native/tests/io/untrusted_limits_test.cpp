// Limits on files from strangers (issue 8): sizes checked before anything is
// read or allocated, nesting bounded, and the in-memory entry points the fuzz
// targets use agreeing with the file readers.
#include <gtest/gtest.h>
#include <unistd.h>

#include "io/json_file.h"
#include "io/safetensors.h"
#include "io/safetensors_header.h"
#include "io_test_util.h"

namespace spo::io {
namespace {

using testing::ScratchDir;
using testing::throws_spo_error;
using testing::write_bytes;

TEST(UntrustedLimits, OversizedJsonIsRefusedBeforeReading) {
  ScratchDir dir;
  const std::string path = dir.file("config.json");
  write_bytes(path, "{}");
  // A sparse 65 MiB file: reading it whole would be the failure.
  ASSERT_EQ(::truncate(path.c_str(), (65ll << 20)), 0);
  EXPECT_TRUE(throws_spo_error([&] { read_json(path); }, ErrorCode::InvalidArgument, "over the limit of 67108864"));
}

TEST(UntrustedLimits, DeepJsonNestingIsATypedError) {
  // Deep enough to overflow the stack of a recursive walk (dump, destruction).
  const std::string deep = "{\"a\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
  EXPECT_TRUE(throws_spo_error([&] { parse_json_object(deep, "deep.json"); }, ErrorCode::InvalidArgument,
                               "deep.json: JSON nested deeper than 64 levels"));
  EXPECT_TRUE(throws_spo_error([&] { parse_json_object("[1]", "list.json"); }, ErrorCode::InvalidArgument,
                               "list.json: expected a JSON object"));
  EXPECT_EQ(parse_json_object(R"({"k": [1, {"x": null}]})", "ok.json")["k"][0], 1);
}

// The in-memory layout parser and SafeTensorsFile::open see the same file alike.
TEST(UntrustedLimits, SafetensorsLayoutFromMemoryMatchesTheFile) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"f":"pt"}})";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  bytes += header + std::string(8, '\x01');
  const auto layout = parse_safetensors_layout(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem");
  ASSERT_EQ(layout.entries.size(), 1u);
  EXPECT_EQ(layout.entries[0].name, "w");
  EXPECT_EQ(layout.entries[0].shape, std::vector<int64_t>{2});
  EXPECT_EQ(layout.data_offset, 8 + header.size());
  EXPECT_EQ(layout.metadata.at("f"), "pt");

  ScratchDir dir;
  write_bytes(dir.file("w.safetensors"), bytes);
  const auto file = SafeTensorsFile::open(dir.file("w.safetensors"));
  EXPECT_EQ(file->entries()[0].end, layout.entries[0].end);

  // Cut inside the data: both refuse it, naming their source.
  const std::string cut = bytes.substr(0, bytes.size() - 1);
  EXPECT_TRUE(throws_spo_error(
      [&] { parse_safetensors_layout(reinterpret_cast<const uint8_t*>(cut.data()), cut.size(), "mem"); },
      ErrorCode::InvalidArgument, "invalid safetensors file mem: tensor 'w': data ends at byte 8"));
  write_bytes(dir.file("cut.safetensors"), cut);
  EXPECT_TRUE(throws_spo_error([&] { SafeTensorsFile::open(dir.file("cut.safetensors")); }, ErrorCode::InvalidArgument,
                               "is the file truncated?"));
  EXPECT_TRUE(throws_spo_error([&] { parse_safetensors_layout(nullptr, 0, "empty"); }, ErrorCode::InvalidArgument,
                               "fewer than the 8-byte header length"));
}

}  // namespace
}  // namespace spo::io
