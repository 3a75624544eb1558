// safetensors reading and writing: files from the reference Python library,
// round trips, and malformed files that must be refused, never crash.
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "io_test_util.h"

namespace spo::io {
namespace {

using testing::read_bytes;
using testing::ScratchDir;
using testing::throws_spo_error;
using testing::write_bytes;

const std::string kFixtures = std::string(SPO_FIXTURE_ROOT) + "/io";

// A safetensors byte string: little-endian header length, header, data.
std::string safetensors_bytes(const std::string& header, const std::string& data, uint64_t length) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out + header + data;
}
std::string safetensors_bytes(const std::string& header, const std::string& data = std::string(64, '\0')) {
  return safetensors_bytes(header, data, header.size());
}

at::ScalarType dtype_from_name(const std::string& name) {
  if (name == "F32") return at::kFloat;
  if (name == "F16") return at::kHalf;
  if (name == "BF16") return at::kBFloat16;
  if (name == "I64") return at::kLong;
  throw std::runtime_error("unexpected dtype " + name);
}

TEST(SafeTensorsRead, FilesWrittenByThePythonLibrary) {
  auto file = SafeTensorsFile::open(kFixtures + "/reference.safetensors");
  const auto expected = nlohmann::json::parse(read_bytes(kFixtures + "/reference.json"));
  ASSERT_EQ(file->entries().size(), expected["tensors"].size());
  for (const auto& [name, want] : expected["tensors"].items()) {
    SCOPED_TRACE(name);
    const TensorEntry* entry = file->find(name);
    ASSERT_NE(entry, nullptr);
    EXPECT_EQ(entry->dtype, dtype_from_name(want["dtype"]));
    EXPECT_EQ(entry->shape, want["shape"].get<std::vector<int64_t>>());
    at::Tensor t = file->tensor(name);
    EXPECT_EQ(t.scalar_type(), entry->dtype);
    EXPECT_EQ(t.sizes().vec(), entry->shape);
    ASSERT_EQ(t.numel(), static_cast<int64_t>(want["values"].size()));
    at::Tensor flat = t.reshape({-1});
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (entry->dtype == at::kLong) {
        EXPECT_EQ(flat[i].item<int64_t>(), want["values"][i].get<int64_t>()) << i;
      } else {
        EXPECT_EQ(flat[i].item<double>(), want["values"][i].get<double>()) << i;
      }
    }
  }
  EXPECT_EQ(file->metadata(), (expected["metadata"].get<std::map<std::string, std::string>>()));
}

TEST(SafeTensorsRead, RefusesF64FromThePythonLibrary) {
  EXPECT_TRUE(throws_spo_error([] { SafeTensorsFile::open(kFixtures + "/f64.safetensors"); }, ErrorCode::Unsupported,
                               "'f64.weight' has dtype F64"));
}

TEST(SafeTensorsRead, KeepsHeaderOrderAndFindsByName) {
  ScratchDir dir;
  const std::string header =
      R"({"zeta":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"alpha":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  write_bytes(dir.file("order.safetensors"), safetensors_bytes(header, std::string(8, '\0')));
  auto file = SafeTensorsFile::open(dir.file("order.safetensors"));
  ASSERT_EQ(file->entries().size(), 2u);
  EXPECT_EQ(file->entries()[0].name, "zeta");
  EXPECT_EQ(file->entries()[1].name, "alpha");
  EXPECT_EQ(file->find("nope"), nullptr);
  EXPECT_TRUE(throws_spo_error([&] { file->tensor("nope"); }, ErrorCode::NotFound, "'nope'"));
}

TEST(SafeTensorsRead, MisalignedDataIsCopiedAndCorrect) {
  ScratchDir dir;
  // An odd-length header puts the data at an odd address inside the mapping.
  std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  if ((8 + header.size()) % 2 == 0) header += " ";
  ASSERT_NE((8 + header.size()) % alignof(float), 0u);
  const float values[2] = {1.5f, -2.25f};
  write_bytes(dir.file("odd.safetensors"),
              safetensors_bytes(header, std::string(reinterpret_cast<const char*>(values), sizeof values)));
  auto file = SafeTensorsFile::open(dir.file("odd.safetensors"));
  at::Tensor t = file->tensor("x");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % alignof(float), 0u);
  EXPECT_EQ(t[0].item<float>(), 1.5f);
  EXPECT_EQ(t[1].item<float>(), -2.25f);
}

TEST(SafeTensorsRead, ViewsOutliveTheFileHandleAndMayBeWritten) {
  ScratchDir dir;
  const std::string path = dir.file("w.safetensors");
  save_safetensors(path, {{"w", at::arange(16, at::kFloat)}});
  const std::string before = read_bytes(path);
  at::Tensor view;
  {
    auto file = SafeTensorsFile::open(path);
    view = file->tensor("w");
  }  // the mapping must survive the last handle while a view exists
  EXPECT_EQ(view[15].item<float>(), 15.0f);
  view.add_(1.0f);  // private copy-on-write pages: no fault, file untouched
  EXPECT_EQ(view[15].item<float>(), 16.0f);
  EXPECT_EQ(read_bytes(path), before);
}

TEST(SafeTensorsWrite, RoundTripKeepsNamesDtypesShapesValuesMetadata) {
  ScratchDir dir;
  const std::string path = dir.file("round.safetensors");
  const std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"a.f32", at::arange(12, at::kFloat).reshape({3, 4}) / 3.0},
      {"b.f16", at::linspace(-2, 2, 5).to(at::kHalf)},
      {"c.bf16", at::arange(8, at::kFloat).to(at::kBFloat16).reshape({2, 2, 2})},
      {"d.i64", at::tensor({int64_t{-5}, int64_t{1} << 40, int64_t{49407}})},
      {"e.scalar", at::scalar_tensor(2.5, at::kFloat)},
      {"f.empty", at::empty({0, 7}, at::kHalf)},
      {"g.transposed", at::arange(6, at::kFloat).reshape({2, 3}).t()},  // not contiguous
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"spo", "round trip"}};
  save_safetensors(path, tensors, metadata);

  const std::string bytes = read_bytes(path);
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ((8 + header_length) % 8, 0u) << "data must start 8-byte aligned";

  auto file = SafeTensorsFile::open(path);
  EXPECT_EQ(file->metadata(), metadata);
  ASSERT_EQ(file->entries().size(), tensors.size());
  for (const auto& [name, original] : tensors) {
    SCOPED_TRACE(name);
    at::Tensor loaded = file->tensor(name);
    EXPECT_EQ(loaded.scalar_type(), original.scalar_type());
    EXPECT_EQ(loaded.sizes(), original.sizes());
    EXPECT_TRUE(at::equal(loaded, original));
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "round.safetensors") << "a temporary file was left behind";
  }
}

TEST(SafeTensorsWrite, ReplacesAnExistingFile) {
  ScratchDir dir;
  const std::string path = dir.file("x.safetensors");
  save_safetensors(path, {{"old", at::zeros({3})}});
  save_safetensors(path, {{"new", at::ones({2})}});
  auto file = SafeTensorsFile::open(path);
  ASSERT_EQ(file->entries().size(), 1u);
  EXPECT_EQ(file->entries()[0].name, "new");
}

TEST(SafeTensorsWrite, RefusesBadInputAndLeavesNothingBehind) {
  ScratchDir dir;
  const std::string path = dir.file("bad.safetensors");
  EXPECT_TRUE(throws_spo_error([&] { save_safetensors(path, {{"", at::zeros({1})}}); }, ErrorCode::InvalidArgument,
                               "empty name"));
  EXPECT_TRUE(throws_spo_error([&] { save_safetensors(path, {{"a", at::zeros({1})}, {"a", at::zeros({2})}}); },
                               ErrorCode::InvalidArgument, "'a' is given twice"));
  EXPECT_TRUE(throws_spo_error([&] { save_safetensors(path, {{"d", at::zeros({1}, at::kDouble)}}); },
                               ErrorCode::Unsupported, "'d' has dtype Double"));
  EXPECT_TRUE(throws_spo_error([&] { save_safetensors(path, {{"u", at::Tensor()}}); }, ErrorCode::InvalidArgument,
                               "undefined"));
  EXPECT_TRUE(throws_spo_error([&] { save_safetensors(dir.file("no/such/dir/x.safetensors"), {{"a", at::zeros({1})}}); },
                               ErrorCode::NotFound, "no/such/dir"));
  // Renaming over a directory fails after the data was written: the temp file must go.
  std::filesystem::create_directory(dir.file("taken"));
  EXPECT_TRUE(throws_spo_error([&] { save_safetensors(dir.file("taken"), {{"a", at::zeros({1})}}); },
                               ErrorCode::InvalidArgument, "rename failed"));
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) left.push_back(entry.path().filename());
  EXPECT_EQ(left, std::vector<std::string>{"taken"});
}

struct MalformedCase {
  const char* label;
  std::string bytes;
  ErrorCode code;
  const char* message_part;
};

std::string tensor_json(const std::string& name, const std::string& dtype, const std::string& shape,
                        const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

std::vector<MalformedCase> malformed_cases() {
  const auto one = [](const std::string& body) { return safetensors_bytes("{" + body + "}"); };
  const auto invalid = ErrorCode::InvalidArgument;
  std::string deep = R"({"a":{"dtype":"F32","shape":)" + std::string(100000, '[') + std::string(100000, ']') + "}}";
  return {
      {"empty file", "", invalid, "0 bytes"},
      {"7-byte file", std::string(7, '\x01'), invalid, "7 bytes"},
      {"header longer than the file", safetensors_bytes("{}", "", 100), invalid, "exceeds"},
      {"header length 2^63", safetensors_bytes("{}", "", uint64_t{1} << 63), invalid, "exceeds"},
      {"header not JSON", safetensors_bytes("{this is not json}"), invalid, "not valid JSON"},
      {"header a JSON array", safetensors_bytes("[1, 2, 3]"), invalid, "must be a JSON object"},
      {"tensor not an object", one(R"("a":[1])"), invalid, "'a' is not described by a JSON object"},
      {"missing dtype", one(R"("a":{"shape":[1],"data_offsets":[0,4]})"), invalid, "'a' has no dtype"},
      {"missing shape", one(R"("a":{"dtype":"F32","data_offsets":[0,4]})"), invalid, "'a' has no shape"},
      {"missing data_offsets", one(R"("a":{"dtype":"F32","shape":[1]})"), invalid, "'a' has no data_offsets"},
      {"dtype not a string", one(R"("a":{"dtype":7,"shape":[1],"data_offsets":[0,4]})"), invalid, "dtype must be"},
      {"shape not an array", one(tensor_json("a", "F32", "3", "[0,12]")), invalid, "shape must be an array"},
      {"negative shape", one(tensor_json("a", "F32", "[-1]", "[0,4]")), invalid, "non-negative integers"},
      {"fractional shape", one(tensor_json("a", "F32", "[1.5]", "[0,4]")), invalid, "non-negative integers"},
      {"shape product overflows int64", one(tensor_json("a", "F32", "[4294967296,4294967296]", "[0,4]")), invalid,
       "more elements than fit in int64"},
      {"shape entry over int64", one(tensor_json("a", "F32", "[18446744073709551615]", "[0,4]")), invalid, "int64"},
      {"byte size overflows", one(tensor_json("a", "I64", "[4611686018427387904]", "[0,4]")), invalid, "too large"},
      {"offsets past the end", one(tensor_json("a", "F32", "[32]", "[0,128]")), invalid, "truncated"},
      {"begin after end", one(tensor_json("a", "F32", "[1]", "[8,4]")), invalid, "is after end"},
      {"negative offset", one(tensor_json("a", "F32", "[1]", "[-4,0]")), invalid, "non-negative"},
      {"offsets not a pair", one(tensor_json("a", "F32", "[1]", "[0]")), invalid, "[begin, end]"},
      {"size mismatch", one(tensor_json("a", "F32", "[3]", "[0,8]")), invalid, "needs 12 bytes"},
      {"overlapping tensors",
       one(tensor_json("a", "F32", "[2]", "[0,8]") + "," + tensor_json("b", "F32", "[2]", "[4,12]")), invalid,
       "overlap"},
      {"duplicate tensor names",
       one(tensor_json("a", "F32", "[1]", "[0,4]") + "," + tensor_json("a", "F32", "[1]", "[4,8]")), invalid,
       "'a' appears twice"},
      {"unsupported dtype", one(tensor_json("ids", "I32", "[2]", "[0,8]")), ErrorCode::Unsupported,
       "'ids' has dtype I32"},
      {"unknown dtype", one(tensor_json("a", "F33", "[1]", "[0,4]")), invalid, "unknown dtype 'F33'"},
      {"metadata with a non-string value", one(R"("__metadata__":{"epochs":10})"), invalid, "'epochs' must be a string"},
      {"metadata not an object", one(R"("__metadata__":"x")"), invalid, "__metadata__ must be an object"},
      {"absurd nesting", safetensors_bytes(deep), invalid, "nests deeper"},
  };
}

TEST(SafeTensorsRead, RefusesMalformedFiles) {
  ScratchDir dir;
  for (const auto& c : malformed_cases()) {
    SCOPED_TRACE(c.label);
    const std::string path = dir.file("case.safetensors");
    write_bytes(path, c.bytes);
    EXPECT_TRUE(throws_spo_error([&] { SafeTensorsFile::open(path); }, c.code, c.message_part));
    EXPECT_TRUE(throws_spo_error([&] { SafeTensorsFile::open(path); }, c.code, path)) << "message must name the file";
  }
}

TEST(SafeTensorsRead, RefusesDirectoriesAndMissingFiles) {
  ScratchDir dir;
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  EXPECT_TRUE(throws_spo_error([&] { SafeTensorsFile::open(dir.file("fifo")); }, ErrorCode::InvalidArgument,
                               "not a regular file"));
  EXPECT_TRUE(throws_spo_error([&] { SafeTensorsFile::open(dir.path()); }, ErrorCode::InvalidArgument,
                               dir.path() + " is a directory"));
  EXPECT_TRUE(throws_spo_error([&] { SafeTensorsFile::open(dir.file("absent.safetensors")); }, ErrorCode::NotFound,
                               dir.file("absent.safetensors")));
}

TEST(SafeTensorsRead, EveryTruncationOfAValidFileIsRefused) {
  ScratchDir dir;
  const std::string valid = dir.file("valid.safetensors");
  save_safetensors(valid, {{"w", at::arange(10, at::kFloat)}, {"b", at::ones({3}, at::kHalf)}});
  const std::string bytes = read_bytes(valid);
  const std::string cut = dir.file("cut.safetensors");
  for (size_t length = 0; length < bytes.size(); ++length) {
    SCOPED_TRACE(length);
    write_bytes(cut, bytes.substr(0, length));
    EXPECT_TRUE(throws_spo_error([&] { SafeTensorsFile::open(cut); }, ErrorCode::InvalidArgument, cut));
  }
  write_bytes(cut, bytes.substr(0, bytes.size() - 3));  // cut inside the data section
  EXPECT_TRUE(throws_spo_error([&] { SafeTensorsFile::open(cut); }, ErrorCode::InvalidArgument, "truncated"));
}

TEST(SafeTensorsRead, CorruptedHeaderBytesNeverEscapeAsOtherErrors) {
  ScratchDir dir;
  const std::string valid = dir.file("valid.safetensors");
  save_safetensors(valid, {{"w", at::arange(4, at::kFloat)}}, {{"k", "v"}});
  const std::string bytes = read_bytes(valid);
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  const std::string path = dir.file("flipped.safetensors");
  for (size_t i = 0; i < 8 + header_length; ++i) {
    for (unsigned char value : {0x00, 0x22, 0x2d, 0x39, 0x7b, 0xff}) {
      std::string corrupted = bytes;
      corrupted[i] = static_cast<char>(value);
      write_bytes(path, corrupted);
      try {
        auto file = SafeTensorsFile::open(path);
        for (const auto& entry : file->entries()) file->tensor(entry.name);
      } catch (const Error&) {
        // refused cleanly
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << i << " = " << int(value) << ": non-spo exception " << e.what();
      }
    }
  }
}

TEST(SafeTensorsPickleRefusal, NamesTheConversionCommand) {
  for (const std::string path : {"/m/unet/diffusion_pytorch_model.bin", "/m/sd.ckpt", "/m/x.PT", "a.pth", "b.pkl"}) {
    SCOPED_TRACE(path);
    EXPECT_TRUE(throws_spo_error([&] { refuse_pickle(path); }, ErrorCode::Unsupported, "weights_only=True"));
    EXPECT_TRUE(throws_spo_error([&] { refuse_pickle(path); }, ErrorCode::Unsupported, path));
  }
  EXPECT_TRUE(throws_spo_error([] { refuse_pickle("/m/text_encoder/pytorch_model.bin"); }, ErrorCode::Unsupported,
                               "'/m/text_encoder/model.safetensors'"));
  EXPECT_TRUE(throws_spo_error([] { refuse_pickle("/m/unet/diffusion_pytorch_model.bin"); }, ErrorCode::Unsupported,
                               "'/m/unet/diffusion_pytorch_model.safetensors'"));
  EXPECT_NO_THROW(refuse_pickle("/m/unet/diffusion_pytorch_model.safetensors"));
  EXPECT_NO_THROW(refuse_pickle("/m/unet/config.json"));
}

}  // namespace
}  // namespace spo::io
